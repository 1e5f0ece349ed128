"""The Python client of the tick streamer: live simulated prices for strategy code.

::

    from clients.feed import Feed

    async with Feed("ws://127.0.0.1:8765/ws") as feed:
        async for tick in feed.subscribe(symbol="ACME"):
            print(tick.seq, tick.price, tick.time)

It depends only on the wire contract (the :mod:`wire` package, docs/protocol.md). A feed
reconnects by itself and resumes every subscription with ``t0`` + ``fromSeq``, and fetches
back ticks the server conflated, so strategy code sees every seq once, in order. See
docs/client.md.

Modules, in import order: :mod:`~clients.feed.config` (settings and backoff),
:mod:`~clients.feed.protocol` (the client's state machine, no I/O),
:mod:`~clients.feed.transport` (WebSocket connections), :mod:`~clients.feed.aio` (the asyncio
feed), :mod:`~clients.feed.blocking` (the same in a background thread),
:mod:`~clients.feed.tail` (the ``streamer tail`` printer). Errors: :mod:`clients.errors`.
"""

from clients.feed.aio import Feed, FeedStats, Merge, Subscription, SubscriptionStats, connect
from clients.feed.blocking import BlockingFeed
from clients.feed.config import Backoff
from clients.feed.protocol import Tick
from clients.feed.transport import Connection, Transport, WebSocketTransport
from wire.commands import StreamSpec

__all__ = [
    "Backoff", "BlockingFeed", "Connection", "Feed", "FeedStats", "Merge", "StreamSpec",
    "Subscription", "SubscriptionStats", "Tick", "Transport", "WebSocketTransport", "connect",
]
