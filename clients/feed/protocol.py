"""The client's side of the wire protocol, as a state machine with no I/O.

Frames from the server go in (:meth:`ClientProtocol.receive`), encoded operations come out
(:attr:`ClientProtocol.outbox`), and ticks go to each subscription's sink in order. It owns
the rules that make a subscription gapless across connections:

* the first ``subscribed`` ack fixes a stream: its ``t0`` and its effective ``params`` (seed
  included). Every later subscribe of that subscription is a *resume*: the same parameters,
  seed and ``t0`` (or the same ``symbol`` and ``t0``) with ``fromSeq`` = the next seq not yet
  delivered, so the server replays what was missed;
* a tick is delivered only if its seq is the next one expected; an older seq is a duplicate
  (dropped); a newer one is a gap, announced by ``lagging`` or not, which is filled by a
  resume on the same connection (unless ``fill_gaps`` is off);
* a queue that is full pauses its subscription (an ``unsubscribe``) until the application
  has read half of it, then resumes it from the next seq: the connection is always read, so
  no subscription holds up another, and nothing grows;
* a resume the server refuses for a passing reason (``rate_limited``, ``fromSeq`` ahead of a
  stream whose new server clock is a little behind) is retried later; one whose replay is
  too long (``limit_exceeded`` on ``fromSeq``) reports :class:`~clients.errors.TicksLost` and
  continues from the current tick.

PROTOCOL.md is the only thing this module knows about the server.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import orjson

from clients.errors import (ArgumentError, ConnectionLost, FeedError, ProtocolViolation,
                            ServerError, TicksLost)

logger = logging.getLogger("clients.feed")

SEED_MAX = 2**64 - 1
#: Model fields of a private stream's ``params`` that a resume sends back.
RESUME_FIELDS = ("startPrice", "mu", "sigma", "delta", "interval", "seed", "periods")


class Tick(NamedTuple):
    """One price of a stream: tick ``seq`` (0 is the stream's start), its price and its
    scheduled instant (Unix epoch seconds), and the subscription it belongs to."""

    seq: int
    price: float
    time: float
    sub: Any
    """The :class:`~clients.feed.Subscription` of this tick (useful when reading a merge)."""


class Ended(NamedTuple):
    """Queue marker: subscription ``sub`` delivers nothing more (end of a finite stream,
    unsubscribed, or failed after its error)."""

    sub: Any


class Sink(Protocol):
    """Where a subscription's ticks and markers go: the I/O layer's bounded queue."""

    def offer(self, tick: Tick) -> bool:
        """Queue a tick; False (and nothing queued) when the queue is full."""

    def put(self, item: Ended | FeedError) -> None:
        """Queue a marker or an error; always accepted (a subscription has at most three)."""

    def when_drained(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the queue is down to half its bound."""


class Owner(Protocol):
    """The application's handle of a subscription, told when its first subscribe is answered."""

    def _acked(self) -> None: ...

    def _failed(self, exc: FeedError) -> None: ...


# --- what to subscribe to ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What a subscription asks for; every field ``None`` = absent, the server's default."""

    symbol: str | None = None
    start_price: float | None = None
    mu: float | None = None
    sigma: float | None = None
    delta: float | None = None
    interval: float | None = None
    seed: int | None = None
    periods: int | None = None
    history: int | None = None
    t0: float | None = None
    from_seq: int | None = None

    def message(self) -> dict[str, Any]:
        """The first ``subscribe`` operation, without its id."""
        wire = {"symbol": self.symbol, "startPrice": self.start_price, "mu": self.mu,
                "sigma": self.sigma, "delta": self.delta, "interval": self.interval,
                "seed": self.seed, "periods": self.periods, "history": self.history,
                "t0": self.t0, "fromSeq": self.from_seq}
        return {"op": "subscribe", **{k: v for k, v in wire.items() if v is not None}}

    def describe(self) -> str:
        if self.symbol is not None:
            return self.symbol
        given = [f"{name}={getattr(self, name)!r}" for name in
                 ("seed", "start_price", "mu", "sigma", "delta", "interval", "periods")
                 if getattr(self, name) is not None]
        return "private(" + ", ".join(given) + ")"


_PRIVATE_ONLY = ("start_price", "mu", "sigma", "delta", "interval", "seed", "periods")


def stream_spec(symbol: str | None = None, *, start_price: float | None = None,
                mu: float | None = None, sigma: float | None = None,
                delta: float | None = None, interval: float | None = None,
                seed: int | None = None, periods: int | None = None,
                history: int | None = None, t0: float | None = None,
                from_seq: int | None = None) -> StreamSpec:
    """Check the arguments of a subscription; raise :class:`ArgumentError` naming the first
    bad one. Ranges that are server settings (the smallest interval, the largest history) are
    left to the server, which answers with :class:`~clients.errors.InvalidParams`."""
    if symbol is not None:
        if not isinstance(symbol, str) or not symbol:
            raise ArgumentError("symbol", f"symbol must be a non-empty string, got {symbol!r}")
        private = {"start_price": start_price, "mu": mu, "sigma": sigma, "delta": delta,
                   "interval": interval, "seed": seed, "periods": periods}
        given = [name for name in _PRIVATE_ONLY if private[name] is not None]
        if given:
            raise ArgumentError(given[0], f"{given[0]} cannot be combined with symbol: a "
                                "symbol's parameters are fixed by the market")
    _check_number("start_price", start_price, low=0.0, low_open=True)
    _check_number("mu", mu)
    _check_number("sigma", sigma, low=0.0)
    _check_number("delta", delta, low=0.0, low_open=True)
    _check_number("interval", interval, low=0.0, low_open=True)
    _check_number("t0", t0, low=0.0)
    _check_integer("seed", seed, 0, SEED_MAX, "from 0 to 2**64-1")
    _check_integer("periods", periods, 1, None, ">= 1")
    _check_integer("history", history, 0, None, ">= 0")
    _check_integer("from_seq", from_seq, 0, None, ">= 0")
    if history is not None and from_seq is not None:
        raise ArgumentError("history", "give history or from_seq, not both")
    if symbol is None:
        if t0 is not None and seed is None:
            raise ArgumentError("t0", "t0 names a private stream only together with its seed")
        if from_seq is not None and t0 is None:
            raise ArgumentError("from_seq", "from_seq resumes a private stream, which needs "
                                "the seed and t0 of its subscribed reply")
    return StreamSpec(symbol, start_price, mu, sigma, delta, interval, seed, periods, history,
                      t0, from_seq)


def _check_number(name: str, value: object, *, low: float | None = None,
                  low_open: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ArgumentError(name, f"{name} must be a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ArgumentError(name, f"{name} must be {'>' if low_open else '>='} {low:g}, got "
                            f"{value!r}")


def _check_integer(name: str, value: object, low: int, high: int | None, domain: str) -> None:
    if value is None:
        return
    if (isinstance(value, bool) or not isinstance(value, int) or value < low
            or (high is not None and value > high)):
        raise ArgumentError(name, f"{name} must be an integer {domain}, got {value!r}")


# --- one subscription ---------------------------------------------------------------------------


class StreamState:
    """The protocol state of one subscription, across every connection it lives on."""

    __slots__ = ("spec", "owner", "sink", "server_sub", "op_id", "t0", "params", "symbol",
                 "expected", "restart", "paused", "terminal", "lagging", "refetches",
                 "duplicates", "skipped", "lost", "resumes", "overflows")

    def __init__(self, spec: StreamSpec, owner: Any, sink: Sink) -> None:
        self.spec = spec
        self.owner = owner
        """The application's handle; ticks carry it."""
        self.sink = sink
        self.server_sub: int | None = None
        """The server's number for it on the current connection, while it is live there."""
        self.op_id: int | None = None
        """The id of the subscribe in flight, if any."""
        self.t0: float | None = None
        self.params: dict[str, Any] | None = None
        self.symbol: str | None = spec.symbol
        self.expected: int | None = None
        """The next seq to deliver (``None`` until the first ack)."""
        self.restart = False
        """The next subscribe gives up the gap (its replay was refused as too long)."""
        self.paused = False
        """Its queue overflowed: not subscribed until the application has read half of it."""
        self.terminal: str | None = None
        """``ended``, ``failed`` or ``closed`` once the subscription delivers nothing more."""
        self.lagging = 0
        self.refetches = 0
        self.duplicates = 0
        self.skipped = 0
        self.lost = 0
        self.resumes = 0
        self.overflows = 0

    @property
    def acked(self) -> bool:
        return self.t0 is not None

    def subscribe_message(self) -> dict[str, Any]:
        """The subscribe to send now: the first one, or a resume from :attr:`expected`."""
        if self.t0 is None:
            return self.spec.message()
        assert self.params is not None and self.expected is not None
        if self.symbol is not None:
            message: dict[str, Any] = {"op": "subscribe", "symbol": self.symbol, "t0": self.t0}
        else:
            message = {"op": "subscribe", "t0": self.t0, **{
                name: self.params[name] for name in RESUME_FIELDS
                if self.params.get(name) is not None}}
        if not self.restart:
            message["fromSeq"] = self.expected
        return message


# --- the connection's protocol ------------------------------------------------------------------

Reply = Callable[[dict[str, Any] | FeedError], None]


@dataclass(slots=True)
class _Op:
    """An operation sent and not yet answered."""

    kind: str
    """``subscribe``, ``unsubscribe`` or ``request``."""
    state: StreamState | None = None
    sub: int | None = None
    reply: Reply | None = None


class ClientProtocol:
    """Every subscription of one feed and the operations in flight on its connection.

    Replies are matched to operations by ``id``. An ``error`` without one (the server refuses
    an operation it did not read, such as one over its rate limit) answers the oldest
    operation still unanswered: the server handles one connection's operations in order, and
    answers each exactly once.
    """

    def __init__(self, *, fill_gaps: bool = True) -> None:
        self.fill_gaps = fill_gaps
        self.outbox: deque[bytes] = deque()
        """Encoded operations to send, in order; the I/O layer drains it."""
        self.retry: list[Callable[[], None]] = []
        """Operations the server refused for a passing reason (``rate_limited``, a resume
        whose ``fromSeq`` is a little ahead of a restarted server): the I/O layer calls each
        after a delay. One that outlived its connection does nothing."""
        self.connected = False
        self.epoch = 0
        """Connections made so far; a retry is valid only on the connection it was made for."""
        self.frames = 0
        self._states: dict[StreamState, None] = {}
        self._by_sub: dict[int, StreamState] = {}
        self._ops: dict[int, _Op] = {}
        self._in_flight: deque[int] = deque()
        self._next_id = 1

    @property
    def states(self) -> list[StreamState]:
        """Live subscriptions, in the order they were made."""
        return list(self._states)

    @property
    def in_flight(self) -> int:
        """Operations sent (or queued) and not yet answered."""
        return len(self._in_flight)

    # --- the application's side ---------------------------------------------------------------

    def add(self, state: StreamState) -> None:
        """A new subscription: subscribe now if connected, else on the next connection."""
        self._states[state] = None
        if self.connected:
            self._send_subscribe(state)

    def remove(self, state: StreamState, reply: Reply | None = None) -> bool:
        """Unsubscribe; return True if an ``unsubscribe`` was sent (``reply`` gets its answer)."""
        if state.terminal is None:
            state.terminal = "closed"
            state.sink.put(Ended(state.owner))
        self._states.pop(state, None)
        sub = state.server_sub
        if sub is None:
            return False  # not live on this connection; an ack still in flight is undone
        state.server_sub = None
        del self._by_sub[sub]
        self._unsubscribe(sub, reply)
        return True

    def request(self, op: dict[str, Any], reply: Reply) -> int:
        """Send a one-shot operation (ping, symbols, list); ``reply`` gets the reply event or
        the error. Only while connected."""
        return self._send(op, _Op("request", reply=reply))

    def forget(self, op_id: int) -> None:
        """Stop waiting for the reply to ``op_id`` (its caller gave up)."""
        op = self._ops.get(op_id)
        if op is not None:
            op.reply = None

    # --- the connection's side ----------------------------------------------------------------

    def connection_made(self) -> None:
        """A new connection: (re)subscribe every live subscription."""
        self.connected = True
        self.epoch += 1
        for state in self._states:
            if state.terminal is None and not state.paused:
                if state.acked:
                    state.resumes += 1
                self._send_subscribe(state)

    def connection_lost(self, exc: FeedError) -> None:
        """The connection is gone: nothing is live on it any more; pending replies fail."""
        self.connected = False
        self.outbox.clear()
        self.retry.clear()
        self._by_sub.clear()
        self._in_flight.clear()
        for state in self._states:
            state.server_sub = None
            state.op_id = None
        ops, self._ops = self._ops, {}
        for op in ops.values():
            if op.reply is not None:
                op.reply(exc)

    def fail(self, exc: FeedError) -> None:
        """The feed failed for good: every subscription ends with ``exc``."""
        for state in self._states:
            if state.terminal is None:
                state.terminal = "failed"
        self._states.clear()

    def receive(self, data: bytes | str) -> None:
        """Handle one frame from the server: a JSON array of events."""
        try:
            events = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ProtocolViolation(f"frame is not valid JSON: {exc}") from None
        if type(events) is not list:
            raise ProtocolViolation(f"a frame must be a JSON array of events, got "
                                    f"{_short(events)}")
        self.frames += 1
        by_sub = self._by_sub
        event: Any = None
        try:
            for event in events:
                if event["type"] == "tick":
                    state = by_sub.get(event["sub"])
                    if state is None:
                        continue  # unsubscribed, or replaced by a resume: in flight, ignored
                    seq = event["seq"]
                    if seq == state.expected:
                        if state.sink.offer(Tick(seq, event["price"], event["time"],
                                                 state.owner)):
                            state.expected = seq + 1
                        else:
                            self._overflow(state)
                    else:
                        self._out_of_order(state, seq, event)
                else:
                    self._event(event)
        except (KeyError, TypeError) as exc:
            raise ProtocolViolation(f"malformed event {_short(event)}: missing or mistyped "
                                    f"{exc}") from None

    # --- events -------------------------------------------------------------------------------

    def _event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "lagging":
            self._on_lagging(event)
        elif kind == "end":
            self._on_end(event)
        elif kind == "error":
            answered = self._answered(event.get("id"))
            self._on_error(answered, ServerError.from_event(event))
        elif event.get("id") is not None:  # subscribed, unsubscribed, pong, symbols, ...
            answered = self._answered(event["id"])
            if answered is None:
                logger.debug("reply to no pending operation: %s", _short(event))
                return
            op_id, op = answered
            if op.kind == "subscribe":
                if kind != "subscribed":
                    raise ProtocolViolation(f"a subscribe was answered by {_short(event)}")
                self._on_subscribed(op_id, op, event)
            elif op.reply is not None:
                op.reply(event)
        else:
            logger.debug("ignored event %s", _short(event))

    def _answered(self, op_id: object) -> tuple[int, _Op] | None:
        """The operation a reply answers (the oldest unanswered one for an error without id)."""
        in_flight = self._in_flight
        if op_id is None:
            if not in_flight:
                return None
            op_id = in_flight.popleft()
        elif in_flight and in_flight[0] == op_id:
            in_flight.popleft()
        else:
            try:
                in_flight.remove(op_id)  # type: ignore[arg-type]
            except ValueError:
                return None
        op = self._ops.pop(op_id, None)  # type: ignore[arg-type]
        return None if op is None else (op_id, op)  # type: ignore[return-value]

    def _on_subscribed(self, op_id: int, op: _Op, event: dict[str, Any]) -> None:
        state = op.state
        assert state is not None
        sub = event["sub"]
        if state.terminal is not None or state.op_id != op_id:
            self._unsubscribe(sub, None)  # unsubscribed while its ack was in flight
            return
        state.op_id = None
        state.server_sub = sub
        self._by_sub[sub] = state
        seq = event["seq"]
        ack_tick = Tick(seq, event["price"], event["time"], state.owner)
        if not state.acked:
            state.t0 = event["t0"]
            state.params = event["params"]
            state.symbol = event["symbol"]
            spec = state.spec
            state.owner._acked()
            if spec.from_seq is not None:
                state.expected = spec.from_seq
            elif spec.history:
                state.expected = max(0, seq - spec.history + 1)  # the replay follows the ack
            else:
                state.expected = seq  # a value at once: the stream's current tick
                self._deliver(state, ack_tick)
        elif state.restart:
            state.restart = False
            assert state.expected is not None
            if seq >= state.expected:
                if seq > state.expected:
                    lost = TicksLost(state.owner, state.expected, seq - 1,
                                     "beyond the server's replay limit")
                    state.lost += lost.last - lost.first + 1
                    state.sink.put(lost)
                state.expected = seq
                self._deliver(state, ack_tick)
        # a resume: ticks expected..seq follow in this frame, then live ticks

    def _out_of_order(self, state: StreamState, seq: int, event: dict[str, Any]) -> None:
        assert state.expected is not None
        if seq < state.expected:
            state.duplicates += 1
            return
        if self.fill_gaps:
            logger.warning("%s: seq %d after %d without a lagging event; fetching the gap "
                           "back", state.owner, seq, state.expected - 1)
            self._refetch(state)
            return
        state.skipped += seq - state.expected
        state.expected = seq
        self._deliver(state, Tick(seq, event["price"], event["time"], state.owner))

    def _deliver(self, state: StreamState, tick: Tick) -> None:
        """Queue the tick whose seq is :attr:`StreamState.expected`, or overflow."""
        if state.sink.offer(tick):
            state.expected = tick.seq + 1
        else:
            self._overflow(state)

    def _overflow(self, state: StreamState) -> None:
        """The application's queue is full. With ``fill_gaps``: stop the subscription (its
        next seq stays expected) and resume it from there once the queue is down to half.
        Without: the tick is skipped, like a tick the server conflated."""
        state.overflows += 1
        if not self.fill_gaps:
            state.skipped += 1
            assert state.expected is not None
            state.expected += 1
            return
        state.paused = True
        old = state.server_sub
        if old is not None:
            del self._by_sub[old]
            state.server_sub = None
            self._unsubscribe(old, None)
        state.sink.when_drained(lambda: self._unpause(state))

    def _unpause(self, state: StreamState) -> None:
        if not state.paused:
            return
        state.paused = False
        if (self.connected and state.terminal is None and state.server_sub is None
                and state.op_id is None):
            state.refetches += 1
            self._send_subscribe(state)

    def _on_lagging(self, event: dict[str, Any]) -> None:
        state = self._by_sub.get(event["sub"])
        if state is None:
            return
        state.lagging += 1
        if self.fill_gaps:
            self._refetch(state)

    def _refetch(self, state: StreamState) -> None:
        """Fill a gap: replace the live subscription by a resume from the next seq expected.
        Ticks of the old one still in flight are ignored; the replay comes with the new ack."""
        state.refetches += 1
        old = state.server_sub
        if old is not None:
            del self._by_sub[old]
            state.server_sub = None
            self._unsubscribe(old, None)
        self._send_subscribe(state)

    def _on_end(self, event: dict[str, Any]) -> None:
        state = self._by_sub.get(event["sub"])
        if state is None:
            return
        assert state.expected is not None
        if state.expected <= event["seq"] and self.fill_gaps:
            self._refetch(state)  # ticks are missing before the end: the resume replays them
            return
        del self._by_sub[event["sub"]]
        state.server_sub = None
        state.terminal = "ended"
        self._states.pop(state, None)
        state.sink.put(Ended(state.owner))

    def _on_error(self, answered: tuple[int, _Op] | None, exc: ServerError) -> None:
        if answered is None:
            logger.warning("server error for no pending operation: %s", exc)
            return
        op_id, op = answered
        if op.kind == "subscribe":
            assert op.state is not None
            if op.state.op_id == op_id:  # else it answers a subscribe since replaced
                op.state.op_id = None
                self._subscribe_failed(op.state, exc)
        else:
            if op.kind == "unsubscribe" and exc.code == "rate_limited":
                epoch, sub = self.epoch, op.sub
                self.retry.append(lambda: self._retry_unsubscribe(epoch, sub))
            if op.reply is not None:
                op.reply(exc)

    def _subscribe_failed(self, state: StreamState, exc: ServerError) -> None:
        if state.terminal is not None:
            return
        passing = exc.code == "rate_limited" or (
            state.acked and exc.code == "invalid_params" and exc.field == "fromSeq")
        if passing:  # try again after a delay
            epoch = self.epoch
            self.retry.append(lambda: self._retry_subscribe(epoch, state))
            return
        if (state.acked and exc.code == "limit_exceeded" and exc.field == "fromSeq"
                and not state.restart):
            state.restart = True  # the gap is longer than the server keeps: give it up
            self._send_subscribe(state)
            return
        state.terminal = "failed"
        self._states.pop(state, None)
        state.sink.put(exc)
        state.sink.put(Ended(state.owner))
        state.owner._failed(exc)

    def _retry_subscribe(self, epoch: int, state: StreamState) -> None:
        if (self.connected and epoch == self.epoch and state.terminal is None
                and state.server_sub is None and state.op_id is None):
            self._send_subscribe(state)

    def _retry_unsubscribe(self, epoch: int, sub: int | None) -> None:
        if self.connected and epoch == self.epoch and sub is not None:
            self._unsubscribe(sub, None)

    # --- output -------------------------------------------------------------------------------

    def _send_subscribe(self, state: StreamState) -> None:
        state.op_id = self._send(state.subscribe_message(), _Op("subscribe", state=state))

    def _unsubscribe(self, sub: int, reply: Reply | None) -> None:
        self._send({"op": "unsubscribe", "sub": sub}, _Op("unsubscribe", sub=sub, reply=reply))

    def _send(self, message: dict[str, Any], op: _Op) -> int:
        op_id = self._next_id
        self._next_id += 1
        if self.connected:
            self._ops[op_id] = op
            self._in_flight.append(op_id)
            self.outbox.append(orjson.dumps({**message, "id": op_id}))
        elif op.reply is not None:
            op.reply(ConnectionLost(None, "not connected"))
        return op_id


def _short(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
