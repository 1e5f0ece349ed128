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
* a refused subscribe is handled as the protocol's recovery table says
  (:mod:`wire.recovery`): retried later for a passing reason (``rate_limited``, ``fromSeq``
  ahead of a stream whose new server clock is a little behind); continued from the current
  tick when the gap is longer than the server replays (:class:`~clients.errors.TicksLost`);
  started over when the stream cannot be continued (:class:`~clients.errors.StreamRestarted`);
  else failed with the server's error.

The :mod:`wire` package is the only thing this module knows about the server.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, NamedTuple, ParamSpec, Protocol, TypeVar, cast

from clients.errors import (ArgumentError, ConnectionLost, FeedError, ProtocolViolation,
                            ServerError, StreamRestarted, TicksLost)
from wire import commands, events
from wire.commands import StreamSpec
from wire.errors import EventError, FieldError
from wire.names import HISTORY_MAX, MODEL_FIELDS, MODEL_PARAMS, PACES, python_name
from wire.recovery import Action, recover
from wire.values import check_integer, check_number, check_seed

logger = logging.getLogger("clients.feed")

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


class Tick(NamedTuple):
    """One price of a stream: tick ``seq`` (0 is the stream's start), its price and its
    scheduled instant (Unix epoch seconds), and the subscription it belongs to."""

    seq: int
    price: float
    time: float
    sub: Any
    """The :class:`~clients.feed.Subscription` of this tick (useful when reading a merge)."""
    vol: float | None = None
    """A Heston stream's instantaneous volatility (``None`` for the other models)."""


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


def check_spec(spec: StreamSpec) -> StreamSpec:
    """Check a subscription's arguments; raise :class:`ArgumentError` naming the first bad one
    (as the Python call spells it). Ranges that are server settings (the smallest interval,
    the model's bounds) are left to the server, which answers with
    :class:`~clients.errors.InvalidParams`."""
    try:
        if spec.symbol is not None and (not isinstance(spec.symbol, str) or not spec.symbol):
            raise FieldError("symbol", spec.symbol, f"symbol must be a non-empty string, got "
                             f"{spec.symbol!r}")
        if spec.model is not None and spec.model not in MODEL_PARAMS:
            raise FieldError("model", spec.model, "model must be one of " + ", ".join(
                MODEL_PARAMS) + f", got {spec.model!r}")
        for name, low, low_open in (("start_price", 0.0, True), ("mu", None, False),
                                    ("sigma", 0.0, False), ("delta", 0.0, True),
                                    ("interval", 0.0, True), ("t0", 0.0, False)):
            if getattr(spec, name) is not None:
                check_number(name, getattr(spec, name), low=low, low_open=low_open)
        for name in MODEL_FIELDS[4:]:  # the other models' fields: the server checks ranges
            if getattr(spec, python_name(name)) is not None:
                check_number(python_name(name), getattr(spec, python_name(name)))
        if spec.seed is not None:
            check_seed(spec.seed)
        for name, low, high in (("periods", 1, None), ("history", 0, HISTORY_MAX),
                                ("from_seq", 0, None)):
            if getattr(spec, name) is not None:
                check_integer(name, getattr(spec, name), low=low, high=high)
        conflict = spec.conflict(name=python_name)
        if conflict is not None:
            raise conflict
        if spec.from_time is not None:
            check_number("from_time", spec.from_time, low=0.0)
        if spec.pace is not None and spec.pace not in PACES:
            raise FieldError("pace", spec.pace, "pace must be one of " + ", ".join(PACES)
                             + f", got {spec.pace!r}")
    except FieldError as exc:
        raise ArgumentError(python_name(exc.field), exc.message) from None
    return spec


def _taking(spec_type: Callable[P, StreamSpec],
            ) -> Callable[[Callable[[S, StreamSpec], R]], Callable[Concatenate[S, P], R]]:
    def decorate(method: Callable[[S, StreamSpec], R]) -> Callable[Concatenate[S, P], R]:
        @functools.wraps(method)
        def subscribe(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return method(self, check_spec(spec_type(*args, **kwargs)))

        own = inspect.signature(method)
        first = next(iter(own.parameters.values()))
        fields = inspect.signature(spec_type).parameters.values()
        subscribe.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[first, *fields])
        return subscribe
    return decorate


spec_arguments = _taking(StreamSpec)
"""Give ``method(self, spec)`` the arguments of :class:`StreamSpec` itself: callers write
``feed.subscribe("ACME", history=100)``, which builds the spec and checks it with
:func:`check_spec` (so a bad argument raises :class:`ArgumentError` before anything is sent).
The fields are defined once, there; signatures and help show them."""


# --- one subscription ---------------------------------------------------------------------------


