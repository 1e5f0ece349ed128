"""``streamer publish --nats URL``: simulate a market and publish every tick to JetStream.

The publisher runs the market's clock as a server does (the same :class:`~streamer.hub.Hub`,
with no connections) and hands each instant's ticks to JetStream, each carrying its message id
(:func:`streamer.bus.msg_id`). Two publishers of one market publish the same messages under the
same ids and JetStream keeps one of each, so either may be killed at any moment without a tick
going missing. A publish the bus refused, or did not acknowledge within :data:`ACK_TIMEOUT`, is
sent again (the id makes that safe) until it is.

Each tick is a plain publish whose reply subject is one of the publisher's own
(``<inbox>.<n>``), all answered to one subscription: JetStream's acknowledgement of every
message, at less than half the cost of the client library's asynchronous publish (a future,
a random token and a parsed reply per message).

A publisher that starts after every other was down first publishes what the bus missed
since its newest tick of each symbol (:meth:`Publisher.backfill`). Before any of that the
publisher agrees on the market with the bus: the definition already
in the ``MARKET`` bucket wins, one named on the command line must be the same (or replace it
with ``--replace-market``), and with neither the demo market is put there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
import nats.js.errors
import numpy as np
import orjson
from nats.js import api

from simulation import Market, MarketError
from streamer import bus
from streamer.hub import Hub, Stream

logger = logging.getLogger("streamer.publisher")

#: ``(subject, payload, message id)`` of one tick on the bus.
Message = tuple[str, bytes, str]

#: Publishes awaiting the bus's acknowledgement before the publisher waits for some.
MAX_PENDING = 20_000
#: Publishes between two turns of the event loop, in which the client writes them: the bus
#: has an instant's first ticks while the publisher still makes the rest, so a gateway reads
#: them meanwhile (without it, an instant of 1,000 ticks left in one burst, 10 ms late).
WRITE_EVERY = 100
#: Seconds after which a publish the bus has not acknowledged is sent again.
ACK_TIMEOUT = 5.0
#: Ticks of each symbol a starting publisher publishes again when the bus is missing them.
BACKFILL = 1_000
#: Seconds a stopping publisher waits for the bus to acknowledge what it sent.
DRAIN_SECONDS = 5.0
#: Seconds between two lines of the publisher's progress in the log.
REPORT_EVERY = 10.0


@dataclass
class Counts:
    """What the publisher did, for its log and its tests."""

    published: int = 0
    """Ticks the bus acknowledged as new."""
    duplicates: int = 0
    """Ticks the bus already had (another publisher's, or a retry's)."""
    retried: int = 0
    """Publishes sent again after a failure."""
    failures: dict[str, int] = field(default_factory=dict)


async def ensure_stream(js: Any, retention: int, replicas: int) -> api.StreamInfo:
    """The ``TICKS`` stream, created with these limits if it does not exist yet (an existing
    one keeps its own: change them with the ``nats`` tool or by deleting the stream)."""
    try:
        info: api.StreamInfo = await js.stream_info(bus.STREAM)
        return info
    except nats.js.errors.NotFoundError:
        pass
    config = api.StreamConfig(
        name=bus.STREAM, subjects=[bus.SUBJECTS], max_msgs_per_subject=retention,
        duplicate_window=bus.DUPLICATE_WINDOW, storage=api.StorageType.FILE,
        num_replicas=replicas, allow_direct=True, discard=api.DiscardPolicy.OLD)
    try:
        info = await js.add_stream(config)
    except nats.js.errors.BadRequestError as exc:  # another publisher made it meanwhile?
        try:
            info = await js.stream_info(bus.STREAM)
        except nats.js.errors.NotFoundError:
            raise exc from None  # no: the bus refused this stream (say, replicas > nodes)
    return info


async def agree_market(js: Any, proposed: Market | None, fallback: Market, *,
                       replace: bool, replicas: int, now: float) -> Market:
    """The market every process of the bus uses; see the module's text."""
    try:
        kv = await js.key_value(bus.MARKET_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        kv = await js.create_key_value(bucket=bus.MARKET_BUCKET, history=1,
                                       replicas=replicas)
    for _ in range(3):
        try:
            entry = await kv.get(bus.MARKET_KEY)
        except nats.js.errors.KeyNotFoundError:
            chosen = proposed or fallback
            try:
                await kv.create(bus.MARKET_KEY, bus.encode_market(chosen))
                logger.info("put the market on the bus: %d symbols", len(chosen.symbols))
                return chosen
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # another publisher put one first: read it
        assert entry.value is not None
        theirs = bus.decode_market(entry.value, now)
        if proposed is None:
            return theirs
        different = bus.difference(proposed, theirs)
        if different is None:
            return theirs
        if not replace:
            raise MarketError(f"the bus already has another market ({different}); start with "
                              "that one (leave out --market) or replace it with "
                              "--replace-market")
        await kv.put(bus.MARKET_KEY, bus.encode_market(proposed))
        logger.warning("replaced the market on the bus (%s)", different)
        return proposed
    raise MarketError("could not agree on a market with the bus")


class Publisher:
    """One market's clock, publishing every tick of its symbols."""

    def __init__(self, nc: Any, market: Market, now: float) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.hub = Hub(market, now, ring=BACKFILL)
        self.hub.listener = self._collect
        self.counts = Counts()
        self._outbox: deque[Message] = deque()
        self._again: deque[Message] = deque()
        """Publishes to send again, in the order they were first sent, before the outbox."""
        self._unacked: dict[int, tuple[float, Message]] = {}
        """``n -> (sent at, message)`` of the publishes awaiting their acknowledgement on
        ``<inbox>.<n>``, oldest first."""
        self._inbox = nc.new_inbox()
        self._ids: dict[str, tuple[str, str]] = {}
        """``symbol -> (subject, message id without its seq)``."""
        self._acks: Any = None
        self._sent = 0
        self._room = asyncio.Event()
        self._room.set()
        self._stopping = asyncio.Event()

    def _collect(self, streams: list[Stream], seqs: np.ndarray, prices: np.ndarray,
                 times: np.ndarray, vols: np.ndarray | None) -> None:
        """One instant's ticks of the market's symbols into the outbox, as the bus carries
        them (a NaN vol: none)."""
        symbols = [stream.symbol or "" for stream in streams]
        payloads = bus.encode_ticks(symbols, [stream.t0 for stream in streams], seqs, prices,
                                    times, vols)
        ids = self._ids
        for symbol, stream, seq, payload in zip(symbols, streams, seqs.tolist(), payloads):
            head = ids.get(symbol)
            if head is None:
                head = ids[symbol] = (bus.subject(symbol), bus.msg_id_head(symbol, stream.t0))
            self._outbox.append((head[0], payload, head[1] + str(seq)))

    def stop(self) -> None:
        self._stopping.set()

    async def backfill(self) -> int:
        """Publish the ticks the bus is missing since its newest one of each symbol, up to
        :data:`BACKFILL` back (every publisher was down a while): the bus then has no hole a
        gateway would have to fill. Return how many were queued."""
        queued = 0
        for stream in self.hub.symbols:
            symbol = stream.symbol
            assert symbol is not None
            try:
                last = await self.js.get_last_msg(bus.STREAM, bus.subject(symbol), direct=True)
                newest = bus.decode_tick(last.subject, last.data).seq
            except (nats.js.errors.NotFoundError, bus.BusError):
                continue  # a symbol new to the bus starts where it is now
            seq = self.hub.current(stream)[0]
            first = max(newest + 1, self.hub.oldest_kept(stream))
            if first > seq:
                continue
            seqs = np.arange(first, seq + 1)
            self._collect([stream] * len(seqs), seqs, self.hub.recent(stream, first, seq),
                          self.hub.recent_times(stream, first, seq),
                          self.hub.recent_vols(stream, first, seq))
            queued += len(seqs)
        if queued:
            logger.info("the bus missed %d ticks since its newest ones: publishing them",
                        queued)
        return queued

    async def run(self, until: float | None = None) -> None:
        """Publish until :meth:`stop` (or the wall-clock instant ``until``), then wait for the
        bus to acknowledge what was sent."""
        if self._acks is None:
            self._acks = await self.nc.subscribe(self._inbox + ".*", cb=self._acked)
        reported = time.time()
        while not self._stopping.is_set():
            now = time.time()
            if until is not None and now >= until:
                break
            self.hub.advance(now)
            self._resend_unacked(now)
            await self._send()
            if now - reported >= REPORT_EVERY:
                reported = now
                logger.info("published %d ticks (%d already on the bus, %d sent again)",
                            self.counts.published, self.counts.duplicates, self.counts.retried)
            wait = self.hub.next_due() - time.time()
            if until is not None:
                wait = min(wait, until - time.time())
            if wait > 0:
                try:
                    await asyncio.wait_for(self._stopping.wait(), wait)
                except TimeoutError:
                    pass
        try:
            await asyncio.wait_for(self._drain(), DRAIN_SECONDS)
        except TimeoutError:
            logger.warning("stopped with %d ticks the bus has not acknowledged",
                           len(self._again) + len(self._outbox) + len(self._unacked))
        if self._acks is not None:
            await self._acks.unsubscribe()
            self._acks = None

    async def _drain(self) -> None:
        while self._again or self._outbox or self._unacked:
            self._resend_unacked(time.time())
            await self._send()
            if self._unacked:
                self._room.clear()
                try:
                    await asyncio.wait_for(self._room.wait(), ACK_TIMEOUT)
                except TimeoutError:
                    pass

    async def _send(self) -> None:
        publish = self.nc.publish
        unacked = self._unacked
        prefix = self._inbox + "."
        while self._again or self._outbox:
            if len(unacked) >= MAX_PENDING:
                self._room.clear()
                try:
                    await asyncio.wait_for(self._room.wait(), ACK_TIMEOUT)
                except TimeoutError:  # no answers at all: the oldest go again
                    self._resend_unacked(time.time())
                continue
            queue = self._again or self._outbox
            message = queue.popleft()
            subject, payload, msg_id = message
            number = self._sent
            self._sent = number + 1
            unacked[number] = (time.time(), message)  # before: its answer may come at once
            try:
                await publish(subject, payload, reply=prefix + str(number),
                              headers={bus.MSG_ID: msg_id})
            except nats.errors.Error as exc:  # not connected: keep it for later
                del unacked[number]
                queue.appendleft(message)
                self._count_failure(type(exc).__name__)
                await asyncio.sleep(0.05)
                if self._stopping.is_set():
                    return  # the drain, bounded in time, goes on trying
                continue
            if number % WRITE_EVERY == WRITE_EVERY - 1:
                await asyncio.sleep(0)  # the client's writer sends these now

    async def _acked(self, msg: Any) -> None:
        """The bus's answer to publish ``n`` (the last token of the subject): stored, a
        duplicate, or an error (then it is sent again)."""
        try:
            entry = self._unacked.pop(int(msg.subject.rpartition(".")[2]))
        except (KeyError, ValueError):
            return  # answered already (one taken for lost, then acknowledged late)
        if len(self._unacked) < MAX_PENDING:
            self._room.set()
        try:
            reply = orjson.loads(msg.data) if msg.data else None
        except orjson.JSONDecodeError:
            reply = None
        if not isinstance(reply, dict) or "error" in reply:
            # a status (503: no stream takes the subject) or a refusal: send it again
            why = (f"status {(msg.headers or {}).get(api.Header.STATUS, '?')}"
                   if not msg.data else "refused")
            self._count_failure(why)
            self._retry(entry[1], f"{why}: {msg.data[:200]!r}")
        elif reply.get("duplicate"):
            self.counts.duplicates += 1
        else:
            self.counts.published += 1

    def _resend_unacked(self, now: float) -> None:
        """Send again the publishes not acknowledged within :data:`ACK_TIMEOUT` (the bus
        went away with them, or its answer did)."""
        unacked = self._unacked
        late = []
        for number, (sent, _) in unacked.items():  # oldest first
            if now - sent < ACK_TIMEOUT:
                break
            late.append(number)
        for number in late:
            self._count_failure("no acknowledgement")
            self._retry(unacked.pop(number)[1], "no acknowledgement")

    def _retry(self, message: Message, why: str) -> None:
        self.counts.retried += 1
        self._again.append(message)
        logger.debug("publish of %s failed (%s); sending it again", message[2], why)

    def _count_failure(self, name: str) -> None:
        self.counts.failures[name] = self.counts.failures.get(name, 0) + 1
