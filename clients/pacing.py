"""Keeping under the server's operation rate limit: wait for a token of the protocol's bucket
(:class:`wire.pacing.TokenBucket`). The Python client and the load tester pace their
operations with it."""

from __future__ import annotations

import asyncio

from wire.pacing import TokenBucket


def bucket(rate: float, burst: int) -> TokenBucket:
    """A full bucket on the event loop's clock."""
    return TokenBucket(rate, burst, asyncio.get_running_loop().time())


async def take(bucket: TokenBucket) -> None:
    """Spend one token of ``bucket`` (which runs on the event loop's clock), waiting for it."""
    loop = asyncio.get_running_loop()
    while not bucket.take(loop.time()):
        await asyncio.sleep(bucket.wait(loop.time()))