class StreamState:
    """The protocol state of one subscription, across every connection it lives on."""

    __slots__ = ("spec", "owner", "sink", "server_sub", "op_id", "t0", "params", "symbol",
                 "expected", "recovering", "paused", "terminal", "refetched_at", "from_time", "lagging",
                 "refetches", "duplicates", "skipped", "lost", "resumes", "overflows",
                 "restarts")

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
        self.recovering: Action | None = None
        """``SKIP_GAP`` or ``RESTART`` while a subscribe recovering from a refused resume is
        in flight (see :mod:`wire.recovery`)."""
        self.paused = False
        """Its queue overflowed: not subscribed until the application has read half of it."""
        self.terminal: str | None = None
        """``ended``, ``failed`` or ``closed`` once the subscription delivers nothing more."""
        self.from_time = False
        """A ``from_time`` replay was acked and no tick has come yet: the first one's seq,
        whatever it is, is the first expected (the server finds it from the time)."""
        self.refetched_at: int | None = None
        """:attr:`expected` when a resume was last sent to fill a gap: while it is still the
        one expected (no tick came since), a ``lagging`` says the server has no more of the
        gap (a third party's skip, a history outgrown)."""
        self.lagging = 0
        self.refetches = 0
        self.duplicates = 0
        self.skipped = 0
        self.lost = 0
        self.resumes = 0
        self.overflows = 0
        self.restarts = 0

    @property
    def acked(self) -> bool:
        return self.t0 is not None

    def subscribe_spec(self) -> StreamSpec:
        """The subscribe to send now: the first one, or one that names the stream again from
        the ack's ``t0`` and ``params``: a resume from :attr:`expected`, or as
        :attr:`recovering` says."""
        if self.t0 is None:
            return self.spec
        if self.from_time:  # nothing came yet: the same replay, of the same stream
            return dataclasses.replace(self.spec, t0=self.t0)
        assert self.params is not None and self.expected is not None
        if self.recovering is Action.RESTART:
            return self.spec.resume(self.symbol, None, self.params, None)
        from_seq = None if self.recovering is Action.SKIP_GAP else self.expected
        return self.spec.resume(self.symbol, self.t0, self.params, from_seq)


# --- the connection's protocol ------------------------------------------------------------------

