"""``streamer serve --nats URL``: a server whose market comes from the bus.

The gateway reads the market's definition from the bus (so it needs no market file), then
follows every ``ticks.*`` subject with an ordered JetStream consumer: each tick read is handed
to the hub (:meth:`streamer.hub.Hub.feed`), which steps the symbol to it, fills any tick the
bus skipped with its computed bits, and checks the bus's bits against its own. The ticks of
one read of the socket are handed over together, at the end of the event loop's turn.

A third party's symbols (ticks on the bus for symbols the market does not define) are served
as the bus carries them; at its start, the gateway reads the last ticks of each one already on
the bus from the stream (by stream sequence), so a client resuming here with ``fromSeq`` gets
the ticks another gateway sent it last.

When the bus goes away, the connection retries for ever: the symbols stand still (nothing
stale is passed off as fresh), ``/healthz`` says ``"bus": "disconnected"`` with status
``degraded``, and the clients keep their connections. When it is back, the ordered consumer
resumes after the last message it delivered, so the ticks published meanwhile arrive in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import api

from simulation import Market, MarketError
from streamer import bus
from streamer.buslink import connect

logger = logging.getLogger("streamer.gateway")

Ticks = list[bus.BusTick]
#: Seconds between the bus's heartbeats to a gateway's consumer; two missed ones (the bus
#: restarted, the consumer is gone) make it start again after the last message it delivered.
HEARTBEAT = 0.5
#: A third party's symbols whose history a starting gateway reads at once.
HISTORY_READERS = 8
#: Ticks of each of a third party's symbols a starting gateway reads from the bus at most
#: (its ring may hold more, filled as ticks come). About 30 ms a symbol on two cores.
HISTORY_DEPTH = 1_000
#: Seconds a starting gateway waits for one symbol's history before serving without it.
HISTORY_TIMEOUT = 10.0
#: Seconds a starting gateway spends on every symbol's history at most: then it serves.
HISTORY_DEADLINE = 60.0


class Gateway:
    """One server's link to the bus."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        self.urls = list(urls)
        self.nc: Any = None
        self.read = 0
        """Messages read from the bus."""
        self.refused: dict[str, int] = {}
        """Messages that are not ticks (a third party's malformed ones), by subject."""
        self._batch: Ticks = []
        self._deliver: Callable[[Ticks], None] | None = None
        self._scheduled = False
        self._market: frozenset[str] = frozenset()
        self.history: dict[str, int] = {}
        """A third party's symbols whose history was read at the start: ticks kept, by symbol."""

    @property
    def connected(self) -> bool:
        return bool(self.nc is not None and self.nc.is_connected)

    async def open(self, now: float) -> Market:
        """Connect, and read the market the publishers agreed on."""
        try:
            self.nc = await connect(self.urls, "streamer serve")
        except (OSError, nats.errors.NoServersError) as exc:
            raise MarketError(f"cannot reach NATS at {', '.join(self.urls)}: {exc}") from None
        js = self.nc.jetstream()
        try:
            kv = await js.key_value(bus.MARKET_BUCKET)
            entry = await kv.get(bus.MARKET_KEY)
        except nats.js.errors.NotFoundError:
            await self.close()
            raise MarketError(f"the bus at {', '.join(self.urls)} has no market yet: start "
                              "streamer publish --nats there first") from None
        assert entry.value is not None
        market = bus.decode_market(entry.value, now)
        self._market = frozenset(spec.symbol for spec in market.symbols)
        return market

    async def follow(self, deliver: Callable[[Ticks], None],
                     backfill: Callable[[Ticks], int], depth: int) -> None:
        """Hand every tick published from now on to ``deliver``, in order; and the last
        ``depth`` ticks (at most :data:`HISTORY_DEPTH`) of each third party's symbol already
        on the bus to ``backfill``."""
        depth = min(depth, HISTORY_DEPTH)
        self._deliver = deliver
        js = self.nc.jetstream()
        await js.subscribe(bus.SUBJECTS, ordered_consumer=True, cb=self._message,
                           deliver_policy=api.DeliverPolicy.NEW, idle_heartbeat=HEARTBEAT)
        try:
            info = await js.stream_info(bus.STREAM, subjects_filter=bus.SUBJECTS)
        except (TimeoutError, nats.errors.Error) as exc:
            logger.warning("cannot read which symbols the bus has (%s): a third party's "
                           "symbols are served from their next tick, without history", exc)
            return
        subjects = [name for name in info.state.subjects or {}
                    if name.removeprefix(bus.SUBJECT_PREFIX) not in self._market]
        readers = asyncio.Semaphore(HISTORY_READERS)

        async def read(subject: str) -> None:
            async with readers:
                try:
                    ticks = await asyncio.wait_for(self._history(js, subject, depth),
                                                   HISTORY_TIMEOUT)
                except (TimeoutError, nats.errors.Error, bus.BusError) as exc:
                    logger.warning("cannot read the history of %s (%r): it is served from "
                                   "its next tick", subject, exc)
                    return
            self._hand_over()  # the live ticks read meanwhile go first
            self.history[subject.removeprefix(bus.SUBJECT_PREFIX)] = backfill(ticks)
        try:
            await asyncio.wait_for(asyncio.gather(*(read(subject) for subject in subjects)),
                                   HISTORY_DEADLINE)
        except TimeoutError:
            logger.warning("read the history of %d of %d third-party symbols in %g s; the "
                           "others are served from their next tick", len(self.history),
                           len(subjects), HISTORY_DEADLINE)

    async def _history(self, js: Any, subject: str, depth: int) -> Ticks:
        """The last ``depth`` ticks of ``subject`` on the bus (of its newest ``t0``), in
        order: the first is found by a binary search over the stream's sequence (each probe
        one direct get of the subject's next message), the rest read by one consumer."""
        last = await js.get_last_msg(bus.STREAM, subject, direct=True)
        newest = bus.decode_tick(subject, last.data)
        want = newest.seq - depth + 1

        def wanted(tick: bus.BusTick) -> bool:
            return tick.t0 == newest.t0 and tick.seq >= want
        low, high = 1, last.seq  # the first stream sequence whose next message is wanted
        while low < high:
            middle = (low + high) // 2
            probe = await js.get_msg(bus.STREAM, seq=middle, subject=subject, next=True,
                                     direct=True)
            try:
                good = wanted(bus.decode_tick(subject, probe.data))
            except bus.BusError:
                good = False
            if good:
                high = middle
            else:
                low = probe.seq + 1
        ticks: Ticks = []
        done = asyncio.Event()

        async def take(msg: Msg) -> None:
            try:
                ticks.append(bus.decode_tick(subject, msg.data))
            except bus.BusError:
                pass
            if msg.metadata.sequence.stream >= last.seq:
                done.set()
        sub = await js.subscribe(subject, stream=bus.STREAM, ordered_consumer=True, cb=take,
                                 config=api.ConsumerConfig(
                                     deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                     opt_start_seq=high))
        try:
            await done.wait()
        finally:
            await sub.unsubscribe()
        return [tick for tick in ticks if wanted(tick)]

    async def _message(self, msg: Msg) -> None:
        self.read += 1
        try:
            tick = bus.decode_tick(msg.subject, msg.data)
        except bus.BusError as exc:
            count = self.refused.get(msg.subject, 0)
            self.refused[msg.subject] = count + 1
            if not count:  # once per subject: a misbehaving publisher must not flood the log
                logger.warning("ignoring a message on the bus: %s", exc)
            return
        self._batch.append(tick)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._hand_over)

    def _hand_over(self) -> None:
        self._scheduled = False
        batch, self._batch = self._batch, []
        if batch and self._deliver is not None:
            self._deliver(batch)

    def health(self) -> dict[str, Any]:
        return {"bus": "connected" if self.connected else "disconnected",
                "bus_messages": self.read, "bus_refused": sum(self.refused.values()),
                "bus_history": dict(self.history)}

    async def close(self) -> None:
        if self.nc is not None:
            try:
                await asyncio.wait_for(self.nc.close(), 5.0)
            except (TimeoutError, nats.errors.Error):
                pass
            self.nc = None
