"""Many streams of any model, held in numpy arrays and stepped together.

A stream lives in a *slot*. The bank keeps every slot's current price, volatility (NaN but
for Heston) and ``seq``; each model's streams are also kept by a *book* of that model, in
its own arrays: constants, the state at the end of the block, and a block of the next
:data:`~simulation.kernels.CHUNK` prices (and volatilities) made ahead. :meth:`StreamBank.step`
advances any set of slots by one step with a handful of numpy operations per model present,
however many there are: a step reads the block. Blocks are made for every stream that needs
one at the same time, together: an increment model's with one ``cumsum`` and one ``exp``, a
recursive model's by its kernel's :meth:`~simulation.kernels.Kernel.walk_rows` (one
vectorised operation per step across those streams; Python floats for a few streams). Only
the draws touch a stream on its own, because each stream owns its generator. A correlated
group's members are made together, their price shocks mixed as they are drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simulation import ieee
from simulation.kernels import CHUNK, KERNELS, Kernel, correlate, row_groups, running_sum
from simulation.params import ModelParams
from simulation.walk import CatchUp, GroupWalk, Walk


#: Below this many streams refilled at once, a recursive model's blocks are made a stream at
#: a time on Python floats (cheaper than numpy calls on a handful of numbers).
SCALAR_ROWS = 16


class _Book:
    """The streams of one model: local rows, grown by doubling."""

    def __init__(self, kernel: Kernel, capacity: int = 16) -> None:
        self.kernel = kernel
        self.start = np.ones(capacity)
        self.consts = np.zeros((capacity, 0))
        self.y = np.zeros(capacity)
        """``y`` at the end of the block (``S = start * exp(y)``)."""
        self.v = np.zeros(capacity)
        """The variance at the end of the block."""
        self.col = np.zeros(capacity, dtype=np.int64)
        """The block's next column; CHUNK when it is used up."""
        self.prices = np.zeros((capacity, CHUNK))
        self.vols = np.zeros((capacity, CHUNK if kernel.has_vol else 0))
        self.walks: list[Walk | None] = [None] * capacity
        self.free = list(range(capacity - 1, -1, -1))
        self.groups: dict[int, tuple[list[int], Sequence[Sequence[float]]]] = {}
        """Correlated groups: their rows, in member order, and the Cholesky factor."""
        self.group_of: dict[int, int] = {}

    def add_group(self, rows: list[int], lower: Sequence[Sequence[float]]) -> None:
        """Mix the price shocks of these rows (always stepped together) from now on."""
        gid = min(rows)
        self.groups[gid] = (rows, lower)
        for row in rows:
            self.group_of[row] = gid

    def _correlate(self, used: list[int], draws: np.ndarray) -> None:
        """Mix, in ``draws`` (one row per used row), the shocks of every group among them.
        A group's members are due together; one that has ended (its price out of range) is
        no longer stepped, but its generator still draws its chunk, as the group's walk
        does, so that the others' shocks stay what they would be."""
        at = {row: i for i, row in enumerate(used)}
        for gid in {self.group_of[row] for row in used if row in self.group_of}:
            rows, lower = self.groups[gid]
            where = [at.get(row) for row in rows]
            members = [draws[i] if i is not None else
                       self._draw(row, np.empty((self.kernel.kinds, CHUNK)))
                       for i, row in zip(where, rows)]
            for i, member in zip(where, correlate(members, self.kernel.shock, lower)):
                if i is not None:
                    draws[i] = member

    def _draw(self, row: int, out: np.ndarray) -> np.ndarray:
        """The next chunk's draws of one row's generator, into ``out`` (kinds, CHUNK)."""
        walk = self.walks[row]
        assert walk is not None  # internal invariant, not input checking
        self.kernel.draw(walk.rng, walk.params, out)
        return out

    def place(self, walk: Walk) -> int:
        """Put ``walk`` in a row: the draws of its current chunk not used yet fill the end
        of the row's block, so the next chunk is drawn exactly where the walk would draw it."""
        if not self.free:
            self._grow()
        row = self.free.pop()
        if self.consts.shape[1] != len(walk.consts):  # the first stream of this model
            self.consts = np.zeros((len(self.walks), len(walk.consts)))
        self.walks[row] = walk
        self.start[row] = walk.params.start_price
        self.consts[row] = walk.consts
        self.y[row] = walk.y
        self.v[row] = walk.v
        pending, walk.pending = walk.pending, walk.pending[:, :0]
        left = pending.shape[1]
        self.col[row] = CHUNK
        if left:
            self._fill(np.array([row]), pending[None], CHUNK - left)
        return row

    def remove(self, row: int) -> None:
        self.walks[row] = None
        self.free.append(row)
        gid = self.group_of.pop(row, None)
        if gid is not None:  # a group is its members together: it goes with any of them
            for other in self.groups.pop(gid)[0]:
                self.group_of.pop(other, None)

    def step(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """One step of each row (distinct); their new prices, and volatilities."""
        cols = self.col[rows]
        used = rows[cols == CHUNK]
        if used.size:
            draws = np.empty((used.size, self.kernel.kinds, CHUNK))
            for i, r in enumerate(used.tolist()):
                self._draw(r, draws[i])
            if self.groups:
                self._correlate(used.tolist(), draws)
            self._fill(used, draws, 0)
            cols = self.col[rows]
        self.col[rows] = cols + 1
        at = rows * CHUNK + cols  # np.take, not fancy indexing: a third of the time
        prices: np.ndarray = np.take(self.prices.reshape(-1), at)
        return prices, (np.take(self.vols.reshape(-1), at) if self.kernel.has_vol else None)

    def _fill(self, rows: np.ndarray, draws: np.ndarray, col: int) -> None:
        """Columns ``col..CHUNK-1`` of each row's blocks, from ``draws`` (rows, kinds, n)."""
        kernel = self.kernel
        consts = np.take(self.consts, rows, axis=0)
        y = self.y[rows]
        vs: np.ndarray | None
        if not kernel.recursive:
            ys = np.empty((draws.shape[0], draws.shape[2]))
            for g in row_groups(len(rows)):  # each piece's arrays stay in cache
                inc = kernel.increments([c[g, None] for c in consts.T],
                                        draws[g].transpose(1, 0, 2))
                running_sum(y[g], inc, out=ys[g])
            vs = None
        elif len(rows) < SCALAR_ROWS:
            walked = [kernel.walk(consts[i], float(y[i]), float(self.v[r]), draws[i])
                      for i, r in enumerate(rows.tolist())]
            ys = np.stack([w[0] for w in walked])
            vs = None if not kernel.has_vol else np.stack([w[1] for w in walked
                                                           if w[1] is not None])
        else:
            ys, vs = kernel.walk_rows(list(consts.T), y, self.v[rows], draws)
        self.y[rows] = ys[:, -1]
        with np.errstate(over="ignore"):  # inf: the caller ends the stream
            self.prices[rows, col:] = self.start[rows, None] * ieee.exp(ys)
        if vs is not None:
            self.v[rows] = vs[:, -1]
            self.vols[rows, col:] = np.sqrt(vs)
        self.col[rows] = col

    def _grow(self) -> None:
        old = len(self.walks)
        new = 2 * old
        for name in ("start", "consts", "y", "v", "col", "prices", "vols"):
            array = getattr(self, name)
            grown = np.zeros((new, *array.shape[1:]), dtype=array.dtype)
            grown[:old] = array
            setattr(self, name, grown)
        self.walks.extend([None] * (new - old))
        self.free.extend(range(new - 1, old - 1, -1))


class StreamBank:
    """Vectorised state of many independent, seeded streams of any model."""

    def __init__(self, capacity: int = 64) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.price = np.zeros(capacity, dtype=np.float64)
        self.vol = np.full(capacity, np.nan)
        self.seq = np.zeros(capacity, dtype=np.int64)
        self._kind = np.zeros(capacity, dtype=np.int64)
        self._row = np.zeros(capacity, dtype=np.int64)
        self._books = [_Book(kernel) for kernel in KERNELS.values()]
        self._kinds = {name: n for n, name in enumerate(KERNELS)}
        self._params: list[ModelParams | None] = [None] * capacity
        self._free = list(range(capacity - 1, -1, -1))
        self.with_vol = 0
        """Streams whose ticks carry a volatility (Heston's): none, and :attr:`vol` is all NaN."""

    @property
    def capacity(self) -> int:
        return len(self._params)

    def __len__(self) -> int:
        return self.capacity - len(self._free)

    def params(self, slot: int) -> ModelParams:
        params = self._params[slot]
        if params is None:
            raise KeyError(f"slot {slot} is empty")
        return params

    def add(self, params: ModelParams, seed: int, seq: int = 0, tail: int = 0,
            ) -> tuple[int, np.ndarray, np.ndarray]:
        """Start the stream ``(params, seed)`` at step ``seq``; return its slot and its last
        ``tail`` prices and volatilities, ``S[seq - tail + 1]`` through ``S[seq]``
        (``tail <= seq + 1``). Reaching step ``seq`` costs ``seq`` steps from ``S[0]``."""
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq}")
        if not 0 <= tail <= seq + 1:
            raise ValueError(f"tail must be 0..{seq + 1}, got {tail}")
        walk = CatchUp(params, seed, seq, seq - tail + 1)
        walk.run(seq)
        recent, vols = (walk.cursor.take(tail) if walk.cursor is not None
                        else (np.empty(0), None))
        return (self.add_caught_up(walk), recent,
                np.full(tail, np.nan) if vols is None else vols)

    def add_group(self, group: GroupWalk) -> list[int]:
        """Start the members of a correlated group where ``group`` got to; their slots, in
        member order. They must be stepped together from then on."""
        walks = group.walks
        if walks[0].pending.shape[1]:  # the rest of the current chunk: mixed, as drawn
            for walk, pending in zip(walks, correlate([w.pending for w in walks],
                                                      walks[0].kernel.shock, group.lower)):
                walk.pending = pending
        slots = [self._place(walk) for walk in walks]
        book = self._books[self._kind[slots[0]]]
        book.add_group([int(self._row[slot]) for slot in slots], group.lower)
        return slots

    def add_caught_up(self, walk: CatchUp) -> int:
        """Start a stream where a finished :class:`CatchUp` got to; return its slot."""
        if not walk.finished:
            raise ValueError(f"the walk is at step {walk.done} of {walk.seq}")
        return self._place(walk.walk)

    def _place(self, walk: Walk) -> int:
        if not self._free:
            self._grow()
        slot = self._free.pop()
        kind = self._kinds[walk.kernel.name]
        self._kind[slot] = kind
        self._row[slot] = self._books[kind].place(walk)
        self._params[slot] = walk.params
        self.with_vol += walk.kernel.has_vol
        self.price[slot] = walk.price
        self.vol[slot] = walk.vol
        self.seq[slot] = walk.seq
        return slot

    def remove(self, slot: int) -> None:
        if self._params[slot] is None:
            raise KeyError(f"slot {slot} is empty")
        book = self._books[self._kind[slot]]
        book.remove(int(self._row[slot]))
        self.with_vol -= book.kernel.has_vol
        self.vol[slot] = np.nan
        self._params[slot] = None
        self._free.append(slot)

    def step(self, slots: np.ndarray) -> np.ndarray:
        """Advance each slot in ``slots`` (distinct, occupied) by one step; return the new
        prices (and keep the volatilities in :attr:`vol`). A price that left the normal
        doubles (``inf``, or below 2.2e-308) is the caller's to end the stream for."""
        kinds = self._kind[slots]
        first = int(kinds[0]) if len(kinds) else 0
        if not len(kinds) or (kinds == first).all():  # one model: no sorting out
            prices, vols = self._books[first].step(self._row[slots])
        else:
            prices = np.empty(len(slots))
            vols = np.full(len(slots), np.nan)
            for kind in np.unique(kinds).tolist():
                mine = kinds == kind
                p, v = self._books[kind].step(self._row[slots[mine]])
                prices[mine] = p
                if v is not None:
                    vols[mine] = v
        self.price[slots] = prices
        if vols is not None:
            self.vol[slots] = vols
        self.seq[slots] += 1
        return prices

    def _grow(self) -> None:
        old = self.capacity
        new = old * 2
        self.price = np.resize(self.price, new)
        self.vol = np.concatenate((self.vol, np.full(new - old, np.nan)))
        self.seq = np.resize(self.seq, new)
        self._kind = np.resize(self._kind, new)
        self._row = np.resize(self._row, new)
        self._params.extend([None] * (new - old))
        self._free.extend(range(new - 1, old - 1, -1))
