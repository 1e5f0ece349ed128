"""One connection's state machine: client messages in, encoded events out, no I/O.

:meth:`Session.receive` takes a client frame and ``now``; every reply (and every tick the hub
produces for this connection) is appended to :attr:`Session.parts`, which the I/O layer
drains into one frame. Bad input becomes an ``error`` event; no exception escapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulation import GBMParams, ParamError
from simulation.params import check_seed, pick_seed, show
from streamer import messages, schedule
from streamer.config import (CATCHUP_STEPS_PER_OP, DEFAULT_DELTA, DEFAULT_INTERVAL, DEFAULT_MU, DEFAULT_SIGMA,
                             DEFAULT_START_PRICE, ServerConfig)
from streamer.errors import ProtocolError
from streamer.hub import Hub, Stream

@dataclass(eq=False, slots=True)
class Subscription:
    sub: int
    stream: Stream


def _id_of(raw: str | bytes | None) -> messages.Id:
    """The ``id`` of a message that will not be carried out, so its refusal can echo it."""
    if raw is None or len(raw) > 1024:
        return None
    try:
        return messages.parse(raw).id
    except ProtocolError as exc:
        return exc.id


class Session:
    """The protocol state of one connection."""

    def __init__(self, hub: Hub, config: ServerConfig, now: float = 0.0) -> None:
        self.hub = hub
        self.config = config
        self.parts: list[str] = []
        self.subs: dict[int, Subscription] = {}
        self._next_sub = 1
        self._tokens = float(config.ops_burst)
        self._refilled = now
        self._refused_in_a_row = 0
        self.close_request: tuple[int, str] | None = None
        """``(code, reason)`` once the connection must be closed (the I/O layer does it)."""
        self.conflating = False
        """True while the connection reads too slowly: ticks wait in :meth:`conflate`."""
        self.lagging_since = 0.0
        self._latest: dict[int, str] = {}
        self._skipped: dict[int, int] = {}
        self._ended: dict[int, str] = {}

    @property
    def has_subscribed(self) -> bool:
        return self._next_sub > 1

    # --- input --------------------------------------------------------------------------------

    def receive(self, raw: str | bytes, now: float) -> None:
        """Handle one text frame from the client."""
        try:
            self._take_token(now, raw)
            limit = self.config.max_message_bytes
            size = len(raw)
            if isinstance(raw, str) and size * 4 > limit:  # UTF-8 is up to 4 bytes a character
                size = len(raw.encode(errors="surrogatepass"))
            if size > limit:
                raise ProtocolError("limit_exceeded", f"message is {size} bytes; the limit "
                                    f"is {limit}")
            self._dispatch(messages.parse(raw), now)
        except ProtocolError as exc:
            self.reject(exc)

    def receive_binary(self, data: bytes, now: float | None = None) -> None:
        """Handle a binary frame, which the protocol does not use."""
        try:
            self._take_token(self._refilled if now is None else now)
            raise ProtocolError("bad_request", f"binary frames are not accepted ({len(data)} "
                                "bytes); send each JSON message as a text frame")
        except ProtocolError as exc:
            self.reject(exc)

    def reject(self, exc: ProtocolError) -> None:
        self.hub.errors[exc.code] += 1
        self._emit(messages.error_event(exc))

    def _take_token(self, now: float, raw: str | bytes | None = None) -> None:
        """A token bucket: ``ops_burst`` operations at once, ``max_ops_per_second`` after."""
        config = self.config
        self._tokens = min(config.ops_burst,
                           self._tokens + (now - self._refilled) * config.max_ops_per_second)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            self._refused_in_a_row = 0
            return
        self._refused_in_a_row += 1
        if self._refused_in_a_row > config.flood_limit:
            self.close_request = (1008, "kept flooding after rate_limited")
        raise ProtocolError("rate_limited", f"more than {config.max_ops_per_second:g} operations "
                            f"a second (burst {config.ops_burst}); this one was not carried out",
                            None, _id_of(raw))

    def _charge(self, cmd: messages.Subscribe, steps: int) -> None:
        """Resuming far back costs extra operations: one per ``CATCHUP_STEPS_PER_OP`` steps."""
        cost = steps // CATCHUP_STEPS_PER_OP
        if cost > self._tokens:
            raise ProtocolError("rate_limited", f"resuming this stream means computing {steps} "
                                f"steps, which costs {cost} operations of the rate limit; "
                                f"{int(self._tokens)} are available now", "t0", cmd.id)
        self._tokens -= cost

    def close(self) -> None:
        """The connection is gone: release every subscription."""
        for subscription in list(self.subs.values()):
            self.hub.detach(subscription.stream, self, subscription.sub)
        self.subs.clear()

    # --- the hub's side -----------------------------------------------------------------------

    def stream_ended(self, sub: int) -> None:
        self.subs.pop(sub, None)

    # --- a slow reader ------------------------------------------------------------------------

    def start_conflating(self, now: float) -> None:
        """The connection's send buffer is full: from now on keep only the newest tick of each
        subscription (the hub calls :meth:`conflate` instead of appending to ``parts``)."""
        self.conflating = True
        self.lagging_since = now

    def conflate(self, sub: int, tick: str) -> None:
        if sub in self._latest:
            self._skipped[sub] = self._skipped.get(sub, 0) + 1
            self.hub.conflated += 1
        self._latest[sub] = tick

    def conflate_end(self, sub: int, end: str) -> None:
        self._ended[sub] = end

    def stop_conflating(self) -> None:
        """The buffer drained: queue, per subscription, ``lagging`` (when ticks were skipped),
        the newest tick and any ``end``, then send ticks as they come again."""
        for sub, tick in self._latest.items():
            skipped = self._skipped.get(sub)
            if skipped:
                seq = int(tick[tick.index('"seq":') + 6:tick.index(',"price"')])
                self._emit({"type": "lagging", "sub": sub, "skipped": skipped, "seq": seq})
            self.parts.append(tick)
        self.parts.extend(self._ended.values())
        self._latest.clear()
        self._skipped.clear()
        self._ended.clear()
        self.conflating = False

    # --- operations ---------------------------------------------------------------------------

    def _dispatch(self, cmd: messages.Command, now: float) -> None:
        if isinstance(cmd, messages.Subscribe):
            self._subscribe(cmd, now)
        elif isinstance(cmd, messages.Unsubscribe):
            subscription = self.subs.pop(cmd.sub, None)
            if subscription is None:
                raise ProtocolError("unknown_subscription",
                                    f"no subscription {cmd.sub} on this connection", "sub", cmd.id)
            self.hub.detach(subscription.stream, self, cmd.sub)
            for pending in (self._latest, self._skipped, self._ended):
                pending.pop(cmd.sub, None)
            self._emit({"type": "unsubscribed", "id": cmd.id, "sub": cmd.sub})
        elif isinstance(cmd, messages.ListSubscriptions):
            subs = [{"sub": s.sub, "symbol": s.stream.symbol, "seq": self.hub.current(s.stream)[0],
                     "params": s.stream.describe()} for s in self.subs.values()]
            self._emit({"type": "subscriptions", "id": cmd.id, "subs": subs})
        elif isinstance(cmd, messages.ListSymbols):
            self._emit({"type": "symbols", "id": cmd.id, "symbols": [
                self._symbol_entry(stream) for stream in self.hub.symbols]})
        else:
            self._emit({"type": "pong", "id": cmd.id, "time": round(now, 6)})

    def _symbol_entry(self, stream: Stream) -> dict[str, Any]:
        seq, price, time = self.hub.current(stream)
        return {"symbol": stream.symbol, "t0": stream.t0, "params": stream.describe(),
                "seq": seq, "price": price, "time": time}

    def _subscribe(self, cmd: messages.Subscribe, now: float) -> None:
        config = self.config
        if len(self.subs) >= config.max_subscriptions:
            raise ProtocolError("limit_exceeded", f"a connection may hold at most "
                                f"{config.max_subscriptions} subscriptions", None, cmd.id)
        if cmd.history is not None and cmd.from_seq is not None:
            raise self._invalid(cmd, "history", "give history or fromSeq, not both")
        if cmd.history is not None and not 0 <= cmd.history <= config.max_history:
            raise self._invalid(cmd, "history", f"history must be 0..{config.max_history}, got "
                                f"{show(cmd.history)}")
        if cmd.from_seq is not None and cmd.from_seq < 0:
            raise self._invalid(cmd, "fromSeq", f"fromSeq must be >= 0, got {show(cmd.from_seq)}")
        if cmd.symbol is not None:
            stream, seq, first, recent = self._open_symbol(cmd)
        else:
            stream, seq, first, recent = self._open_private(cmd, now)
        sub = self._next_sub
        self._next_sub += 1
        self.subs[sub] = Subscription(sub, stream)
        self.hub.attach(stream, self, sub)
        price = float(recent[-1]) if len(recent) else self.hub.current(stream)[1]
        ack = {"type": "subscribed", "id": cmd.id, "sub": sub, "symbol": stream.symbol,
               "seq": seq, "price": price, "time": schedule.instant(stream.t0, stream.interval, seq),
               "t0": stream.t0, "params": stream.describe()}
        self._emit(ack)
        head = messages.tick_head(sub)
        self.hub.replayed += len(recent)
        if len(recent):
            seqs = np.arange(first, seq + 1)
            times = schedule.instants(np.full(len(seqs), stream.t0),
                                      np.full(len(seqs), stream.interval), seqs)
            self.parts.extend(head + body for body in messages.tick_bodies(seqs, recent, times))
        if self.hub.finished(stream):
            self._emit({"type": "end", "sub": sub, "seq": seq})
            del self.subs[sub]
            self.hub.detach(stream, self, sub)

    def _open_symbol(self, cmd: messages.Subscribe) -> tuple[Stream, int, int, np.ndarray]:
        assert cmd.symbol is not None
        given = [name for name, _ in cmd.model] + [
            name for name, value in (("interval", cmd.interval), ("seed", cmd.seed),
                                     ("periods", cmd.periods)) if value is not None]
        if given:
            raise self._invalid(cmd, given[0], f"{given[0]} cannot be combined with symbol: a "
                                "symbol's parameters are fixed by the market")
        stream = self.hub.symbol(cmd.symbol)
        if stream is None:
            raise ProtocolError("unknown_symbol", f"unknown symbol {show(cmd.symbol)}; the "
                                "symbols op lists the market", "symbol", cmd.id)
        if cmd.t0 is not None and cmd.t0 != stream.t0:
            raise self._invalid(cmd, "t0", f"t0 of {cmd.symbol} is {stream.t0!r}, got "
                                f"{show(cmd.t0)}: the market's session changed, so its seq "
                                "numbers name other ticks")
        seq = self.hub.current(stream)[0]
        first = self._first(cmd, seq)
        return stream, seq, first, self.hub.recent(stream, first)

    def _open_private(self, cmd: messages.Subscribe, now: float,
                      ) -> tuple[Stream, int, int, np.ndarray]:
        config = self.config
        model = {"startPrice": DEFAULT_START_PRICE, "mu": DEFAULT_MU, "sigma": DEFAULT_SIGMA,
                 "delta": DEFAULT_DELTA, **dict(cmd.model)}
        try:
            params = GBMParams(model["startPrice"], model["mu"], model["sigma"], model["delta"])
            seed = (check_seed(cmd.seed) if cmd.seed is not None
                    else pick_seed())
        except ParamError as exc:
            raise self._invalid(cmd, exc.field, exc.message) from None
        interval = DEFAULT_INTERVAL if cmd.interval is None else cmd.interval
        if not config.min_interval <= interval <= config.max_interval:  # False for NaN too
            raise self._invalid(cmd, "interval", f"interval must be a number of seconds from "
                                f"{config.min_interval:g} to {config.max_interval:g}, got "
                                f"{show(interval)}")
        interval = float(interval)
        if cmd.periods is not None and not 1 <= cmd.periods <= config.max_periods:
            raise self._invalid(cmd, "periods", f"periods must be 1..{config.max_periods} or null, "
                                f"got {show(cmd.periods)}")
        if cmd.t0 is None:
            if cmd.from_seq is not None:
                raise self._invalid(cmd, "fromSeq", "fromSeq resumes a stream, which needs the "
                                    "seed and t0 of its subscribed reply")
            # aligned a hair ahead, so that a new stream always starts at seq 0, its start price
            t0 = schedule.aligned_t0(now + schedule.DUE_SLACK, interval)
        else:
            if cmd.seed is None:
                raise self._invalid(cmd, "t0", "t0 names a stream only together with its seed")
            t0 = float(cmd.t0)
            if not 0 <= t0 <= now + schedule.DUE_SLACK:  # False for NaN too
                raise self._invalid(cmd, "t0", f"t0 must be epoch seconds not in the future, got "
                                    f"{show(t0)}")
        seq = max(schedule.current_seq(t0, interval, now), 0)
        if cmd.periods is not None:
            seq = min(seq, cmd.periods - 1)
        if seq > config.max_catchup:
            raise ProtocolError("limit_exceeded", f"resuming from t0 {t0!r} means computing {seq} "
                                f"steps; the limit is {config.max_catchup}", "t0", cmd.id)
        self._charge(cmd, seq)
        first = self._first(cmd, seq)
        stream, recent = self.hub.open_private(params, seed, t0, interval, cmd.periods, seq,
                                               tail=seq - first + 1)
        if not (math.isfinite(self.hub.current(stream)[1]) and np.isfinite(recent).all()):
            self.hub.detach(stream, self, 0)  # never attached: this closes it
            raise self._invalid(cmd, "t0", f"this stream's price leaves double precision before "
                                f"its current seq {seq}: it ended; lower mu, sigma or delta")
        return stream, seq, first, recent

    def _first(self, cmd: messages.Subscribe, seq: int) -> int:
        """The first tick to replay before live ticks (``seq + 1`` when there is none)."""
        if cmd.from_seq is not None:
            if cmd.from_seq > seq + 1:
                raise self._invalid(cmd, "fromSeq", f"fromSeq {cmd.from_seq} is ahead of the "
                                    f"stream, whose current seq is {seq}")
            if seq + 1 - cmd.from_seq > self.config.max_replay:
                raise ProtocolError("limit_exceeded", f"fromSeq {cmd.from_seq} would replay "
                                    f"{seq + 1 - cmd.from_seq} ticks; the limit is "
                                    f"{self.config.max_replay}", "fromSeq", cmd.id)
            return cmd.from_seq
        if cmd.history:
            return max(0, seq - cmd.history + 1)
        return seq + 1

    @staticmethod
    def _invalid(cmd: messages.Subscribe, field: str, message: str) -> ProtocolError:
        return ProtocolError("invalid_params", message, field, cmd.id)

    def _emit(self, event: dict[str, Any]) -> None:
        self.parts.append(messages.event(event))