Reply = Callable[[events.Event | FeedError], None]


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

    def request(self, command: Callable[[int], commands.Command], reply: Reply) -> int:
        """Send a one-shot operation (``commands.Ping``, ``ListSymbols``, ``ListSubscriptions``,
        given its id); ``reply`` gets the reply event or the error. Only while connected."""
        return self._send(command, _Op("request", reply=reply))

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
        """Handle one frame from the server: a JSON array of events. Ticks are read from the
        decoded objects directly (the hot path); every other event through
        :func:`wire.events.read`, which checks its fields."""
        try:
            frame = events.decode(data)
        except EventError as exc:
            raise ProtocolViolation(str(exc)) from None
        self.frames += 1
        by_sub = self._by_sub
        event: Any = None
        try:
            for event in frame:
                if event["type"] == events.TICK:
                    state = by_sub.get(event["sub"])
                    if state is None:
                        continue  # unsubscribed, or replaced by a resume: in flight, ignored
                    seq = event["seq"]
                    if seq == state.expected:
                        if state.sink.offer(Tick(seq, event["price"], event["time"],
                                                 state.owner, event.get("vol"))):
                            state.expected = seq + 1
                        else:
                            self._overflow(state)
                    else:
                        self._out_of_order(state, seq, event)
                else:
                    self._event(events.read(event))
        except (KeyError, TypeError) as exc:
            raise ProtocolViolation(f"malformed event {_short(event)}: missing or mistyped "
                                    f"{exc}") from None
        except EventError as exc:
            raise ProtocolViolation(str(exc)) from None

    # --- events -------------------------------------------------------------------------------

    def _event(self, event: events.Event) -> None:
        if isinstance(event, events.Lagging):
            self._on_lagging(event)
        elif isinstance(event, events.End):
            self._on_end(event)
        elif isinstance(event, events.Error):
            self._on_error(self._answered(event.id), ServerError.of(event))
        elif isinstance(event, events.Unknown) or getattr(event, "id", None) is None:
            logger.debug("ignored event %s", _short(event))
        else:  # subscribed, unsubscribed, pong, symbols, subscriptions
            answered = self._answered(event.id)  # type: ignore[attr-defined]
            if answered is None:
                logger.debug("reply to no pending operation: %s", _short(event))
                return
            op_id, op = answered
            if op.kind == "subscribe":
                if not isinstance(event, events.Subscribed):
                    raise ProtocolViolation(f"a subscribe was answered by {_short(event)}")
                self._on_subscribed(op_id, op, event)
            elif op.reply is not None:
                op.reply(event)

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
                in_flight.remove(op_id)  # type: ignore[arg-type]  # any id the server echoed
            except ValueError:
                return None
        key = cast(int, op_id)  # ours are ints; another is in no table, and pops nothing
        op = self._ops.pop(key, None)
        return None if op is None else (key, op)

    def _on_subscribed(self, op_id: int, op: _Op, ack: events.Subscribed) -> None:
        state = op.state
        assert state is not None
        sub = ack.sub
        if state.terminal is not None or state.op_id != op_id:
            self._unsubscribe(sub, None)  # unsubscribed while its ack was in flight
            return
        state.op_id = None
        state.server_sub = sub
        self._by_sub[sub] = state
        seq = ack.seq
        ack_tick = Tick(seq, ack.price, ack.time, state.owner, ack.vol)
        recovering, state.recovering = state.recovering, None
        if not state.acked:
            state.t0 = ack.t0
            state.params = ack.params
            state.symbol = ack.symbol
            spec = state.spec
            state.owner._acked()
            if spec.from_time is not None:
                state.expected = -1  # no seq: the first tick goes by _out_of_order
                state.from_time = True
            elif spec.from_seq is not None:
                state.expected = spec.from_seq
            elif spec.history:
                state.expected = max(0, seq - spec.history + 1)  # the replay follows the ack
            else:
                state.expected = seq  # a value at once: the stream's current tick
                self._deliver(state, ack_tick)
        elif recovering is Action.SKIP_GAP:
            assert state.expected is not None
            if seq >= state.expected:
                if seq > state.expected:
                    lost = TicksLost(state.owner, state.expected, seq - 1,
                                     "beyond the server's replay limit")
                    state.lost += lost.last - lost.first + 1
                    state.sink.put(lost)
                state.expected = seq
                self._deliver(state, ack_tick)
        elif recovering is Action.RESTART:
            assert state.expected is not None and state.t0 is not None
            state.restarts += 1
            state.sink.put(StreamRestarted(state.owner, state.t0, ack.t0, state.expected - 1))
            state.t0 = ack.t0
            state.params = ack.params
            state.expected = seq
            self._deliver(state, ack_tick)
        # a resume: ticks expected..seq follow in this frame, then live ticks

    def _out_of_order(self, state: StreamState, seq: int, event: dict[str, Any]) -> None:
        assert state.expected is not None
        if state.from_time:  # the first tick of a replay from a time: it sets the seq
            state.from_time = False
            state.expected = seq
            self._deliver(state, Tick(seq, event["price"], event["time"], state.owner,
                                      event.get("vol")))
            return
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
        self._deliver(state, Tick(seq, event["price"], event["time"], state.owner,
                                  event.get("vol")))

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

    def _on_lagging(self, event: events.Lagging) -> None:
        state = self._by_sub.get(event.sub)
        if state is None:
            return
        state.lagging += 1
        if state.from_time:  # the replay starts later than the time asked: from there
            state.from_time = False
            state.expected = event.seq
            return
        if not self.fill_gaps:
            return
        expected = state.expected
        if expected is not None and state.refetched_at == expected and event.seq > expected:
            # the resume sent for this gap starts after it: the server does not have those
            # ticks (never had them, or no longer): they are lost, not fetched again
            lost = TicksLost(state.owner, expected, event.seq - 1,
                             "the server does not have them")
            state.lost += lost.last - lost.first + 1
            state.sink.put(lost)
            state.expected = event.seq
            state.refetched_at = None
            return
        self._refetch(state)

    def _refetch(self, state: StreamState) -> None:
        """Fill a gap: replace the live subscription by a resume from the next seq expected.
        Ticks of the old one still in flight are ignored; the replay comes with the new ack."""
        state.refetches += 1
        state.refetched_at = state.expected
        old = state.server_sub
        if old is not None:
            del self._by_sub[old]
            state.server_sub = None
            self._unsubscribe(old, None)
        self._send_subscribe(state)

    def _on_end(self, event: events.End) -> None:
        state = self._by_sub.get(event.sub)
        if state is None:
            return
        assert state.expected is not None
        if state.expected <= event.seq and self.fill_gaps and not state.from_time:
            self._refetch(state)  # ticks are missing before the end: the resume replays them
            return
        del self._by_sub[event.sub]
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
        """Do what the recovery table says (:mod:`wire.recovery`)."""
        if state.terminal is not None:
            return
        action = recover(exc.code, exc.field, resuming=state.acked)
        if action is Action.RETRY:
            epoch = self.epoch
            self.retry.append(lambda: self._retry_subscribe(epoch, state))
            return
        if action in (Action.SKIP_GAP, Action.RESTART) and state.recovering is None:
            state.recovering = action
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
        spec = state.subscribe_spec()
        state.op_id = self._send(lambda op_id: commands.Subscribe(op_id, spec),
                                 _Op("subscribe", state=state))

    def _unsubscribe(self, sub: int, reply: Reply | None) -> None:
        self._send(lambda op_id: commands.Unsubscribe(op_id, sub),
                   _Op("unsubscribe", sub=sub, reply=reply))

    def _send(self, command: Callable[[int], commands.Command], op: _Op) -> int:
        op_id = self._next_id
        self._next_id += 1
        if self.connected:
            self._ops[op_id] = op
            self._in_flight.append(op_id)
            self.outbox.append(commands.encode(command(op_id)))
        elif op.reply is not None:
            op.reply(ConnectionLost(None, "not connected"))
        return op_id


def _short(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
