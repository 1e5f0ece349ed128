"""Many GBM streams held in numpy arrays and stepped together.

A stream lives in a *slot*. Each slot keeps its current price, its ``seq`` (the number of steps
taken since ``S[0]``), and a block of precomputed step factors drawn from the stream's own
generator. :meth:`StreamBank.step` advances any set of slots by one step with a handful of
numpy operations, however many there are; only refilling a slot's block (once every
``block`` steps) touches a stream on its own, because each stream owns its generator.
"""

from __future__ import annotations

import numpy as np

from simulation.gbm import CatchUp, advance, generator, step_factors
from simulation.params import GBMParams

#: Step factors precomputed per stream. Memory is ``8 * block`` bytes a stream; a refill costs
#: one generator call, so larger blocks spend memory to save calls.
DEFAULT_BLOCK = 128


class StreamBank:
    """Vectorised state of many independent, seeded GBM streams."""

    def __init__(self, block: int = DEFAULT_BLOCK, capacity: int = 64) -> None:
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.block = block
        self.price = np.zeros(capacity, dtype=np.float64)
        self.seq = np.zeros(capacity, dtype=np.int64)
        self._col = np.zeros(capacity, dtype=np.int64)
        self._factors = np.zeros((capacity, block), dtype=np.float64)
        self._params: list[GBMParams | None] = [None] * capacity
        self._rngs: list[np.random.Generator | None] = [None] * capacity
        self._free = list(range(capacity - 1, -1, -1))

    @property
    def capacity(self) -> int:
        return len(self._params)

    def __len__(self) -> int:
        return self.capacity - len(self._free)

    def params(self, slot: int) -> GBMParams:
        params = self._params[slot]
        if params is None:
            raise KeyError(f"slot {slot} is empty")
        return params

    def add(self, params: GBMParams, seed: int, seq: int = 0, tail: int = 0,
            ) -> tuple[int, np.ndarray]:
        """Start the stream ``(params, seed)`` at step ``seq``; return its slot and its last
        ``tail`` prices, ``S[seq - tail + 1]`` through ``S[seq]`` (``tail <= seq + 1``).

        Reaching step ``seq`` costs ``seq`` draws: the stream is replayed from ``S[0]``.
        """
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq}")
        if not 0 <= tail <= seq + 1:
            raise ValueError(f"tail must be 0..{seq + 1}, got {tail}")
        rng = generator(seed)
        recent = np.empty(tail, dtype=np.float64)
        # steps before the tail are not kept; advance() is exact however its work is split
        skip = seq - tail
        price = params.start_price
        if skip >= 0:
            price = advance(params, rng, price, skip)
            if tail:
                price = advance(params, rng, price, tail, out=recent)
        else:  # the tail reaches back to S[0]
            recent[0] = price
            price = advance(params, rng, price, seq, out=recent[1:])
        return self._place(params, rng, seq, price), recent

    def add_caught_up(self, walk: CatchUp) -> int:
        """Start a stream where a finished :class:`CatchUp` got to; return its slot."""
        if not walk.finished:
            raise ValueError(f"the walk is at step {walk.done} of {walk.seq}")
        return self._place(walk.params, walk.rng, walk.seq, walk.price)

    def _place(self, params: GBMParams, rng: np.random.Generator, seq: int,
               price: float) -> int:
        if not self._free:
            self._grow()
        slot = self._free.pop()
        self.price[slot] = price
        self.seq[slot] = seq
        self._params[slot] = params
        self._rngs[slot] = rng
        self._refill(slot)
        return slot

    def remove(self, slot: int) -> None:
        if self._params[slot] is None:
            raise KeyError(f"slot {slot} is empty")
        self._params[slot] = None
        self._rngs[slot] = None
        self._free.append(slot)

    def step(self, slots: np.ndarray) -> np.ndarray:
        """Advance each slot in ``slots`` (distinct, occupied) by one step; return new prices."""
        cols = self._col[slots]
        for slot in slots[cols == self.block].tolist():
            self._refill(slot)
        cols = self._col[slots]
        with np.errstate(over="ignore"):  # an overflowing stream is the caller's to end
            prices = self.price[slots] * self._factors[slots, cols]
        self.price[slots] = prices
        self._col[slots] = cols + 1
        self.seq[slots] += 1
        stepped: np.ndarray = prices
        return stepped

    def _refill(self, slot: int) -> None:
        rng = self._rngs[slot]
        params = self._params[slot]
        assert rng is not None and params is not None  # internal invariant, not input checking
        with np.errstate(over="ignore", under="ignore"):
            self._factors[slot] = step_factors(params, rng.standard_normal(self.block))
        self._col[slot] = 0

    def _grow(self) -> None:
        old = self.capacity
        new = old * 2
        self.price = np.resize(self.price, new)
        self.seq = np.resize(self.seq, new)
        self._col = np.resize(self._col, new)
        factors = np.zeros((new, self.block), dtype=np.float64)
        factors[:old] = self._factors
        self._factors = factors
        self._params.extend([None] * (new - old))
        self._rngs.extend([None] * (new - old))
        self._free.extend(range(new - 1, old - 1, -1))
