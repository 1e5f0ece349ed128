"""One connection's state machine: client frames in, the bytes of server frames out, no I/O.

It owns its output the way websockets' protocol objects do: :meth:`Session.receive` takes a
client frame and ``now``; the hub hands it ticks through :meth:`Session.deliver` and
:meth:`Session.deliver_ticks`; the I/O layer asks :meth:`Session.data_to_send` for the next
frame's bytes and tells :meth:`Session.buffered` how many bytes wait in the transport. Bad
input becomes an ``error`` event; no exception escapes.

The whole slow-reader policy lives here (:meth:`Session.buffered`). A reader is behind when
more than ``max_send_buffer`` bytes wait in the transport, or when what it was sent has waited
unread for more than ``max_lag`` seconds (the I/O layer measures that with pings that queue
behind the data, so a backlog in the kernel or in the client's own buffers counts too). Behind,
the session keeps only the newest tick of each subscription; once the backlog is down to a
quarter of both bounds it sends, per subscription, ``lagging`` (with the exact number
skipped), the newest tick and any ``end``; a reader that stays behind for
``slow_consumer_timeout`` gets a close request with code 4008, and so does a conflating one
for which more than ``HOLD_AT_MOST * max_send_buffer`` bytes wait (the replies to its
operations: they are never dropped).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from simulation import CatchUp, ParamError, PathCursor
from simulation.params import model_params, pick_seed
from simulation.walk import REMEDY
from streamer import schedule
from streamer.config import CATCHUP_STEPS_PER_OP, ServerConfig
from streamer.hub import Hub, Stream
from streamer.replay import Replay
from wire import commands, events
from wire.errors import CommandError
from wire.frames import server_frame
from wire.names import (
    GBM,
    MODEL_PARAMS,
    STREAM_DEFAULTS,
    CloseCode,
    ErrorCode,
    EventType,
    python_name,
)
from wire.pacing import TokenBucket
from wire.values import check_seed, show


#: Conflation bounds the ticks that wait for a connection, not the replies to its operations,
#: which are never dropped: a conflating client that goes on sending operations and reads
#: nothing is closed (4008) once this many times ``max_send_buffer`` bytes wait, instead of
#: being buffered without end. (One big frame of ticks, after the event loop was held up, only
#: starts conflation.)
HOLD_AT_MOST = 2

#: Replay ticks made at once when there is no limit, and the size of one (bytes, for ``room``).
REPLAY_CHUNK = 10_000
REPLAY_TICK_BYTES = 80


def websocket_frame(parts: Sequence[str]) -> bytes:
    """A WebSocket text frame carrying the JSON array of ``parts``."""
    return server_frame(events.payload(parts))


@dataclass(eq=False, slots=True)
class Subscription:
    sub: int
    stream: Stream


@dataclass(eq=False, slots=True)
class _Resume:
    """A subscribe that waits for a catch-up (:meth:`Session.work`): a private stream's, or
    the walk of a market symbol up to the start of a ``pace: "asap"`` replay (``symbol``)."""
    cmd: commands.Subscribe
    walk: CatchUp
    t0: float
    interval: float
    symbol: Stream | None = None


class Session:
    """The protocol state of one connection.

    ``frame`` turns the encoded events of one frame into the bytes to write: a WebSocket text
    frame of their JSON array by default (:func:`websocket_frame`); the SSE door writes them as
    server-sent events, and an in-memory transport takes the array's text as it is
    (:func:`wire.events.payload`). ``phase`` (s) places the connection's private streams on
    its own instants (see :func:`schedule.phase`).
    """

    #: One of these per connection: slots, not a dict.
    __slots__ = ("_behind_since", "_bucket", "_ended", "_first_seq", "_latest", "_next_sub",
                 "_parts", "_refused_in_a_row", "_replaying", "_replays", "_resume",
                 "close_request", "config", "frame", "hub", "phase", "subs")

    def __init__(self, hub: Hub, config: ServerConfig, now: float = 0.0, *,
                 frame: Callable[[Sequence[str]], bytes] | None = None,
                 phase: float = 0.0) -> None:
        self.hub = hub
        self.config = config
        self.phase = phase
        self.subs: dict[int, Subscription] = {}
        self.frame = websocket_frame if frame is None else frame
        """How this session's events become bytes (the I/O layer caches frames per framing)."""
        self._parts: list[str] = []
        self._next_sub = 1
        self._bucket = TokenBucket(config.max_ops_per_second, config.ops_burst, now)
        self._refused_in_a_row = 0
        self.close_request: tuple[CloseCode, str] | None = None
        """``(code, reason)`` once the connection must be closed (the I/O layer does it)."""
        self._behind_since: float | None = None
        self._latest: dict[int, tuple[int, str]] = {}
        """While conflating: the newest tick of each subscription, ``(seq, text)``."""
        self._first_seq: dict[int, int] = {}
        """While conflating: the seq of each subscription's first tick kept. Live ticks have
        consecutive seqs, so ``newest - first`` of them were dropped."""
        self._ended: dict[int, str] = {}
        self._replays: list[Replay] = []
        """Replays in the order they are sent (one at a time), produced as room allows."""
        self._replaying: dict[int, Replay] = {}
        self._resume: _Resume | None = None

    @property
    def has_subscribed(self) -> bool:
        return self._next_sub > 1

    @property
    def conflating(self) -> bool:
        """True while the connection reads too slowly: only each subscription's newest tick
        is kept (see :meth:`buffered`)."""
        return self._behind_since is not None

    @property
    def busy(self) -> bool:
        """A subscribe waits for the catch-up of its stream: the I/O layer calls :meth:`work`,
        once a turn of its event loop, until it is done, and hands :meth:`receive` nothing
        meanwhile (operations are carried out in order)."""
        return self._resume is not None

    def work(self) -> bool:
        """Take the next :data:`~streamer.config.CATCHUP_STEPS_PER_OP` steps of the pending
        catch-up; once it is done, answer its subscribe. True when nothing is pending."""
        resume = self._resume
        if resume is None:
            return True
        if not resume.walk.run(CATCHUP_STEPS_PER_OP):
            return False
        self._resume = None
        try:
            if resume.symbol is not None:  # the replay regenerates the symbol's path
                stream = resume.symbol
                self._check_budget(resume.cmd, stream.interval)  # it may have changed since
                self._attach(resume.cmd, stream, self.hub.current(stream)[0],
                             resume.walk.first, resume.walk.cursor)
            else:
                self._attach(resume.cmd, *self._start_private(resume))
        except CommandError as exc:
            self.reject(exc)
        return True

    # --- input --------------------------------------------------------------------------------

    def receive(self, raw: str | bytes, now: float) -> None:
        """Handle one text frame from the client (ignored once a close is requested)."""
        if self.close_request is not None:
            return
        try:
            self._take_token(now, raw)
            limit = self.config.max_message_bytes
            size = len(raw)
            if isinstance(raw, str) and size * 4 > limit:  # UTF-8 is up to 4 bytes a character
                size = len(raw.encode(errors="surrogatepass"))
            if size > limit:
                raise CommandError(ErrorCode.LIMIT_EXCEEDED, f"message is {size} bytes; the "
                                   f"limit is {limit}")
            self._dispatch(commands.parse(raw), now)
        except CommandError as exc:
            self.reject(exc)

    def receive_binary(self, data: bytes, now: float) -> None:
        """Handle a binary frame, which the protocol does not use."""
        if self.close_request is not None:
            return
        try:
            self._take_token(now)
            raise CommandError(ErrorCode.BAD_REQUEST, f"binary frames are not accepted "
                               f"({len(data)} bytes); send each JSON message as a text frame")
        except CommandError as exc:
            self.reject(exc)

    def reject(self, exc: CommandError) -> None:
        self.hub.errors[exc.code.value] += 1  # plain str: /healthz encodes it as a key
        self._emit(events.Error.of(exc))

    def _take_token(self, now: float, raw: str | bytes | None = None) -> None:
        """The rate limit: ``ops_burst`` operations at once, ``max_ops_per_second`` after."""
        if self._bucket.take(now):
            self._refused_in_a_row = 0
            return
        config = self.config
        self._refused_in_a_row += 1
        if self._refused_in_a_row > config.flood_limit:
            self.close_request = (CloseCode.POLICY, "kept flooding after rate_limited")
        raise CommandError(ErrorCode.RATE_LIMITED, f"more than {config.max_ops_per_second:g} "
                           f"operations a second (burst {config.ops_burst}); this one was not "
                           "carried out", None, commands.id_of(raw))

    def _charge(self, cmd: commands.Subscribe, steps: int, now: float,
                field: str = "t0") -> None:
        """Resuming far back costs extra operations: one per ``CATCHUP_STEPS_PER_OP`` steps."""
        cost = steps // CATCHUP_STEPS_PER_OP
        if cost and not self._bucket.take(now, cost):
            raise CommandError(ErrorCode.RATE_LIMITED, f"resuming this stream means computing "
                               f"{steps} steps, which costs {cost} operations of the rate "
                               f"limit; {int(self._bucket.tokens)} are available now", field,
                               cmd.id)

    def close(self) -> None:
        """The connection is gone (or is being closed): release every subscription."""
        for subscription in list(self.subs.values()):
            self.hub.detach(subscription.stream, self, subscription.sub)
        self.subs.clear()
        self._latest.clear()
        self._first_seq.clear()
        self._ended.clear()
        self._replays.clear()
        self._replaying.clear()
        self._resume = None

    # --- the hub's side -----------------------------------------------------------------------

    def deliver(self, sub: int, seq: int, text: str) -> bool:
        """Take tick ``seq`` of ``sub`` (its encoded text). True when the session had nothing
        to send before, so that the hub lists it among the connections to write."""
        replaying = self._replaying
        if replaying and sub in replaying:
            replaying[sub].hold(seq, text)
            return False
        if self._behind_since is None:
            parts = self._parts
            parts.append(text)
            return len(parts) == 1
        self._conflate(sub, seq, text)
        return False

    def deliver_ticks(self, texts: Sequence[str], subs: Any, seqs: Any) -> bool:
        """:meth:`deliver` for several ticks at once (``subs`` and ``seqs`` are numpy arrays,
        read only while conflating)."""
        if self._replaying:  # rare: some of these subscriptions are still replaying
            empty = not self._parts
            for sub, seq, text in zip(subs.tolist(), seqs.tolist(), texts):
                self.deliver(sub, seq, text)
            return empty and bool(self._parts)
        if self._behind_since is not None:  # in C-level bulk: a slow reader costs the least
            sub_list, seq_list = subs.tolist(), seqs.tolist()
            latest = self._latest
            before = len(latest)
            latest.update(zip(sub_list, zip(seq_list, texts)))
            self.hub.conflated += len(sub_list) - (len(latest) - before)
            self._first_seq = dict(zip(sub_list, seq_list)) | self._first_seq  # the first seq stays
            return False
        parts = self._parts
        empty = not parts
        parts.extend(texts)
        return empty

    def deliver_end(self, sub: int, text: str) -> bool:
        """The stream of ``sub`` sent its last event (``text``, an ``end``): forget it."""
        replay = self._replaying.get(sub)
        if replay is not None:  # it goes out after the replay
            replay.end = text
            return False
        self.subs.pop(sub, None)
        if self._behind_since is not None:
            self._ended[sub] = text
            return False
        parts = self._parts
        parts.append(text)
        return len(parts) == 1

    def deliver_gap(self, sub: int, skipped: int, seq: int) -> bool:
        """The stream of ``sub`` skipped ``skipped`` ticks before ``seq`` (a third party's
        symbol): ``lagging`` goes out before that tick. A replay finds the gap itself (the
        ring starts again after it); while conflating, the ``lagging`` of the catch-up counts
        these ticks too."""
        if sub in self._replaying:
            return False
        if self._behind_since is not None:
            self._first_seq.setdefault(sub, seq - skipped)
            return False
        parts = self._parts
        parts.append(events.Lagging(sub, skipped, seq).encode())
        return len(parts) == 1

    def _conflate(self, sub: int, seq: int, text: str) -> None:
        latest = self._latest
        if sub in latest:
            self.hub.conflated += 1
        else:
            self._first_seq.setdefault(sub, seq)  # a gap announced before may have set it
        latest[sub] = (seq, text)

    # --- output -------------------------------------------------------------------------------

    def data_to_send(self, frames: dict[str, bytes] | None = None,
                     room: int | None = None) -> bytes:
        """The bytes of one frame with everything gathered since the last call (``b""`` when
        there is nothing), and as much of the pending replays as ``room`` bytes allow (all of
        them when ``room`` is ``None``; the I/O layer passes what its transport can take).
        ``frames`` caches, for one instant, the bytes of frames made of a single event: every
        subscriber of a symbol with the same ``sub`` number gets the same bytes, built once."""
        if self._replays and (room is None or room > 0):
            self._replay(room)
        parts = self._parts
        if not parts:
            return b""
        if frames is not None and len(parts) == 1:
            wire = frames.get(parts[0])
            if wire is None:
                wire = frames[parts[0]] = self.frame(parts)
        else:
            wire = self.frame(parts)
        parts.clear()
        return wire

    def refusal(self) -> dict[str, Any] | None:
        """The error a refused subscribe got, taken out, when that is all the session has to
        send (the SSE door answers it as a plain HTTP error); ``None`` otherwise."""
        parts = self._parts
        if self.subs or len(parts) != 1 or events.type_of(parts[0]) != EventType.ERROR:
            return None
        error: dict[str, Any] = orjson.loads(parts.pop())
        return error

    @property
    def has_ticks_to_send(self) -> bool:
        """Ticks wait to be sent (gathered, or in a replay)."""
        return bool(self._replays) or any(events.type_of(part) == EventType.TICK
                                          for part in self._parts)

    @property
    def replaying(self) -> bool:
        """True while replays wait for room to be sent."""
        return bool(self._replays)

    def _replay(self, room: int | None) -> None:
        """Append replay ticks to the frame: about ``room`` bytes of them."""
        budget = None if room is None else max(1, room // REPLAY_TICK_BYTES)
        while self._replays and (budget is None or budget > 0):
            replay = self._replays[0]
            texts = replay.produce(self.hub, REPLAY_CHUNK if budget is None
                                   else min(budget, REPLAY_CHUNK))
            self._parts.extend(texts)
            self.hub.replayed += len(texts)
            if budget is not None:
                budget -= max(1, len(texts))
            if replay.done:
                self._replays.pop(0)
                del self._replaying[replay.sub]
                if replay.end is not None:
                    self.subs.pop(replay.sub, None)

    def buffered(self, size: int, now: float, lag: float = 0.0, *, drained: bool = True) -> None:
        """``size`` bytes wait in the transport, what was sent has waited ``lag`` seconds
        unread, and the client has (``drained``) or may not have read all it was sent: the
        slow-reader policy (module docstring)."""
        if self.close_request is not None:
            return
        config = self.config
        since = self._behind_since
        if since is not None and size > HOLD_AT_MOST * config.max_send_buffer:
            # conflating, so what still grows is replies, which are never dropped
            self._behind_since = None
            self.close_request = (CloseCode.SLOW_CONSUMER, f"slow consumer: {size} bytes unread, "
                                  f"over {HOLD_AT_MOST} times the {config.max_send_buffer} "
                                  "allowed")
            self.close()
            return
        if since is None:
            if size > config.max_send_buffer or lag > config.max_lag:
                self._behind_since = now
        elif size <= config.max_send_buffer // 4 and lag <= config.max_lag / 4 and drained:
            self._catch_up()
        elif now - since > config.slow_consumer_timeout:
            self._behind_since = None
            self.close_request = (CloseCode.SLOW_CONSUMER, f"slow consumer: behind for over "
                                  f"{config.slow_consumer_timeout:g}s")
            self.close()  # nothing more for it, conflated or not

    def _catch_up(self) -> None:
        """Queue, per subscription, ``lagging`` (when ticks were skipped), the newest tick and
        any ``end``; then ticks go out as they come again."""
        first = self._first_seq
        for sub, (seq, tick) in self._latest.items():
            skipped = seq - first[sub]
            if skipped:
                self._emit(events.Lagging(sub, skipped, seq))
            self._parts.append(tick)
        self._parts.extend(self._ended.values())
        self._latest.clear()
        self._first_seq.clear()
        self._ended.clear()
        self._behind_since = None

    # --- operations ---------------------------------------------------------------------------

    def _dispatch(self, cmd: commands.Command, now: float) -> None:
        if isinstance(cmd, commands.Subscribe):
            self._subscribe(cmd, now)
        elif isinstance(cmd, commands.Unsubscribe):
            subscription = self.subs.pop(cmd.sub, None)
            if subscription is None:
                raise CommandError(ErrorCode.UNKNOWN_SUBSCRIPTION,
                                   f"no subscription {cmd.sub} on this connection", "sub", cmd.id)
            self.hub.detach(subscription.stream, self, cmd.sub)
            for pending in (self._latest, self._first_seq, self._ended):
                pending.pop(cmd.sub, None)
            replay = self._replaying.pop(cmd.sub, None)
            if replay is not None:
                self._replays.remove(replay)
            self._emit(events.Unsubscribed(cmd.id, cmd.sub))
        elif isinstance(cmd, commands.ListSubscriptions):
            self._emit(events.Subscriptions(cmd.id, [
                events.SubscriptionEntry(s.sub, s.stream.symbol, self.hub.current(s.stream)[0],
                                         s.stream.describe())
                for s in self.subs.values()]))
        elif isinstance(cmd, commands.ListSymbols):
            self._emit(events.Symbols(cmd.id, [
                events.SymbolEntry(stream.symbol or "", stream.t0, stream.describe(),
                                   *self.hub.current(stream), self.hub.vol(stream))
                for stream in self.hub.symbols]))
        else:
            self._emit(events.Pong(cmd.id, round(now, 6)))

    def _subscribe(self, cmd: commands.Subscribe, now: float) -> None:
        config = self.config
        spec = cmd.spec
        if len(self.subs) >= config.max_subscriptions:
            raise CommandError(ErrorCode.LIMIT_EXCEEDED, f"a connection may hold at most "
                               f"{config.max_subscriptions} subscriptions", None, cmd.id)
        conflict = spec.conflict()
        if conflict is not None and conflict.field == "history":
            raise CommandError.invalid(conflict.field, conflict.message, cmd.id)
        if spec.history is not None and not 0 <= spec.history <= config.max_history:
            raise CommandError.invalid("history", f"history must be 0..{config.max_history}, "
                                       f"got {show(spec.history)}", cmd.id)
        if spec.from_seq is not None and spec.from_seq < 0:
            raise CommandError.invalid("fromSeq", f"fromSeq must be >= 0, got "
                                       f"{show(spec.from_seq)}", cmd.id)
        if conflict is not None and spec.symbol is not None:
            raise CommandError.invalid(conflict.field, conflict.message, cmd.id)
        if spec.symbol is not None:
            opened = self._open_symbol(cmd, now)
            if isinstance(opened, _Resume):  # a replay from before the ring: walked first
                self._resume = opened
                self.work()
            else:
                self._attach(cmd, *opened)
        else:  # its catch-up is done a piece per turn, this one the first
            self._resume = self._open_private(cmd, now)
            self.work()

    def _attach(self, cmd: commands.Subscribe, stream: Stream, seq: int, first: int,
                cursor: PathCursor | None) -> None:
        """Subscribe to ``stream`` at ``seq``, replaying from ``first``."""
        sub = self._next_sub
        self._next_sub += 1
        self.subs[sub] = Subscription(sub, stream)
        self.hub.attach(stream, self, sub)
        _, price, at = self.hub.current(stream)
        if stream.outside is None:  # a computed stream's tick time is its schedule's
            at = schedule.instant(stream.t0, stream.interval, seq)
        self._emit(events.Subscribed(cmd.id, sub, stream.symbol, seq, price, at, stream.t0,
                                     stream.describe(), self.hub.vol(stream)))
        finished = self.hub.finished(stream)
        asap = cmd.spec.pace == "asap"
        if asap and first > seq:  # nothing to replay: said at once
            self._emit(events.Replayed(sub, seq))
        if first <= seq:
            replay = Replay(sub, stream, first, seq, cursor, announce=asap)
            if finished:
                replay.end = events.End(sub, seq, stream.end_reason).encode()
            self._replays.append(replay)
            self._replaying[sub] = replay
        elif finished:
            self._emit(events.End(sub, seq, stream.end_reason))
            del self.subs[sub]
        if finished:
            self.hub.detach(stream, self, sub)

    def _check_budget(self, cmd: commands.Subscribe, interval: float) -> None:
        """The server's budget of ticks a second, all subscriptions together (checked before
        any work is done for the subscribe)."""
        rate = 1.0 / interval
        budget = self.config.max_ticks_per_second
        if self.hub.tick_rate + rate > budget:
            raise CommandError(ErrorCode.LIMIT_EXCEEDED, f"this stream's {rate:g} ticks a second "
                               f"would take the server past its budget of {budget:g} a second "
                               f"(its subscriptions take {self.hub.tick_rate:g} now)", None,
                               cmd.id)

    def _open_symbol(self, cmd: commands.Subscribe, now: float,
                     ) -> tuple[Stream, int, int, None] | _Resume:
        spec = cmd.spec
        assert spec.symbol is not None
        stream = self.hub.symbol(spec.symbol)
        if stream is None:
            raise CommandError(ErrorCode.UNKNOWN_SYMBOL, f"unknown symbol {show(spec.symbol)}; "
                               "the symbols op lists the market", "symbol", cmd.id)
        model = None if stream.params is None else stream.params.name
        if spec.model is not None and spec.model != model:
            kind = (f"a {model} symbol" if model is not None else "a third party's symbol "
                    "(its prices come from the bus, not from a model)")
            raise CommandError.invalid("model", f"{spec.symbol} is {kind}, got model "
                                       f"{show(spec.model)}", cmd.id)
        self._check_budget(cmd, stream.interval)
        if spec.t0 is not None and spec.t0 != stream.t0:
            why = ("its publisher started a new numbering" if stream.outside is not None
                   else "the market's session changed")
            raise CommandError.invalid("t0", f"t0 of {spec.symbol} is {stream.t0!r}, got "
                                       f"{show(spec.t0)}: {why}, so its seq numbers name other "
                                       "ticks", cmd.id)
        seq = self.hub.current(stream)[0]
        first = self._first(cmd, seq, stream)
        if first >= self.hub.oldest_kept(stream) or spec.pace != "asap" or (
                stream.outside is not None):  # a third party's: only what the ring holds
            return stream, seq, first, None
        if self.hub.in_group(stream):
            raise CommandError(ErrorCode.LIMIT_EXCEEDED, f"{spec.symbol} is one of a correlated "
                               "group, whose replay reaches back as far as the server keeps "
                               f"ticks: from seq {self.hub.oldest_kept(stream)}", "fromSeq",
                               cmd.id)
        assert stream.params is not None and stream.seed is not None
        self._charge(cmd, first, now, "fromSeq")
        return _Resume(cmd, CatchUp(stream.params, stream.seed, first, first), stream.t0,
                       stream.interval, stream)

    def _open_private(self, cmd: commands.Subscribe, now: float) -> _Resume:
        config = self.config
        spec = cmd.spec
        conflict = spec.conflict()
        if conflict is not None:
            raise CommandError.invalid(conflict.field, conflict.message, cmd.id)
        kind = spec.model or GBM
        given = {name: value for name in MODEL_PARAMS[kind]
                 if (value := getattr(spec, python_name(name))) is not None}
        try:
            params = model_params(kind, given)
            seed = check_seed(spec.seed, error=ParamError) if spec.seed is not None else pick_seed()
        except ParamError as exc:
            raise CommandError.invalid(exc.field, exc.message, cmd.id) from None
        interval = STREAM_DEFAULTS["interval"] if spec.interval is None else spec.interval
        if not config.min_interval <= interval <= config.max_interval:  # False for NaN too
            raise CommandError.invalid("interval", f"interval must be a number of seconds from "
                                       f"{config.min_interval:g} to {config.max_interval:g}, "
                                       f"got {show(interval)}", cmd.id)
        interval = float(interval)
        if self.hub.private_streams >= config.max_streams:
            raise CommandError(ErrorCode.LIMIT_EXCEEDED, f"the server runs its maximum of "
                               f"{config.max_streams} private streams; try later", None, cmd.id)
        self._check_budget(cmd, interval)
        if spec.periods is not None and not 1 <= spec.periods <= config.max_periods:
            raise CommandError.invalid("periods", f"periods must be 1..{config.max_periods} or "
                                       f"null, got {show(spec.periods)}", cmd.id)
        if spec.t0 is None:
            # aligned a hair ahead, so that a new stream always starts at seq 0, its start price
            t0 = schedule.aligned_t0(now + schedule.DUE_SLACK, interval, self.phase)
        else:
            try:
                t0 = float(spec.t0)
            except OverflowError:  # an integer of hundreds of digits
                t0 = math.nan
            if not 0 <= t0 <= now + schedule.DUE_SLACK:  # False for NaN too
                raise CommandError.invalid("t0", f"t0 must be epoch seconds not in the future, "
                                           f"got {show(spec.t0 if math.isnan(t0) else t0)}",
                                           cmd.id)
        seq = max(schedule.current_seq(t0, interval, now), 0)
        if spec.periods is not None:
            seq = min(seq, spec.periods - 1)
        if seq > config.max_catchup:
            raise CommandError(ErrorCode.LIMIT_EXCEEDED, f"resuming from t0 {t0!r} means "
                               f"computing {seq} steps; the limit is {config.max_catchup}", "t0",
                               cmd.id)
        self._charge(cmd, seq, now)
        first = self._first(cmd, seq, None, t0, interval)
        return _Resume(cmd, CatchUp(params, seed, seq, first), t0, interval)

    def _start_private(self, resume: _Resume) -> tuple[Stream, int, int, PathCursor | None]:
        """The stream a finished catch-up reached (ticks due meanwhile follow at once)."""
        walk = resume.walk
        if walk.left is not None:
            seq, reason = walk.left
            raise CommandError.invalid("t0", f"this stream's price leaves the range of normal "
                                       f"doubles at seq {seq} ({reason}), before its current "
                                       f"seq {walk.seq}: it ended; {REMEDY[reason]}",
                                       resume.cmd.id)
        stream = self.hub.open_caught_up(walk, resume.t0, resume.interval,
                                         resume.cmd.spec.periods)
        return stream, walk.seq, walk.first, walk.cursor

    def _first(self, cmd: commands.Subscribe, seq: int, stream: Stream | None,
               t0: float = 0.0, interval: float = 1.0) -> int:
        """The first tick to replay before live ticks (``seq + 1`` when there is none), of a
        symbol's ``stream`` or of a private stream of ``t0`` and ``interval``."""
        spec = cmd.spec
        from_seq = spec.from_seq
        if spec.from_time is not None:
            from_seq = self._seq_at(cmd, spec.from_time, seq, stream, t0, interval)
        if from_seq is not None:
            name = "fromSeq" if spec.from_time is None else "fromTime"
            if from_seq > seq + 1:
                raise CommandError.invalid(name, f"{name} {show(getattr(spec, python_name(name)))}"
                                           f" is ahead of the stream, whose current seq is "
                                           f"{seq}", cmd.id)
            replay = seq + 1 - from_seq
            if replay > self.config.max_replay and spec.pace != "asap":
                raise CommandError(ErrorCode.LIMIT_EXCEEDED, f"fromSeq {spec.from_seq} would "
                                   f"replay {replay} ticks; the limit is "
                                   f"{self.config.max_replay} (pace \"asap\" has none)", name,
                                   cmd.id)
            return from_seq
        if spec.history:
            return max(0, seq - spec.history + 1)
        return seq + 1

    def _seq_at(self, cmd: commands.Subscribe, when: float, seq: int, stream: Stream | None,
                t0: float, interval: float) -> int:
        """The first seq whose tick time is at or after ``when`` (``seq + 2`` when none is
        yet: ahead of the stream)."""
        if not math.isfinite(when) or when < 0:
            raise CommandError.invalid("fromTime", f"fromTime must be epoch seconds, got "
                                       f"{show(when)}", cmd.id)
        if stream is not None:
            if stream.outside is not None:  # a third party's times are its own: the ring's
                oldest = self.hub.oldest_kept(stream)
                times = self.hub.recent_times(stream, oldest, seq)
                return oldest + int(np.searchsorted(times, when, side="left"))
            t0, interval = stream.t0, stream.interval
        return min(schedule.first_at(t0, interval, when), seq + 2)

    def _emit(self, event: events.Event) -> None:
        self._parts.append(event.encode())
