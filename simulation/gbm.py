"""The exact GBM step, and whole paths built with it.

Every price this project publishes is made by the same three operations, in the same order,
on contiguous float64 arrays:

1. draw ``Z`` from the stream's own generator (:func:`generator`), in blocks of any size:
   numpy's ``standard_normal`` gives the same sequence however the draws are split;
2. turn draws into step factors ``exp(drift + vol * Z)`` (:func:`step_factors`);
3. multiply: ``S[k] = S[k-1] * factor[k]``, one multiplication per step, left to right.

So a path computed here in one go (:func:`path`) and a stream stepped one tick at a time by
:class:`simulation.bank.StreamBank` agree bit for bit: ``Z[k]`` is the k-th draw (``k >= 1``),
and ``S[0]`` is the start price.
"""

from __future__ import annotations

import numpy as np

from simulation.params import GBMParams

#: Draws made at once when a long path is built; bounds the memory of :func:`path`.
PATH_CHUNK = 1 << 20


def generator(seed: int) -> np.random.Generator:
    """The generator of the stream with this seed: PCG64, never a global one."""
    return np.random.Generator(np.random.PCG64(seed))


def step_factors(params: GBMParams, z: np.ndarray) -> np.ndarray:
    """``exp(drift + vol * z)``: the factor of each step, for a contiguous block of draws."""
    increments = params.drift + params.vol * z
    return np.exp(increments)


def advance(params: GBMParams, rng: np.random.Generator, price: float, steps: int,
            out: np.ndarray | None = None) -> float:
    """Step ``price`` forward ``steps`` times with draws from ``rng``; return the last price.

    When ``out`` is given (length ``steps``), it receives every price along the way.
    """
    done = 0
    last = np.array([price], dtype=np.float64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # callers check finiteness
        while done < steps:
            n = min(PATH_CHUNK, steps - done)
            chain = np.empty(n + 1, dtype=np.float64)
            chain[0] = last[0]
            chain[1:] = step_factors(params, rng.standard_normal(n))
            np.cumprod(chain, out=chain)  # sequential: chain[i] = chain[i-1] * factor[i]
            if out is not None:
                out[done:done + n] = chain[1:]
            last[0] = chain[-1]
            done += n
    return float(last[0])


def path(params: GBMParams, seed: int, periods: int) -> np.ndarray:
    """The first ``periods`` prices of the stream: ``S[0] == start_price`` through ``S[periods-1]``."""
    if periods < 1:
        raise ValueError(f"periods must be >= 1, got {periods}")
    prices = np.empty(periods, dtype=np.float64)
    prices[0] = params.start_price
    advance(params, generator(seed), params.start_price, periods - 1, out=prices[1:])
    return prices


class PathCursor:
    """The prices of one stream from a given step on, made on demand: ``take(n)`` returns the
    next ``n`` (``S[seq]``, ``S[seq + 1]``, ...), with the same draws and arithmetic as
    :func:`path`, so bit for bit the same prices. It holds a copy of the stream's generator
    and one price, however long the stretch it will produce: a replay costs no memory."""

    __slots__ = ("params", "seq", "_rng", "_last")

    def __init__(self, params: GBMParams, rng: np.random.Generator, seq: int,
                 last: float | None) -> None:
        """``rng`` has made the draws of steps ``1..seq-1``; ``last`` is ``S[seq - 1]``
        (``None`` when ``seq`` is 0)."""
        self.params = params
        self.seq = seq
        self._rng = rng
        self._last = last

    def take(self, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.float64)
        if n == 0:
            return out
        if self._last is None:  # S[0] is the start price, drawn from nothing
            out[0] = self.params.start_price
            if n > 1:
                advance(self.params, self._rng, out[0], n - 1, out=out[1:])
        else:
            advance(self.params, self._rng, self._last, n, out=out)
        self._last = float(out[-1])
        self.seq += n
        return out


class CatchUp:
    """The walk of one stream from ``S[0]`` to ``S[seq]``, done a bounded number of steps at a
    time (:meth:`run`), so that reaching a step far along never has to be done in one go.
    On the way it keeps a :class:`PathCursor` from step ``first`` (``None`` when ``first`` is
    past ``seq``): the stretch ``S[first]`` to ``S[seq]`` can then be produced on demand.
    However the walk is split, the price reached is bit for bit :func:`path`'s."""

    __slots__ = ("params", "seed", "seq", "first", "done", "price", "rng", "cursor", "_mark")

    def __init__(self, params: GBMParams, seed: int, seq: int, first: int) -> None:
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq}")
        if not 0 <= first <= seq + 1:
            raise ValueError(f"first must be 0..{seq + 1}, got {first}")
        self.params = params
        self.seed = seed
        self.seq = seq
        self.first = first
        self.done = 0
        """Steps taken: ``price`` is ``S[done]``."""
        self.price = params.start_price
        self.rng = generator(seed)
        self.cursor: PathCursor | None = None
        self._mark = max(first - 1, 0) if first <= seq else -1
        """The step at which the cursor is taken (-1: none is)."""
        self._take_cursor()

    @property
    def finished(self) -> bool:
        return self.done >= self.seq

    def run(self, steps: int) -> bool:
        """Take up to ``steps`` more steps; return :attr:`finished`."""
        while steps > 0 and not self.finished:
            stop = self._mark if self.done < self._mark else self.seq
            n = min(steps, stop - self.done)
            self.price = advance(self.params, self.rng, self.price, n)
            self.done += n
            steps -= n
            self._take_cursor()
        return self.finished

    def _take_cursor(self) -> None:
        if self.done == self._mark and self.cursor is None:  # the draws of steps 1..first-1 made
            copy = np.random.Generator(np.random.PCG64())
            copy.bit_generator.state = self.rng.bit_generator.state
            self.cursor = PathCursor(self.params, copy, self.first,
                                     self.price if self.first > 0 else None)

