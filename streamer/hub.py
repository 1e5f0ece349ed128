"""The hub: every stream the server runs, and who gets which tick.

It owns a :class:`~simulation.bank.StreamBank` (prices), the schedule of each stream (``t0``,
``interval``, the instant of its next tick) as numpy arrays indexed by the bank's slots, and
each stream's subscribers. :meth:`Hub.advance` steps every stream that is due at ``now`` in
one vectorised operation per instant and gathers the encoded ticks per connection, so the I/O
layer writes one frame per connection per instant. No I/O, no clock: ``now`` is an argument.

A gateway's hub is *fed* by the bus (:meth:`Hub.feed`): the market's symbols step to the ticks
the bus carries, and a third party's symbols (ticks on the bus for a symbol the market does
not define) are served as they come, from a ring of what the bus carried (:class:`Outside`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from simulation import CatchUp, Market, MarketError, ModelParams, PathCursor, StreamBank, SymbolSpec
from simulation.market import Group
from simulation.walk import GroupWalk, out_of_range, why_out
from streamer import schedule
from streamer.bus import BusTick
from wire import events
from wire.names import EndReason

#: Most instants, and most stream steps (a round takes every stream due at its instant, so
#: at least one round is done), one call of :meth:`Hub.advance` catches up on; the rest waits
#: for the next call. The server makes that call as soon as the event loop has run what else
#: is ready, so a server that is behind still answers (about 10-30 ms of work per call).
MAX_ROUNDS = 1_000
MAX_STEPS = 50_000

#: A third party's symbols a gateway serves at most (each keeps a ring of its recent ticks);
#: the ticks of any more are counted in :attr:`Hub.unknown` and dropped.
MAX_OUTSIDE = 1_000
#: Ticks a third party's symbol keeps for ``history`` and ``fromSeq`` at most (fewer when the
#: server keeps fewer for its own symbols): 160 KB a symbol, 24 with ``vol``.
OUTSIDE_RING = 10_000
#: The shortest interval a gateway takes from a third party's first two ticks (two ticks sent
#: together say little of the rate that follows).
MIN_OUTSIDE_INTERVAL = 0.001
#: The ``model`` a third party's symbol reports in its ``params``.
OUTSIDE_MODEL = "external"

_NEVER = np.inf


class Peer(Protocol):
    """One connection as the hub sees it (the session implements it). Each method returns
    True when the connection had nothing to send before, so that it is listed once among the
    connections to write after this instant."""

    def deliver(self, sub: int, seq: int, text: str) -> bool:
        """Take tick ``seq`` of subscription ``sub``, encoded as ``text``."""

    def deliver_ticks(self, texts: Sequence[str], subs: np.ndarray, seqs: np.ndarray) -> bool:
        """Take several ticks at once; ``subs`` and ``seqs`` give each one's subscription and
        seq."""

    def deliver_end(self, sub: int, text: str) -> bool:
        """The stream of ``sub`` sent its last event, ``text``; forget the subscription."""

    def deliver_gap(self, sub: int, skipped: int, seq: int) -> bool:
        """The stream of ``sub`` skipped ``skipped`` ticks before tick ``seq`` (a third
        party's symbol whose publisher skipped them): announce it before that tick."""


Deliver = Callable[[int, int, str], bool]
#: ``(streams, seqs, prices, times, vols)`` of the symbols' ticks of one instant.
Listener = Callable[[list["Stream"], np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None"],
                    None]


class Outside:
    """What the bus carried of a third party's symbol: its newest ``seq`` and a ring of its
    recent ticks (price, time, vol), kept from :attr:`first` on without a hole."""

    __slots__ = ("seq", "first", "prices", "times", "vols", "ended")

    def __init__(self, size: int) -> None:
        self.seq = -1
        """The newest tick's seq (-1 before the first)."""
        self.first = 0
        """The oldest seq kept: every tick from here to :attr:`seq` is in the ring."""
        self.prices = np.zeros(size)  # pages the ring has not reached yet cost nothing
        self.times = np.zeros(size)
        self.vols: np.ndarray | None = None
        """Made at the first tick with a ``vol`` (NaN where a tick has none)."""
        self.ended = False
        """Its publisher started a new numbering (a new ``t0``): nothing more comes."""

    def put(self, tick: BusTick) -> None:
        at = tick.seq % len(self.prices)
        self.prices[at] = tick.price
        self.times[at] = tick.time
        vols = self.vols
        if vols is None and tick.vol is not None:
            vols = self.vols = np.full(len(self.prices), np.nan)
        if vols is not None:
            vols[at] = np.nan if tick.vol is None else tick.vol

    def holds(self, tick: BusTick) -> bool:
        """Whether the ring has this very tick (the history read at a gateway's start and the
        live ticks may both carry one)."""
        if not self.oldest() <= tick.seq <= self.seq:
            return False
        at = tick.seq % len(self.prices)
        return bool(self.prices[at] == tick.price and self.times[at] == tick.time)

    def oldest(self) -> int:
        """The oldest seq still in the ring."""
        return max(self.first, self.seq - len(self.prices) + 1)

    def take(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(prices, times, vols)`` of ticks ``first`` to ``last`` (kept, the caller checked;
        ``vols`` is ``None`` when no tick had one)."""
        at = np.arange(first, last + 1) % len(self.prices)
        return self.prices[at], self.times[at], None if self.vols is None else self.vols[at]


@dataclass(eq=False)
class Stream:
    """A running stream: a bank slot, how it was defined, and who listens to it. A third
    party's symbol has no slot (-1), no model (``params`` and ``seed`` are ``None``) and an
    :class:`Outside` instead."""

    slot: int
    params: ModelParams | None
    seed: int | None
    interval: float
    t0: float
    periods: int | None
    symbol: str | None = None
    end_reason: EndReason | None = None
    """Why a stream that ended early ended (a symbol out of range at the server's start)."""
    subscribers: dict[tuple[Peer, int], tuple[str, Deliver]] = field(default_factory=dict)
    """``(peer, sub) -> (tick head, peer.deliver)`` of every subscription to this stream (a
    private stream has at most one). The bound method is kept, not looked up per tick."""
    outside: Outside | None = None
    _described: dict[str, object] | None = field(default=None, init=False, repr=False)

    def describe(self) -> dict[str, object]:
        """The effective parameters, as the protocol reports them: made once per stream, and
        shared (every caller only encodes it; none may change it)."""
        described = self._described
        if described is None:
            model = ({"model": OUTSIDE_MODEL} if self.params is None else
                     {"model": self.params.name, **self.params.values()})
            described = self._described = {**model, "interval": self.interval,
                                           "seed": self.seed, "periods": self.periods}
        return described


class Hub:
    """All streams of one server: the shared market symbols and the private streams."""

    def __init__(self, market: Market, now: float, *, ring: int, fed: bool = False) -> None:
        """Start every symbol of ``market`` at its current tick; keep its last ``ring`` ticks
        (at least the largest ``history`` or ``fromSeq`` replay the server allows).

        ``fed`` (a gateway's hub): the symbols do not follow the local clock but the bus, one
        tick at a time as :meth:`feed` is told of it; each is still computed here, so a tick
        the bus skipped is filled with its own bits, and every tick the bus carries is
        checked against the one computed."""
        self.bank = StreamBank()
        self._t0 = np.zeros(0)
        self._interval = np.ones(0)
        self._due = np.zeros(0)
        self._next_due: float | None = None
        """``next_due()`` as last computed; ``None`` once any instant changed."""
        self._last = np.zeros(0, dtype=np.int64)
        self._streams: dict[int, Stream] = {}
        self._symbols: dict[str, Stream] = {}
        self._ring_size = max(ring, 1)
        self._ring = np.zeros((len(market.symbols), self._ring_size))
        self._vol_ring = (np.full((len(market.symbols), self._ring_size), np.nan)
                          if any(spec.params.name == "heston" for spec in market.symbols)
                          else None)
        """The symbols' volatilities, beside their prices (only when a symbol has any)."""
        self._ring_row = np.zeros(0, dtype=np.int64)
        # routing of private streams, vectorised: each has one subscriber, whose peer number,
        # tick head and sub are kept per slot (owner -1: a symbol, or nobody yet)
        self._owner = np.zeros(0, dtype=np.int64)
        self._head = np.empty(0, dtype=object)
        self._sub = np.zeros(0, dtype=np.int64)
        self._peer_ids: dict[Peer, int] = {}
        self._peers: list[Peer | None] = []
        self._peer_subs: list[int] = []
        self._free_ids: list[int] = []
        self._dirty: list[Peer] = []
        self.subscriptions = 0
        self.symbol_subscriptions = 0
        self.tick_rate = 0.0
        """Ticks a second the subscriptions receive, all together (each ``1 / interval``)."""
        self.ticks_stepped = 0
        """Stream steps taken."""
        self.ticks_routed = 0
        """Live ticks handed to subscribers (conflated ones included)."""
        self.conflated = 0
        """Ticks dropped for slow readers (each announced by ``lagging``)."""
        self.replayed = 0
        """Ticks sent from history or ``fromSeq`` before live ones."""
        self.errors: Counter[str] = Counter()
        """Error events sent, by code."""
        self.listener: Listener | None = None
        """Told every tick of the market's symbols, listened to or not (a publisher's)."""
        self.fed = fed
        self._allowed = np.full(0, -1, dtype=np.int64)
        """A fed symbol's newest seq on the bus: it is stepped up to there (-1: not fed)."""
        self._feeding = False
        """Fed ticks remain to be stepped (a call's limits were reached)."""
        self.fed_ticks = 0
        """Ticks read from the bus."""
        self.mismatches = 0
        """Ticks of the bus whose price or vol differs from the one computed here."""
        self.unknown: Counter[str] = Counter()
        """Ticks of the bus for symbols not served (a third party's beyond
        :data:`MAX_OUTSIDE`), by symbol."""
        self.out_of_order: Counter[str] = Counter()
        """Ticks of a third party's symbol refused for a ``seq`` not after its newest (with the
        same ``t0``), by symbol."""
        self._outside: dict[str, Stream] = {}
        """A third party's symbols, served as the bus carries them."""
        self._waiting: dict[str, BusTick] = {}
        """The first tick of a third party's symbol that did not say its ``interval``: it is
        served from its second tick, which gives the interval."""
        rows = {spec.symbol: row for row, spec in enumerate(market.symbols)}
        for group in market.groups:
            self._start_group(group, [market.symbols[rows[name]] for name in group.symbols],
                              [rows[name] for name in group.symbols], now)
        for row, spec in enumerate(market.symbols):
            if spec.symbol not in self._symbols:
                self._start_symbol(row, spec, now)
        self._symbols = {spec.symbol: self._symbols[spec.symbol] for spec in market.symbols}
        if fed:
            for stream in self._symbols.values():
                if self._due[stream.slot] != _NEVER:  # an ended one stays ended
                    self._allowed[stream.slot] = self.bank.seq[stream.slot]
                    self._due[stream.slot] = _NEVER
        self._groups: dict[int, list[int]] = {}
        """The slots of a correlated group's symbols, by the slot of each (stepped together)."""
        for group in market.groups:
            members = [self._symbols[name].slot for name in group.symbols]
            self._groups.update(dict.fromkeys(members, members))

    # --- streams ------------------------------------------------------------------------------

    def _start_symbol(self, row: int, spec: SymbolSpec, now: float) -> None:
        """Start a symbol at its current tick. One whose price has already left the normal
        doubles stays at its last normal tick, ended: it never sends an abnormal price."""
        seq = max(schedule.current_seq(spec.t0, spec.interval, now), 0)
        walk = CatchUp(spec.params, spec.seed, seq, max(seq - self._ring_size + 1, 0))
        walk.run(seq)
        left = walk.left
        if left is not None:  # walk again, to the tick before
            seq = left[0] - 1
            walk = CatchUp(spec.params, spec.seed, seq, max(seq - self._ring_size + 1, 0))
            walk.run(seq)
        assert walk.cursor is not None  # its first is at most seq
        recent, vols = walk.cursor.take(seq - walk.first + 1)
        stream = self._register(self.bank.add_caught_up(walk), spec.params, spec.seed, spec.t0,
                                spec.interval, None, seq, spec.symbol)
        if left is not None:
            stream.end_reason = EndReason(left[1])
            self._due[stream.slot] = _NEVER
        self._keep_symbol(stream, row, seq, recent, vols)

    def _start_group(self, group: Group, specs: list[SymbolSpec], rows: list[int],
                     now: float) -> None:
        """Start a correlated group's symbols together at their current tick."""
        first_spec = specs[0]
        seq = max(schedule.current_seq(first_spec.t0, first_spec.interval, now), 0)
        tail = min(seq + 1, self._ring_size)
        walk = GroupWalk([(spec.params, spec.seed) for spec in specs], group.lower)
        first = seq - tail + 1
        if first > 0:
            walk.take(first - 1)
        prices, vols = walk.stretch(first, tail)
        for w, spec in zip(walk.walks, specs):
            if w.left is not None:
                raise MarketError(f"symbol {spec.symbol} of group {group.name} leaves the "
                                  f"normal doubles at seq {w.left[0]} ({w.left[1]}); a "
                                  "group's symbols must stay in range")
        for i, (slot, spec, row) in enumerate(zip(self.bank.add_group(walk), specs, rows)):
            stream = self._register(slot, spec.params, spec.seed, spec.t0, spec.interval,
                                    None, seq, spec.symbol)
            self._keep_symbol(stream, row, seq, prices[i], None if vols is None else vols[i])

    def _keep_symbol(self, stream: Stream, row: int, seq: int, recent: np.ndarray,
                     vols: np.ndarray | None) -> None:
        """A started symbol's ring of recent ticks, filled up to ``seq``."""
        self._ring_row[stream.slot] = row
        seqs = np.arange(seq - len(recent) + 1, seq + 1)
        self._ring[row, seqs % self._ring_size] = recent
        if self._vol_ring is not None and vols is not None:
            self._vol_ring[row, seqs % self._ring_size] = vols
        self._symbols[stream.symbol or ""] = stream

    def symbol(self, name: str) -> Stream | None:
        return self._symbols.get(name) or self._outside.get(name)

    @property
    def symbols(self) -> list[Stream]:
        """The market's symbols, then a third party's (a gateway's), as they came."""
        return [*self._symbols.values(), *self._outside.values()]

    def in_group(self, stream: Stream) -> bool:
        """Whether a market symbol is one of a correlated group (its path is its group's)."""
        return stream.slot in self._groups

    @property
    def outside_symbols(self) -> int:
        return len(self._outside)

    def open_private(self, params: ModelParams, seed: int, t0: float, interval: float,
                     periods: int | None, seq: int, first: int | None = None,
                     ) -> tuple[Stream, PathCursor | None]:
        """Start a private stream at tick ``seq``; return it, and a cursor that produces its
        ticks ``first`` to ``seq`` on demand (``None`` without ``first``). The catch-up is
        done at once: :meth:`open_caught_up` takes one done a piece at a time."""
        walk = CatchUp(params, seed, seq, seq + 1 if first is None else first)
        walk.run(seq)
        return self.open_caught_up(walk, t0, interval, periods), walk.cursor

    def open_caught_up(self, walk: CatchUp, t0: float, interval: float,
                       periods: int | None) -> Stream:
        """Start a private stream where a finished catch-up got to. Ticks that fell due while
        it was computed are produced by the next :meth:`advance`."""
        slot = self.bank.add_caught_up(walk)
        return self._register(slot, walk.params, walk.seed, t0, interval, periods, walk.seq,
                              None)

    def _register(self, slot: int, params: ModelParams, seed: int, t0: float, interval: float,
                  periods: int | None, seq: int, symbol: str | None) -> Stream:
        self._fit(self.bank.capacity)
        stream = Stream(slot, params, seed, interval, t0, periods, symbol)
        self._streams[slot] = stream
        self._t0[slot] = t0
        self._interval[slot] = interval
        self._last[slot] = np.iinfo(np.int64).max if periods is None else periods - 1
        self._ring_row[slot] = -1
        self._owner[slot] = -1
        self._allowed[slot] = -1
        finished = periods is not None and seq >= periods - 1
        self._due[slot] = _NEVER if finished else schedule.instant(t0, interval, seq + 1)
        self._next_due = None
        return stream

    def _fit(self, capacity: int) -> None:
        grow = capacity - len(self._due)
        if grow > 0:
            self._t0 = np.concatenate([self._t0, np.zeros(grow)])
            self._interval = np.concatenate([self._interval, np.ones(grow)])
            self._due = np.concatenate([self._due, np.full(grow, _NEVER)])
            self._last = np.concatenate([self._last, np.zeros(grow, dtype=np.int64)])
            self._ring_row = np.concatenate([self._ring_row, np.full(grow, -1)])
            self._owner = np.concatenate([self._owner, np.full(grow, -1)])
            self._head = np.concatenate([self._head, np.full(grow, "", dtype=object)])
            self._sub = np.concatenate([self._sub, np.zeros(grow, dtype=np.int64)])
            self._allowed = np.concatenate([self._allowed, np.full(grow, -1, dtype=np.int64)])

    def current(self, stream: Stream) -> tuple[int, float, float]:
        """``(seq, price, time)`` of the stream's newest tick."""
        outside = stream.outside
        if outside is not None:
            prices, times, _ = outside.take(outside.seq, outside.seq)
            return outside.seq, float(prices[0]), float(times[0])
        seq = int(self.bank.seq[stream.slot])
        return seq, float(self.bank.price[stream.slot]), schedule.instant(
            stream.t0, stream.interval, seq)

    def vol(self, stream: Stream) -> float | None:
        """The volatility of the stream's newest tick (``None`` for a model without one)."""
        outside = stream.outside
        if outside is None:
            vol = float(self.bank.vol[stream.slot])
        else:
            vols = outside.take(outside.seq, outside.seq)[2]
            vol = np.nan if vols is None else float(vols[0])
        return None if vol != vol else vol

    def finished(self, stream: Stream) -> bool:
        """True once a finite stream has produced its last tick (or a symbol ended)."""
        if stream.outside is not None:
            return stream.outside.ended
        slot = stream.slot
        return bool(self._due[slot] == _NEVER and self._allowed[slot] < 0)

    def recent(self, stream: Stream, first: int, last: int | None = None) -> np.ndarray:
        """Prices of a symbol from tick ``first`` to ``last`` (its current tick by default),
        from its ring."""
        outside = stream.outside
        if outside is not None:
            last = outside.seq if last is None else last
            if not outside.oldest() <= first <= last + 1 or last > outside.seq:
                raise ValueError(f"ticks {first}..{last} of {stream.symbol} are not kept")
            return outside.take(first, last)[0]
        row = int(self._ring_row[stream.slot])
        seq = int(self.bank.seq[stream.slot])
        last = seq if last is None else last
        if row < 0 or not seq - self._ring_size < first <= last + 1 or last > seq:
            raise ValueError(f"ticks {first}..{last} of {stream.symbol} are not kept")
        kept: np.ndarray = self._ring[row, np.arange(first, last + 1) % self._ring_size]
        return kept

    def recent_vols(self, stream: Stream, first: int, last: int) -> np.ndarray | None:
        """The volatilities beside :meth:`recent`'s prices (``None`` for a model without; NaN
        for a third party's tick without, when others have one)."""
        if stream.outside is not None:
            return stream.outside.take(first, last)[2]
        if self._vol_ring is None or stream.params is None or stream.params.name != "heston":
            return None
        kept: np.ndarray = self._vol_ring[int(self._ring_row[stream.slot]),
                                          np.arange(first, last + 1) % self._ring_size]
        return kept

    def recent_times(self, stream: Stream, first: int, last: int) -> np.ndarray:
        """The times of ticks ``first`` to ``last`` of a symbol (its schedule's, or as a third
        party published them)."""
        if stream.outside is not None:
            return stream.outside.take(first, last)[1]
        seqs = np.arange(first, last + 1)
        return schedule.instants(np.full(len(seqs), stream.t0),
                                 np.full(len(seqs), stream.interval), seqs)

    def oldest_kept(self, stream: Stream) -> int:
        """The oldest seq of a symbol its ring still holds."""
        if stream.outside is not None:
            return stream.outside.oldest()
        return max(0, int(self.bank.seq[stream.slot]) - self._ring_size + 1)

    # --- subscribers --------------------------------------------------------------------------

    def attach(self, stream: Stream, peer: Peer, sub: int) -> None:
        head = events.tick_head(sub)
        if stream.symbol is None:
            if stream.subscribers:
                raise ValueError("a private stream has one subscriber")
            slot = stream.slot  # routed by number, see _route_private
            self._owner[slot] = self._peer_id(peer)
            self._head[slot] = head
            self._sub[slot] = sub
        else:
            self.symbol_subscriptions += 1
        stream.subscribers[(peer, sub)] = (head, peer.deliver)
        self.subscriptions += 1
        self.tick_rate += 1.0 / stream.interval

    def detach(self, stream: Stream, peer: Peer, sub: int) -> None:
        """Remove a subscription; a private stream is closed with it."""
        if stream.subscribers.pop((peer, sub), None) is not None:
            self.subscriptions -= 1
            self.tick_rate -= 1.0 / stream.interval
            if stream.symbol is None:
                self._release(peer)
                self._owner[stream.slot] = -1
            else:
                self.symbol_subscriptions -= 1
        if stream.symbol is None:
            self.close_private(stream)

    def close_private(self, stream: Stream) -> None:
        """Stop a private stream (one never attached, or whose subscriber left)."""
        if stream.slot in self._streams and not stream.subscribers:
            self._close(stream)

    def _peer_id(self, peer: Peer) -> int:
        """The number of ``peer`` among those holding private streams (counted per stream)."""
        pid = self._peer_ids.get(peer)
        if pid is None:
            pid = self._free_ids.pop() if self._free_ids else len(self._peers)
            if pid == len(self._peers):
                self._peers.append(None)
                self._peer_subs.append(0)
            self._peers[pid] = peer
            self._peer_ids[peer] = pid
        self._peer_subs[pid] += 1
        return pid

    def _release(self, peer: Peer) -> None:
        pid = self._peer_ids[peer]
        self._peer_subs[pid] -= 1
        if not self._peer_subs[pid]:
            del self._peer_ids[peer]
            self._peers[pid] = None
            self._free_ids.append(pid)

    def _close(self, stream: Stream) -> None:
        del self._streams[stream.slot]
        self._due[stream.slot] = _NEVER
        self._next_due = None
        self.bank.remove(stream.slot)

    @property
    def streams(self) -> int:
        return len(self._streams)

    @property
    def private_streams(self) -> int:
        return len(self._streams) - len(self._symbols)  # a third party's have no slot

    # --- the schedule -------------------------------------------------------------------------

    def next_due(self) -> float:
        """The instant of the earliest tick not yet produced (``inf`` when there is none; and
        ``-inf`` while ticks the bus announced wait to be stepped)."""
        if self._feeding:
            return -_NEVER
        due = self._next_due
        if due is None:  # a subscribe to a symbol changes nothing: no pass over every stream
            due = self._next_due = float(self._due.min()) if len(self._due) else float("inf")
        return due

    def advance(self, now: float) -> list[Peer]:
        """Produce the ticks due at ``now``, at most :data:`MAX_ROUNDS` instants and about
        :data:`MAX_STEPS` stream steps of them; return the peers that have parts to send.
        ``next_due() <= now`` afterwards says that more is due at once."""
        limit = now + schedule.DUE_SLACK
        steps = 0
        for _ in range(MAX_ROUNDS):
            slots = np.flatnonzero(self._due <= limit)
            if not slots.size:
                break
            self._step(slots)
            steps += slots.size
            if steps >= MAX_STEPS:
                break
        if self._feeding and steps < MAX_STEPS:
            self._step_fed(MAX_STEPS - steps)
        dirty, self._dirty = self._dirty, []
        return dirty

    # --- the bus ------------------------------------------------------------------------------

    def feed(self, ticks: Sequence[BusTick]) -> list[Peer]:
        """Ticks read from the bus, in its order: step each market symbol up to its newest
        one (a group's symbols together) and check each against the tick computed; hand a
        third party's on as they are; return the peers that have parts to send, as
        :meth:`advance` does."""
        symbols = self._symbols
        slots, seqs, prices, vols = [], [], [], []
        outside: list[BusTick] = []
        for tick in ticks:
            stream = symbols.get(tick.symbol)
            if stream is None:
                outside.append(tick)
                continue
            slots.append(stream.slot)
            seqs.append(tick.seq)
            prices.append(tick.price)
            vols.append(np.nan if tick.vol is None else tick.vol)
        self.fed_ticks += len(ticks)
        if outside:
            self._feed_outside(outside)
        if not slots:
            dirty, self._dirty = self._dirty, []
            return dirty
        at = np.array(slots)
        seq_of = np.array(seqs, dtype=np.int64)
        live = self._allowed[at] >= 0  # an ended symbol stays ended
        np.maximum.at(self._allowed, at[live], seq_of[live])
        for slot in set(slots) & self._groups.keys():  # a group's symbols step together
            members = [m for m in self._groups[slot] if self._allowed[m] >= 0]
            self._allowed[members] = self._allowed[members].max()
        self._feeding = True
        self._step_fed(MAX_STEPS)
        # each bus tick against the one computed, where the ring still holds it
        current = self.bank.seq[at]
        kept = live & (seq_of <= current) & (seq_of > current - self._ring_size)
        rows, places = self._ring_row[at[kept]], seq_of[kept] % self._ring_size
        wrong = self._ring[rows, places] != np.array(prices)[kept]
        if self._vol_ring is not None:
            theirs = np.array(vols)[kept]
            ours = self._vol_ring[rows, places]
            wrong |= (ours != theirs) & ~(np.isnan(ours) & np.isnan(theirs))
        self.mismatches += int(np.count_nonzero(wrong))
        dirty, self._dirty = self._dirty, []
        return dirty

    def backfill(self, ticks: Sequence[BusTick]) -> int:
        """Older ticks of one third party's symbol, in order, read from the bus's history
        (the ones before those :meth:`feed` was given): kept below the ring's oldest, as far
        as they join it without a hole, so that ``history`` and ``fromSeq`` reach them.
        Return how many were kept."""
        if not ticks:
            return 0
        name = ticks[-1].symbol
        stream = self._outside.get(name)
        if stream is None:  # nothing served yet: the history is the symbol's start
            live = self._waiting.pop(name, None)  # a live tick that waits for a second
            history = list(ticks)
            if live is not None and _t0(live) == _t0(history[-1]) and live.seq > history[-1].seq:
                history.append(live)
            self._feed_outside(history)
            stream = self._outside.get(name)
            return 0 if stream is None else len(ticks)
        outside = stream.outside
        assert outside is not None
        want = outside.first - 1
        lowest = outside.seq - len(outside.prices) + 1
        kept = 0
        for tick in reversed(ticks):
            if tick.seq > want:  # already there
                continue
            if tick.seq < want or want < lowest or _t0(tick) != stream.t0:
                break
            outside.put(tick)
            want -= 1
            kept += 1
        outside.first = want + 1
        return kept

    def _feed_outside(self, ticks: Sequence[BusTick]) -> None:
        """A third party's ticks: each symbol's ticks are handed to its subscribers in order,
        a skip in its ``seq`` announced first (``lagging``), and kept in its ring."""
        batch: list[tuple[Stream, BusTick]] = []
        for tick in ticks:
            stream = self._outside.get(tick.symbol) or self._admit(tick)
            if stream is None:
                continue
            outside = stream.outside
            assert outside is not None
            seq = tick.seq
            t0 = _t0(tick)
            if t0 > stream.t0:  # its publisher counts again: the old numbering is over
                self._route_outside(batch)
                stream = self._restart(stream, t0)
                outside = stream.outside
                assert outside is not None
            elif t0 < stream.t0 or seq <= outside.seq:
                if not outside.holds(tick):  # not a copy of a tick it has (a history's)
                    self.out_of_order[tick.symbol] += 1
                continue
            if outside.seq < 0:
                outside.first = seq
            elif seq > outside.seq + 1:
                self._route_outside(batch)
                outside.first = seq
                skipped = seq - outside.seq - 1
                for peer, sub in stream.subscribers:
                    if peer.deliver_gap(sub, skipped, seq):
                        self._dirty.append(peer)
            outside.put(tick)
            outside.seq = seq
            batch.append((stream, tick))
        self._route_outside(batch)

    def _restart(self, stream: Stream, t0: float) -> Stream:
        """A new numbering of a third party's symbol: the old stream ends (its subscribers
        get ``end``; a replay still in progress finishes from its ring, which stays as it
        was) and a new one, with the same interval, takes the symbol's name."""
        old = stream.outside
        assert old is not None and stream.symbol is not None
        self._end(stream, old.seq, None)
        old.ended = True
        fresh = Stream(-1, None, None, stream.interval, t0, None, stream.symbol,
                       outside=Outside(len(old.prices)))
        self._outside[stream.symbol] = fresh
        return fresh

    def _admit(self, tick: BusTick) -> Stream | None:
        """The stream of a third party's symbol seen for the first time: from this tick when
        it declares its interval, else from the second (whose distance from the first gives
        it, at least :data:`MIN_OUTSIDE_INTERVAL`); ``None`` until then, or when
        :data:`MAX_OUTSIDE` are served."""
        name = tick.symbol
        if len(self._outside) >= MAX_OUTSIDE:
            self.unknown[name] += 1
            return None
        interval = tick.interval
        first = None
        if interval is None:
            waiting = self._waiting
            first = waiting.pop(name, None)
            if (first is None or tick.seq <= first.seq or tick.time <= first.time
                    or _t0(first) != _t0(tick)):
                if len(waiting) >= MAX_OUTSIDE:  # the one waiting longest gives way
                    del waiting[next(iter(waiting))]
                waiting[name] = tick
                return None
            interval = max((tick.time - first.time) / (tick.seq - first.seq),
                           MIN_OUTSIDE_INTERVAL)
        stream = Stream(-1, None, None, interval, _t0(tick), None, name,
                        outside=Outside(min(self._ring_size, OUTSIDE_RING)))
        self._outside[name] = stream
        outside = stream.outside
        assert outside is not None
        if first is not None:  # in the ring: history and fromSeq reach it
            outside.put(first)
            outside.first = outside.seq = first.seq
        return stream

    def _route_outside(self, batch: list[tuple[Stream, BusTick]]) -> None:
        """Hand a third party's ticks to their subscribers, and empty ``batch``."""
        if not batch:
            return
        streams = [stream for stream, _ in batch]
        self._route_shared(streams, np.array([t.seq for _, t in batch]),
                           np.array([t.price for _, t in batch]),
                           np.array([t.time for _, t in batch]),
                           np.array([np.nan if t.vol is None else t.vol for _, t in batch]))
        batch.clear()

    def _step_fed(self, budget: int) -> None:
        """Step the fed symbols that are behind the bus, one instant at a time, about
        ``budget`` stream steps at most; the rest is left for :meth:`advance`."""
        steps = 0
        for _ in range(MAX_ROUNDS):
            slots = np.flatnonzero(self._allowed > self.bank.seq[:len(self._allowed)])
            if not slots.size:
                self._feeding = False
                return
            seqs = self.bank.seq[slots] + 1
            self._step(slots, schedule.instants(self._t0[slots], self._interval[slots], seqs))
            steps += slots.size
            if steps >= budget:
                return
        self._feeding = bool((self._allowed > self.bank.seq[:len(self._allowed)]).any())

    def _step(self, slots: np.ndarray, times: np.ndarray | None = None) -> None:
        fed = times is not None
        if times is None:
            times = self._due[slots]
        self._next_due = None
        bank = self.bank
        prices = bank.step(slots)
        seqs = bank.seq[slots]
        vols = bank.vol[slots] if bank.with_vol else None
        self.ticks_stepped += len(slots)
        if not fed:
            self._due[slots] = schedule.instants(self._t0[slots], self._interval[slots], seqs + 1)
        rows = self._ring_row[slots]
        kept = rows >= 0
        if kept.any():
            self._ring[rows[kept], seqs[kept] % self._ring_size] = prices[kept]
            if self._vol_ring is not None and vols is not None:
                self._vol_ring[rows[kept], seqs[kept] % self._ring_size] = vols[kept]
        left = out_of_range(prices)
        finished = seqs >= self._last[slots]
        ends = finished | left
        if ends.any():
            self._due[slots[ends]] = _NEVER
            self._allowed[slots[ends]] = -1
        routable = ~left
        owners = self._owner[slots]
        private = routable & (owners >= 0)
        if private.any():
            self._route_private(slots[private], owners[private], seqs[private], prices[private],
                                times[private], None if vols is None else vols[private])
        shared = routable & (owners < 0)  # the market's symbols
        if shared.any():
            streams = [self._streams[slot] for slot in slots[shared].tolist()]
            shared_vols = None if vols is None else vols[shared]
            if self.listener is not None:
                self.listener(streams, seqs[shared], prices[shared], times[shared], shared_vols)
            self._route_shared(streams, seqs[shared], prices[shared], times[shared],
                               shared_vols)
        if ends.any():
            for slot, seq, bad, price in zip(slots[ends].tolist(), seqs[ends].tolist(),
                                             left[ends].tolist(), prices[ends].tolist()):
                reason = EndReason(why_out(price)) if bad else None
                self._end(self._streams[slot], seq - 1 if bad else seq, reason)

    def _route_private(self, slots: np.ndarray, owners: np.ndarray, seqs: np.ndarray,
                       prices: np.ndarray, times: np.ndarray, vols: np.ndarray | None) -> None:
        """Ticks of private streams, one subscriber each: sorted by connection with numpy, so
        that each connection's ticks are handed over as one slice, not one by one."""
        order = np.argsort(owners, kind="stable")
        owners = owners[order]
        slots = slots[order]
        seqs = seqs[order]
        subs = self._sub[slots]
        texts = events.ticks(self._head[slots].tolist(), seqs, prices[order], times[order],
                             None if vols is None else vols[order])
        bounds = np.flatnonzero(np.diff(owners)) + 1
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), len(texts)]
        peers = self._peers
        dirty = self._dirty
        self.ticks_routed += len(texts)
        for start, end, pid in zip(starts, ends, owners[starts].tolist()):
            peer = peers[pid]
            assert peer is not None  # owners are cleared when a subscription goes
            if peer.deliver_ticks(texts[start:end], subs[start:end], seqs[start:end]):
                dirty.append(peer)

    def _route_shared(self, streams: list[Stream], seqs: np.ndarray, prices: np.ndarray,
                      times: np.ndarray, vols: np.ndarray | None) -> None:
        """Ticks of the market's symbols, which any number of connections follow: formatted
        once, handed to every subscriber."""
        heard = [i for i, stream in enumerate(streams) if stream.subscribers]
        if len(heard) < len(streams):  # a publisher's: nobody listens, nothing to format
            if not heard:
                return
            streams = [streams[i] for i in heard]
            seqs, prices, times = seqs[heard], prices[heard], times[heard]
            vols = None if vols is None else vols[heard]
        dirty = self._dirty
        for stream, seq, body in zip(streams, seqs.tolist(),
                                     events.tick_bodies(seqs, prices, times, vols)):
            subscribers = stream.subscribers
            self.ticks_routed += len(subscribers)
            texts: dict[str, str] = {}  # one event text per sub number, shared by its holders
            for (peer, sub), (head, deliver) in subscribers.items():
                text = texts.get(head)
                if text is None:
                    text = texts[head] = head + body
                if deliver(sub, seq, text):
                    dirty.append(peer)

    def _end(self, stream: Stream, seq: int, reason: EndReason | None) -> None:
        """Tell every subscriber the stream is over, then drop it."""
        for peer, sub in list(stream.subscribers):
            if peer.deliver_end(sub, events.End(sub, seq, reason).encode()):
                self._dirty.append(peer)
            self.detach(stream, peer, sub)


def _t0(tick: BusTick) -> float:
    """The epoch of a third party's numbering (0 when it names none)."""
    return 0.0 if tick.t0 is None else tick.t0
