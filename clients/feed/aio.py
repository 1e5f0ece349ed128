"""The asyncio client: :class:`Feed` (one connection, reconnecting), :class:`Subscription`
(one stream's ticks) and :class:`Merge` (several subscriptions read in one loop).

This is the thin I/O layer over :mod:`clients.feed.protocol`: one task reads frames and hands
them to the protocol, one task writes what the protocol queued, and a supervisor reconnects
with jittered exponential backoff. No task per subscription.

Queues and overflow. A subscription read on its own has a queue of at most ``max_queue``
ticks; a merge shares one queue (``max_queue`` per subscription, capped). The connection is
always read. When a queue is full, the subscription whose tick did not fit is paused: the
feed unsubscribes it and, once the application has read the queue down to half, subscribes
it again from the next seq (``fromSeq``), so the ticks in between come back as a replay.
Nothing in the client grows without bound, no subscription holds up another (nor the replies
to operations), and no tick is lost while the server can still replay it. With
``fill_gaps=False`` a tick that does not fit is skipped instead (counted in
``stats.skipped``), as the server conflates for a slow reader.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from clients import pacing
from clients.errors import (ArgumentError, ConnectError, ConnectionLost, FeedClosed, FeedError,
                            ProtocolViolation, TransportError)
from clients.feed import config
from clients.feed.config import Backoff
from clients.feed.protocol import ClientProtocol, Ended, StreamState, Tick, spec_arguments
from clients.feed.transport import Connection, Transport, WebSocketTransport
from wire import commands, events
from wire.commands import StreamSpec

logger = logging.getLogger("clients.feed")

_EMPTY: Any = object()

#: Seconds before an operation refused for a passing reason is sent again (jittered down).
RETRY_DELAY = 1.0


class Inbox:
    """A bounded queue of ticks and markers, read by one consumer (a subscription or a merge).

    :meth:`offer` refuses a tick when the queue holds ``maxsize`` items; the protocol then
    pauses that subscription and registers a callback (:meth:`when_drained`) that resumes it
    once the application has read the queue down to half.
    """

    __slots__ = ("_items", "maxsize", "_low", "_getter", "_drained", "_after_drain",
                 "_closed", "_error")

    def __init__(self, maxsize: int, after_drain: Callable[[], None]) -> None:
        self._items: deque[Any] = deque()
        self.maxsize = maxsize
        self._low = maxsize // 2
        self._getter: asyncio.Future[None] | None = None
        self._drained: list[Callable[[], None]] = []
        self._after_drain = after_drain
        self._closed = False
        self._error: BaseException | None = None

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, tick: Tick) -> bool:
        items = self._items
        if len(items) >= self.maxsize:
            return False
        items.append(tick)
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)
        return True

    def put(self, item: Any) -> None:
        self._items.append(item)
        getter, self._getter = self._getter, None
        if getter is not None and not getter.done():
            getter.set_result(None)

    def when_drained(self, callback: Callable[[], None]) -> None:
        self._drained.append(callback)

    def pop(self) -> Any:
        """The next item, or ``_EMPTY``."""
        items = self._items
        if not items:
            return _EMPTY
        item = items.popleft()
        if self._drained and len(items) <= self._low:
            self._drain()
        return item

    def _drain(self) -> None:
        callbacks, self._drained = self._drained, []
        for callback in callbacks:
            callback()
        self._after_drain()

    async def get(self) -> Any:
        """The next item; when closed and drained, raise the close error or
        :class:`StopAsyncIteration`."""
        while True:
            item = self.pop()
            if item is not _EMPTY:
                return item
            if self._closed:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None

    def close(self, error: BaseException | None = None) -> None:
        """No more items: the consumer drains what is queued, then stops (or gets ``error``)."""
        if self._closed:
            return
        self._closed = True
        self._error = error
        self._drained.clear()
        getter, self._getter = self._getter, None
        if getter is not None and not getter.done():
            getter.set_result(None)

    def move_to(self, other: Inbox) -> None:
        """Hand every queued item, and every pending resume, to ``other`` (a merge's queue)."""
        other._items.extend(self._items)
        self._items.clear()
        other._drained.extend(self._drained)
        self._drained.clear()
        self.close()
        if other._drained and len(other._items) <= other._low:
            other._drain()


@dataclass(frozen=True, slots=True)
class SubscriptionStats:
    """What happened to one subscription so far."""

    last_seq: int | None
    """The last seq queued for the application."""
    queued: int
    """Ticks waiting in its queue (a merge's queue for a merged subscription)."""
    overflows: int
    """Times its queue was full: it was paused, then resumed from the next seq."""
    resumes: int
    """Times it was resumed on a new connection."""
    lagging: int
    """``lagging`` events the server sent for it."""
    refetches: int
    """Gaps fetched back with ``fromSeq`` on the same connection."""
    duplicates: int
    """Ticks dropped because their seq was already delivered."""
    skipped: int
    """Ticks skipped because ``fill_gaps`` is off."""
    lost: int
    """Ticks the server could no longer replay (reported as TicksLost)."""
    restarts: int
    """Times the stream started over (reported as StreamRestarted)."""


class Subscription:
    """One stream's ticks. Returned by :meth:`Feed.subscribe`; it is at once

    * awaitable: ``sub = await feed.subscribe(...)`` waits for the server's ack, so
      :attr:`t0`, :attr:`params` and :attr:`seed` are known, and raises a
      :class:`~clients.errors.ServerError` if the server refused it;
    * an async iterator of :class:`~clients.feed.Tick`: the stream's current tick (or its
      ``history``) first, then every seq once, in order, across reconnections; it stops at the
      end of a finite stream or after :meth:`unsubscribe`;
    * an async context manager that unsubscribes on exit.
    """

    def __init__(self, feed: Feed, spec: StreamSpec, inbox: Inbox) -> None:
        self._feed = feed
        self._inbox = inbox
        self._state = StreamState(spec, self, inbox)
        self._ready: asyncio.Future[None] | None = None
        self._error: FeedError | None = None
        self._acked_ok = False
        self._done = False
        self._merge: Merge | None = None
        self._portal: Any = None
        """Set by :class:`~clients.feed.BlockingFeed` to allow ``for tick in sub``."""

    # --- what it is ---------------------------------------------------------------------------

    @property
    def spec(self) -> StreamSpec:
        """What was asked for."""
        return self._state.spec

    @property
    def symbol(self) -> str | None:
        """The market symbol, or ``None`` for a private stream."""
        return self._state.symbol

    @property
    def params(self) -> dict[str, Any] | None:
        """The effective parameters from the server's ack (seed included), once acked."""
        return self._state.params

    @property
    def seed(self) -> int | None:
        params = self._state.params
        return params["seed"] if params else self._state.spec.seed

    @property
    def t0(self) -> float | None:
        """The instant of seq 0 (epoch seconds), once acked."""
        return self._state.t0

    @property
    def stats(self) -> SubscriptionStats:
        s = self._state
        return SubscriptionStats(
            last_seq=None if s.expected is None else s.expected - 1, queued=len(self._inbox),
            overflows=s.overflows, resumes=s.resumes, lagging=s.lagging, refetches=s.refetches,
            duplicates=s.duplicates, skipped=s.skipped, lost=s.lost, restarts=s.restarts)

    def __repr__(self) -> str:
        return f"<Subscription {self._state.spec.describe()}>"

    # --- the ack ------------------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Subscription]:
        return self._wait_acked().__await__()

    async def _wait_acked(self) -> Subscription:
        if self._error is not None:
            raise self._error
        if not self._acked_ok:
            if self._ready is None:
                self._ready = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._ready)
            if self._error is not None:
                raise self._error
        return self

    def _acked(self) -> None:
        self._acked_ok = True
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def _failed(self, exc: FeedError) -> None:
        if self._acked_ok:
            return  # the ack came; later errors go through the queue
        self._error = exc
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    # --- ticks --------------------------------------------------------------------------------

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Tick:
        if self._merge is not None:
            raise RuntimeError(f"{self} is read through a merge; iterate the merge")
        if self._done:
            raise StopAsyncIteration
        inbox = self._inbox
        item = inbox.pop()
        if item is _EMPTY:
            item = await inbox.get()
        if type(item) is Tick:
            return item
        return self._control(item)

    def _control(self, item: Any) -> Tick:
        if type(item) is Ended:
            self._done = True
            raise StopAsyncIteration
        raise item

    async def _take(self, limit: int) -> list[Tick] | None:
        return await _take(self, self._inbox, limit)

    def __iter__(self):  # type: ignore[no-untyped-def]
        if self._portal is None:
            raise TypeError("a Subscription of an asyncio Feed is read with 'async for'; "
                            "'for' works with BlockingFeed")
        return self._portal._iterate(self._take)

    @property
    def pending(self) -> int:
        """Ticks queued and not yet read."""
        return len(self._inbox)

    # --- the end ------------------------------------------------------------------------------

    async def unsubscribe(self) -> None:
        """Stop the subscription: ticks already queued are still delivered, then iteration
        stops. Waits for the server's reply (at most the feed's ``reply_timeout``)."""
        await self._feed._unsubscribe(self)

    async def __aenter__(self) -> Subscription:
        return await self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.unsubscribe()


