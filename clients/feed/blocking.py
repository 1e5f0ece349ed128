"""The blocking client, for scripts and notebooks: a :class:`~clients.feed.Feed` running in an
event loop of its own, in a background thread.

::

    with BlockingFeed("ws://127.0.0.1:8765/ws") as feed:
        for tick in feed.subscribe(symbol="ACME"):
            print(tick.seq, tick.price)

It works where an event loop is already running in the calling thread (Jupyter), because it
never touches that loop. Every call hands a coroutine to the feed's thread and waits for it;
iteration fetches ticks in batches, one thread hop per batch, not per tick. Ctrl-C interrupts
a blocking call and cancels what it was waiting for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from clients.errors import FeedClosed
from clients.feed.aio import Feed, FeedStats, Merge, Subscription
from clients.feed.protocol import Tick, spec_arguments
from wire.commands import StreamSpec

T = TypeVar("T")

#: Ticks fetched from the feed's thread at once by a blocking iterator.
BATCH = 1024


class BlockingFeed:
    """A :class:`~clients.feed.Feed` with blocking methods. Takes the same arguments.

    :meth:`subscribe` returns the same :class:`~clients.feed.Subscription` objects as the
    asyncio feed, already acknowledged, and they are read with ``for``. Call :meth:`close`
    (or use ``with``) to stop the thread.
    """

    def __init__(self, url: str | Sequence[str], **options: Any) -> None:
        self._feed = Feed(url, **options)  # checks the arguments here, in the caller's thread
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="feed-loop",
                                        daemon=True)
        self._closed = False

    @property
    def url(self) -> str:
        return self._feed.url

    # --- lifecycle ----------------------------------------------------------------------------

    def connect(self) -> BlockingFeed:
        """Start the thread and open the connection; raise ConnectError if it fails."""
        if self._closed:
            raise FeedClosed("the feed is closed")
        if not self._thread.is_alive():
            self._thread.start()
        try:
            self._call(self._feed.connect())
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Close the connection and stop the thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            try:
                self._call(self._feed.close())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join()
        self._loop.close()

    def __enter__(self) -> BlockingFeed:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._feed.connected

    @property
    def stats(self) -> FeedStats:
        return self._feed.stats

    # --- operations ---------------------------------------------------------------------------

    @spec_arguments
    def subscribe(self, spec: StreamSpec) -> Subscription:
        """Subscribe (the arguments of :meth:`Feed.subscribe`) and wait for the ack; iterate
        the result with ``for``."""
        return self._call(self._subscribe(spec))

    async def _subscribe(self, spec: StreamSpec) -> Subscription:
        sub = self._feed._subscribe(spec)
        sub._portal = self
        return await sub

    def merge(self, *subscriptions: Subscription, max_queue: int | None = None) -> Merge:
        """Read several subscriptions in one ``for`` loop (see :meth:`Feed.merge`)."""
        merge = self._call(self._merge(subscriptions, max_queue))
        merge._portal = self
        return merge

    async def _merge(self, subscriptions: tuple[Subscription, ...],
                     max_queue: int | None) -> Merge:
        return self._feed.merge(*subscriptions, max_queue=max_queue)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._call(subscription.unsubscribe())

    def ping(self) -> float:
        return self._call(self._feed.ping())

    def symbols(self) -> list[dict[str, Any]]:
        return self._call(self._feed.symbols())

    # --- the thread hop -----------------------------------------------------------------------

    def _call(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        if not self._thread.is_alive():
            raise FeedClosed("the feed is not connected; use 'with BlockingFeed(...)' or "
                             "connect()")
        if threading.current_thread() is self._thread:
            raise RuntimeError("a BlockingFeed method was called from its own event loop")
        future = asyncio.run_coroutine_threadsafe(_run(awaitable), self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no result within {timeout} s") from None
        except BaseException:  # Ctrl-C included: stop what the loop was doing for us
            future.cancel()
            raise

    def _iterate(self, take: Callable[[int], Awaitable[list[Tick] | None]]) -> Iterator[Tick]:
        while True:
            batch = self._call(take(BATCH))
            if batch is None:
                return
            yield from batch


async def _run(awaitable: Awaitable[T]) -> T:
    return await awaitable
