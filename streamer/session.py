"""One connection's state machine: client messages in, encoded events out, no I/O.

:meth:`Session.receive` takes a client frame and ``now``; every reply (and every tick the hub
produces for this connection) is appended to :attr:`Session.parts`, which the I/O layer
drains into one frame. Bad input becomes an ``error`` event; no exception escapes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulation import GBMParams, ParamError
from simulation.params import check_seed, show
from streamer import messages, schedule
from streamer.config import (DEFAULT_DELTA, DEFAULT_INTERVAL, DEFAULT_MU, DEFAULT_SIGMA,
                             DEFAULT_START_PRICE, ServerConfig)
from streamer.errors import ProtocolError
from streamer.hub import Hub, Stream

#: Seeds the server picks stay below 2**53 so that JavaScript clients can echo them exactly.
PICKED_SEED_BOUND = 2**53


@dataclass(eq=False, slots=True)
class Subscription:
    sub: int
    stream: Stream


class Session:
    """The protocol state of one connection."""

    def __init__(self, hub: Hub, config: ServerConfig) -> None:
        self.hub = hub
        self.config = config
        self.parts: list[str] = []
        self.subs: dict[int, Subscription] = {}
        self._next_sub = 1
        self.errors: dict[str, int] = {}
        """How many errors of each code this connection was sent."""

    # --- input --------------------------------------------------------------------------------

    def receive(self, raw: str | bytes, now: float) -> None:
        """Handle one text frame from the client."""
        try:
            if len(raw) > self.config.max_message_bytes:
                raise ProtocolError("limit_exceeded", f"message is {len(raw)} bytes; the limit "
                                    f"is {self.config.max_message_bytes}")
            self._dispatch(messages.parse(raw), now)
        except ProtocolError as exc:
            self.reject(exc)

    def receive_binary(self, data: bytes) -> None:
        """Handle a binary frame, which the protocol does not use."""
        self.reject(ProtocolError("bad_request", f"binary frames are not accepted ({len(data)} "
                                  "bytes); send each JSON message as a text frame"))

    def reject(self, exc: ProtocolError) -> None:
        self.errors[exc.code] = self.errors.get(exc.code, 0) + 1
        self._emit(messages.error_event(exc))

    def close(self) -> None:
        """The connection is gone: release every subscription."""
        for subscription in list(self.subs.values()):
            self.hub.detach(subscription.stream, self, subscription.sub)
        self.subs.clear()

    # --- the hub's side -----------------------------------------------------------------------

    def stream_ended(self, sub: int) -> None:
        self.subs.pop(sub, None)

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
        for k, p in zip(range(first, seq + 1), recent.tolist()):
            self.parts.append(head + messages.tick_body(
                k, p, schedule.instant(stream.t0, stream.interval, k)))
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
                    else secrets.randbelow(PICKED_SEED_BOUND))
        except ParamError as exc:
            raise self._invalid(cmd, exc.field, exc.message) from None
        interval = DEFAULT_INTERVAL if cmd.interval is None else cmd.interval
        if not config.min_interval <= interval <= config.max_interval:  # False for NaN too
            raise self._invalid(cmd, "interval", f"interval must be a number of seconds from "
                                f"{config.min_interval:g} to {config.max_interval:g}, got "
                                f"{show(interval)}")
        if cmd.periods is not None and not 1 <= cmd.periods <= config.max_periods:
            raise self._invalid(cmd, "periods", f"periods must be 1..{config.max_periods} or null, "
                                f"got {show(cmd.periods)}")
        if cmd.t0 is None:
            if cmd.from_seq is not None:
                raise self._invalid(cmd, "fromSeq", "fromSeq resumes a stream, which needs the "
                                    "seed and t0 of its subscribed reply")
            t0 = schedule.aligned_t0(now, interval)
        else:
            if cmd.seed is None:
                raise self._invalid(cmd, "t0", "t0 names a stream only together with its seed")
            t0 = cmd.t0
            if not 0 <= t0 <= now + schedule.DUE_SLACK:  # False for NaN too
                raise self._invalid(cmd, "t0", f"t0 must be epoch seconds not in the future, got "
                                    f"{show(t0)}")
        seq = schedule.current_seq(t0, interval, now)
        if cmd.periods is not None:
            seq = min(seq, cmd.periods - 1)
        if seq > config.max_catchup:
            raise ProtocolError("limit_exceeded", f"resuming from t0 {t0!r} means computing {seq} "
                                f"steps; the limit is {config.max_catchup}", "t0", cmd.id)
        first = self._first(cmd, seq)
        stream, recent = self.hub.open_private(params, seed, t0, interval, cmd.periods, seq,
                                               tail=seq - first + 1)
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