class Merge:
    """Several subscriptions read in one loop, in the order their ticks arrived; each tick's
    ``sub`` says which. Iteration stops when every subscription has ended; a subscription's
    error is raised once, and iterating again goes on with the others."""

    def __init__(self, subs: tuple[Subscription, ...], inbox: Inbox) -> None:
        self.subscriptions = subs
        self._inbox = inbox
        self._live = set(subs)
        self._portal: Any = None

    def __aiter__(self) -> Merge:
        return self

    async def __anext__(self) -> Tick:
        inbox = self._inbox
        while True:
            if not self._live:
                raise StopAsyncIteration
            item = inbox.pop()
            if item is _EMPTY:
                item = await inbox.get()
            if type(item) is Tick:
                return item
            if type(item) is Ended:
                self._live.discard(item.sub)
                continue
            raise item

    @property
    def pending(self) -> int:
        """Ticks queued and not yet read."""
        return len(self._inbox)

    async def _take(self, limit: int) -> list[Tick] | None:
        return await _take(self, self._inbox, limit)

    def __iter__(self):  # type: ignore[no-untyped-def]
        if self._portal is None:
            raise TypeError("a Merge of an asyncio Feed is read with 'async for'")
        return self._portal._iterate(self._take)


async def _take(source: Subscription | Merge, inbox: Inbox, limit: int) -> list[Tick] | None:
    """Up to ``limit`` ticks of ``source``, waiting for the first; ``None`` at its end. For the
    blocking form, which pays one thread hop per batch instead of one per tick."""
    try:
        first = await source.__anext__()
    except StopAsyncIteration:
        return None
    batch = [first]
    while len(batch) < limit:
        item = inbox.pop()
        if item is _EMPTY:
            break
        if type(item) is not Tick:
            inbox._items.appendleft(item)  # a marker or an error: the next call handles it
            break
        batch.append(item)
    return batch


@dataclass(frozen=True, slots=True)
class FeedStats:
    """What happened to a feed so far."""

    connected: bool
    connects: int
    """Connections opened (the first one included)."""
    disconnects: int
    frames: int
    """Frames received from the server."""
    subscriptions: int
    """Live subscriptions."""
    in_flight: int
    """Operations sent (or waiting for their turn) and not yet answered."""


class Feed:
    """A connection to a tick streamer that reconnects and resumes by itself.

    ::

        async with Feed("ws://127.0.0.1:8765/ws") as feed:
            async for tick in feed.subscribe(symbol="ACME"):
                print(tick.seq, tick.price, tick.time)

    ``url`` may be a list of servers of one market (gateways of the bus, or servers started
    with the same market): the feed connects to the first that answers, and when a
    connection is lost it moves to the next at once, resuming every subscription there
    without a gap (the market's seq numbers are the same on every one of them); once each
    has been tried, it waits as ``reconnect`` says before going round again.

    Arguments (keyword-only, defaults in :mod:`clients.feed.config`):

    * ``reconnect``: a :class:`Backoff`, ``True`` for the default one, or ``False`` to end
      every subscription with :class:`~clients.errors.ConnectionLost` when the connection
      drops. The first connection is not retried: :meth:`connect` raises
      :class:`~clients.errors.ConnectError` at once.
    * ``fill_gaps`` (default ``True``): when the server conflates ticks for a slow reader
      (``lagging``), fetch them back with ``fromSeq`` so every seq is delivered. ``False``
      delivers the jump as it came and counts it in ``Subscription.stats.skipped``.
    * ``max_queue``: ticks a subscription's queue holds; a tick that does not fit pauses the
      subscription until the application has read half, then it resumes from that tick.
    * ``open_timeout``, ``close_timeout``, ``ping_interval``, ``ping_timeout`` (s),
      ``max_frame_bytes``: passed to ``websockets``; ``token`` is sent as a bearer token.
    * ``reply_timeout``: seconds to wait for the reply to ``ping``, ``symbols`` and
      ``unsubscribe``.
    * ``max_ops_per_second``, ``ops_burst``: the pace of operations sent (subscribes,
      resumes, refetches), a little under the server's default rate limit so that a feed with
      many subscriptions is never refused; ``None`` sends at once. An operation refused with
      ``rate_limited`` anyway is sent again about a second later.
    * ``transport``: opens connections; tests pass a fake one.
    """

    def __init__(self, url: str | Sequence[str], *, reconnect: Backoff | bool = True,
                 fill_gaps: bool = True,
                 max_queue: int = config.DEFAULT_MAX_QUEUE,
                 open_timeout: float | None = config.DEFAULT_OPEN_TIMEOUT,
                 close_timeout: float | None = config.DEFAULT_CLOSE_TIMEOUT,
                 ping_interval: float | None = config.DEFAULT_PING_INTERVAL,
                 ping_timeout: float | None = config.DEFAULT_PING_TIMEOUT,
                 max_frame_bytes: int | None = config.DEFAULT_MAX_FRAME_BYTES,
                 reply_timeout: float = config.DEFAULT_REPLY_TIMEOUT,
                 max_ops_per_second: float | None = config.DEFAULT_MAX_OPS_PER_SECOND,
                 ops_burst: int = config.DEFAULT_OPS_BURST,
                 token: str | None = None, transport: Transport | None = None,
                 rng: random.Random | None = None) -> None:
        urls = [url] if isinstance(url, str) else list(url) if isinstance(url, Sequence) else [url]
        if not urls:
            raise ArgumentError("url", "url must name at least one server, got an empty list")
        for one in urls:
            if not isinstance(one, str) or not one.startswith(("ws://", "wss://")):
                raise ArgumentError("url", f"url must be a ws:// or wss:// URL, got {one!r}")
        if reconnect is True:
            reconnect = Backoff()
        if reconnect is not False and not isinstance(reconnect, Backoff):
            raise ArgumentError("reconnect", f"reconnect must be a Backoff, True or False, got "
                                f"{reconnect!r}")
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ArgumentError("max_queue", f"max_queue must be an integer >= 1, got "
                                f"{max_queue!r}")
        if not isinstance(reply_timeout, (int, float)) or not reply_timeout > 0:
            raise ArgumentError("reply_timeout", f"reply_timeout must be a number of seconds "
                                f"> 0, got {reply_timeout!r}")
        if max_ops_per_second is not None and (
                isinstance(max_ops_per_second, bool)
                or not isinstance(max_ops_per_second, (int, float))
                or not max_ops_per_second > 0):
            raise ArgumentError("max_ops_per_second", f"max_ops_per_second must be a number > 0 "
                                f"or None, got {max_ops_per_second!r}")
        if isinstance(ops_burst, bool) or not isinstance(ops_burst, int) or ops_burst < 1:
            raise ArgumentError("ops_burst", f"ops_burst must be an integer >= 1, got "
                                f"{ops_burst!r}")
        self.urls: tuple[str, ...] = tuple(urls)
        """The servers this feed uses, in the order it tries them."""
        self._at = 0
        """The index of :attr:`url` in :attr:`urls`."""
        self._ops_rate = None if max_ops_per_second is None else float(max_ops_per_second)
        self._ops_burst = ops_burst
        self._backoff: Backoff | None = reconnect or None
        self._max_queue = max_queue
        self._reply_timeout = float(reply_timeout)
        self._transport: Transport = transport or WebSocketTransport(
            open_timeout=open_timeout, close_timeout=close_timeout,
            ping_interval=ping_interval, ping_timeout=ping_timeout,
            max_frame_bytes=max_frame_bytes, token=token)
        self._rng = rng or random.Random()
        self._protocol = ClientProtocol(fill_gaps=fill_gaps)
        # weak: the protocol holds live subscriptions; ended ones live as long as the app keeps
        # them, and the feed only needs them to end their iterators when it closes
        self._subs: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._merges: weakref.WeakSet[Merge] = weakref.WeakSet()
        self._wake_writer = asyncio.Event()
        self._up = asyncio.Event()
        self._demand = asyncio.Event()
        self._conn: Connection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._failure: FeedError | None = None
        self._got_frame = False
        self._connects = 0
        self._disconnects = 0

    # --- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> Feed:
        """Open the first connection; raise :class:`~clients.errors.ConnectError` if it fails."""
        if self._closed:
            raise FeedClosed("the feed is closed")
        if self._supervisor is not None:
            return self
        failures = []
        for at, url in enumerate(self.urls):
            try:
                conn = await self._transport.connect(url)
            except ConnectError as exc:
                failures.append(exc)
                continue
            except (OSError, TimeoutError, TransportError) as exc:
                failures.append(ConnectError(f"cannot connect to {url}: {_reason(exc)}"))
                continue
            self._at = at
            break
        else:
            if len(failures) == 1:
                raise failures[0]
            raise ConnectError("cannot connect to any of " + "; ".join(map(str, failures)))
        self._supervisor = asyncio.create_task(self._supervise(conn), name="feed-supervisor")
        return self

    @property
    def url(self) -> str:
        """The server the feed is connected to (or was last)."""
        return self.urls[self._at]

    async def close(self) -> None:
        """Close the connection (code 1000) and end every subscription; idempotent. Ticks
        already queued are still delivered, then iterators stop."""
        if self._closed:
            return
        self._closed = True
        closed = FeedClosed("the feed is closed")
        supervisor, self._supervisor = self._supervisor, None
        conn = self._conn
        if supervisor is not None:
            supervisor.cancel()
            try:
                await supervisor
            except asyncio.CancelledError:
                pass
        if conn is not None:
            try:
                await conn.close()
            except (OSError, FeedError):
                pass
        self._protocol.connection_lost(closed)
        self._end_everything(closed, error=None)

    async def __aenter__(self) -> Feed:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._protocol.connected

    @property
    def stats(self) -> FeedStats:
        return FeedStats(connected=self.connected, connects=self._connects,
                         disconnects=self._disconnects, frames=self._protocol.frames,
                         subscriptions=len(self._protocol.states), in_flight=self._protocol.in_flight)

    # --- subscriptions ------------------------------------------------------------------------

    @spec_arguments
    def subscribe(self, spec: StreamSpec) -> Subscription:
        """Subscribe to a market ``symbol``, or to a private stream with its own parameters
        (every one optional; the server picks a seed when none is given).

        ``history`` starts with the last ``history`` ticks; ``t0`` with ``seed`` (private) or
        ``symbol``, plus ``from_seq``, resumes a stream seen before (for instance by another
        process). A bad argument raises :class:`~clients.errors.ArgumentError` before
        anything is sent. The subscribe is sent at once (or on the next connection); await the
        result to wait for the server's ack.
        """
        return self._subscribe(spec)

    def _subscribe(self, spec: StreamSpec) -> Subscription:
        self._check_usable()
        sub = Subscription(self, spec, Inbox(self._max_queue, self._wake_writer.set))
        self._subs.add(sub)
        self._protocol.add(sub._state)
        self._wake_writer.set()
        self._demand.set()
        return sub

    def merge(self, *subscriptions: Subscription, max_queue: int | None = None) -> Merge:
        """Read several subscriptions of this feed in one loop, in arrival order. Ticks they
        queued so far come first. A subscription joins at most one merge, for good. The
        merge's queue holds ``max_queue`` ticks; by default the feed's ``max_queue`` per
        subscription, at most ``DEFAULT_MAX_MERGE_QUEUE``."""
        if not subscriptions:
            raise ArgumentError("subscriptions", "merge needs at least one subscription")
        for sub in subscriptions:
            if not isinstance(sub, Subscription) or sub._feed is not self:
                raise ArgumentError("subscriptions", f"{sub!r} is not a subscription of this "
                                    "feed")
            if sub._merge is not None:
                raise ArgumentError("subscriptions", f"{sub!r} is already in a merge")
        if len(set(subscriptions)) != len(subscriptions):
            raise ArgumentError("subscriptions", "a subscription is given twice")
        size = max_queue
        if size is None:
            size = max(self._max_queue, min(self._max_queue * len(subscriptions),
                                            config.DEFAULT_MAX_MERGE_QUEUE))
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ArgumentError("max_queue", f"max_queue must be an integer >= 1, got {size!r}")
        inbox = Inbox(size, self._wake_writer.set)
        merge = Merge(subscriptions, inbox)
        for sub in subscriptions:
            if sub._done:
                merge._live.discard(sub)
            sub._inbox.move_to(inbox)
            sub._inbox = inbox
            sub._state.sink = inbox
            sub._merge = merge
        if self._closed or self._failure is not None:
            inbox.close(self._failure)
        self._merges.add(merge)
        return merge

    async def _unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        if self._closed or self._failure is not None:
            return
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[Any] = loop.create_future()
        sent = self._protocol.remove(sub._state, _resolve(answered))
        if not sub._acked_ok:
            sub._failed(FeedClosed(f"{sub} was unsubscribed before the server answered"))
        if sent:
            self._wake_writer.set()
            try:  # an error reply (it ended meanwhile) or a timeout changes nothing here
                await asyncio.wait_for(answered, self._reply_timeout)
            except TimeoutError:
                pass

    # --- one-shot operations ------------------------------------------------------------------

    async def ping(self) -> float:
        """Round trip to the server through the protocol's ``ping`` (s)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        await self._request(commands.Ping)
        return loop.time() - start

    async def symbols(self) -> list[dict[str, Any]]:
        """The server's market: one dict per symbol with ``symbol``, ``t0`` and ``params``."""
        reply = await self._request(commands.ListSymbols)
        assert isinstance(reply, events.Symbols)
        return [entry.to_wire() for entry in reply.symbols]

    async def _request(self, command: Callable[[int], commands.Command]) -> events.Event:
        """Send a read-only operation and return its reply; if the connection drops first,
        send it again on the next one. Raises TimeoutError after ``reply_timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._reply_timeout
        while True:
            self._check_usable()
            self._demand.set()
            await asyncio.wait_for(self._up.wait(), max(0.0, deadline - loop.time()))
            answered: asyncio.Future[events.Event | FeedError] = loop.create_future()
            op_id = self._protocol.request(command, _resolve(answered))
            self._wake_writer.set()
            try:
                reply = await asyncio.wait_for(answered, max(0.0, deadline - loop.time()))
            finally:
                self._protocol.forget(op_id)
            if isinstance(reply, ConnectionLost) and not self._closed and not self._failure:
                continue  # the connection dropped before the reply: ask the next one
            if isinstance(reply, FeedError):
                raise reply
            return reply

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise FeedClosed("the feed is closed")

    # --- the connection -----------------------------------------------------------------------

    async def _supervise(self, conn: Connection) -> None:
        """Serve connections one after the other until closed or out of attempts."""
        attempt = 0
        while True:
            lost = await self._serve(conn)
            self._disconnects += 1
            self._protocol.connection_lost(lost)
            if self._backoff is None or lost.final:
                logger.warning("connection to %s lost (%s); not reconnecting", self.url, lost)
                self._fail(lost)
                return
            logger.info("connection to %s lost (%s); reconnecting", self.url, lost)
            if self._got_frame:
                attempt = 0
            if not self._protocol.states:  # nothing to resume: reconnect when asked to
                self._demand.clear()
                await self._demand.wait()
            next_conn = None
            others = len(self.urls) - 1  # tried at once, in turn, before any wait
            while next_conn is None:
                limit = self._backoff.max_attempts
                if limit is not None and attempt >= limit:
                    where = self.url if not others else "any of " + ", ".join(self.urls)
                    error = ConnectError(f"cannot reconnect to {where} after {attempt} "
                                         "attempts", attempts=attempt)
                    logger.error("%s", error)
                    self._fail(error)
                    return
                if others:
                    others -= 1
                else:  # every server tried since the last wait: wait, then go round again
                    others = len(self.urls) - 1
                    await asyncio.sleep(self._backoff.delay(attempt, self._rng))
                self._at = (self._at + 1) % len(self.urls)
                attempt += 1
                try:
                    next_conn = await self._transport.connect(self.url)
                except ConnectError as exc:
                    if exc.status is not None and 400 <= exc.status < 500:
                        exc.attempts = attempt
                        logger.error("%s; not reconnecting", exc)
                        self._fail(exc)
                        return
                    logger.info("reconnect attempt %d failed: %s", attempt, exc)
                except (OSError, TimeoutError, TransportError) as exc:
                    logger.info("reconnect attempt %d failed: %s", attempt, _reason(exc))
            conn = next_conn

    async def _serve(self, conn: Connection) -> ConnectionLost:
        """Read one connection until it ends; return how it ended."""
        protocol = self._protocol
        self._conn = conn
        self._connects += 1
        self._got_frame = False
        protocol.connection_made()
        self._up.set()
        self._wake_writer.set()
        self._writer = asyncio.create_task(self._write(conn), name="feed-writer")
        try:
            while True:
                data = await conn.recv()
                self._got_frame = True
                protocol.receive(data)
                if protocol.outbox:
                    self._wake_writer.set()
                if protocol.retry:
                    self._schedule_retries()
                # recv() returns at once while frames are buffered: let the application read
                # this frame's ticks before the next one is parsed, so queues stay short
                await asyncio.sleep(0)
        except ConnectionLost as exc:
            return exc
        except ProtocolViolation as exc:
            logger.error("closing the connection to %s: %s", self.url, exc)
            try:
                await conn.close()
            except (OSError, FeedError):
                pass
            return ConnectionLost(None, str(exc))
        finally:
            self._up.clear()
            self._conn = None
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.cancel()
                await asyncio.wait({writer})  # never raises, not even the writer's exception

    async def _write(self, conn: Connection) -> None:
        """Send what the protocol queued, in order, at most ``max_ops_per_second`` after a
        burst of ``ops_burst`` (a token bucket, full at each new connection)."""
        wake = self._wake_writer
        outbox = self._protocol.outbox
        ops = None if self._ops_rate is None else pacing.bucket(self._ops_rate, self._ops_burst)
        try:
            while True:
                await wake.wait()
                wake.clear()
                while outbox:
                    if ops is not None:
                        await pacing.take(ops)
                    await conn.send(outbox.popleft())
        except ConnectionLost:
            pass  # the reader sees the end too, and decides what comes next

    def _schedule_retries(self) -> None:
        """Send operations the server refused for a passing reason again after a delay of
        about a second (a rate limit refills in that time). A retry that fires after the
        connection changed does nothing: the new connection resubscribed everything."""
        loop = asyncio.get_running_loop()
        for retry in self._protocol.retry:
            loop.call_later(RETRY_DELAY * (1.0 - 0.5 * self._rng.random()), self._retry, retry)
        self._protocol.retry.clear()

    def _retry(self, retry: Callable[[], None]) -> None:
        retry()
        self._wake_writer.set()

    def _fail(self, error: FeedError) -> None:
        """The feed cannot go on: every subscription and merge ends with ``error``."""
        self._failure = error
        self._protocol.fail(error)
        self._end_everything(error, error=error)

    def _end_everything(self, reason: FeedError, error: FeedError | None) -> None:
        for sub in list(self._subs):
            sub._failed(reason)
            sub._inbox.close(error)
        for merge in list(self._merges):
            merge._inbox.close(error)
        self._subs.clear()


def _resolve(future: asyncio.Future[Any]) -> Callable[[Any], None]:
    """A reply callback that resolves ``future`` with the first reply and ignores later ones."""
    def resolve(reply: Any) -> None:
        if not future.done():
            future.set_result(reply)
    return resolve


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text


async def connect(url: str | Sequence[str], **options: Any) -> Feed:
    """Open a :class:`Feed` (nats-py style: ``feed = await connect(url)``; close it with
    ``await feed.close()``)."""
    return await Feed(url, **options).connect()
