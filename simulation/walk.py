"""One stream walked along its path: the batch door's paths, catching up, replays.

A :class:`Walk` holds what defines where a stream is: its generator, its state (``y``, and
``v`` for Heston; see :mod:`simulation.kernels`), its ``seq``, and the draws of the current
chunk it has not used yet. :func:`path` walks from ``S[0]``; :class:`CatchUp` walks to a far
``seq`` a bounded number of steps at a time; :class:`PathCursor` replays a stretch on demand.
However the walk is split, every price is bit for bit the one the server's
:class:`~simulation.bank.StreamBank` produces for the same ``seq``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from simulation import ieee
from simulation.kernels import CHUNK, correlate, kernel_of, running_sum
from simulation.params import ModelParams

#: Steps walked at once: bounds the memory of a long path (a multiple of CHUNK).
PIECE = 1 << 16
#: The smallest normal double: a price below it (a subnormal, or 0) has left the range, as
#: has ``inf``.
NORMAL_MIN = 2.2250738585072014e-308


_LOG_NORMAL_MIN = math.log(NORMAL_MIN)
_LOG_MAX = math.log(float(np.finfo(np.float64).max))

#: What to change so that a path stays in range, by why it left.
REMEDY = {"overflow": "lower mu, sigma, delta or periods",
          "underflow": "lower sigma, delta or periods, or raise mu"}


def out_of_range(prices: np.ndarray) -> np.ndarray:
    """True for each price that is not a normal double (``inf``, NaN, below 2.2e-308)."""
    with np.errstate(invalid="ignore"):
        bad: np.ndarray = ~(prices >= NORMAL_MIN) | (prices == np.inf)
    return bad


def why_out(price: float) -> str:
    """Why a price out of range is out: ``"underflow"`` or ``"overflow"``."""
    return "underflow" if price < NORMAL_MIN else "overflow"


def first_out_of_range(prices: np.ndarray) -> tuple[int, str] | None:
    """The index of the first price that is not a normal double, and why
    (``"overflow"``, ``"underflow"``); ``None`` when every one is."""
    bad = out_of_range(prices)
    if not bad.any():
        return None
    index = int(np.argmax(bad))
    return index, why_out(float(prices[index]))


def generator(seed: int) -> np.random.Generator:
    """The generator of the stream with this seed: PCG64, never a global one."""
    return np.random.Generator(np.random.PCG64(seed))


def copy_generator(rng: np.random.Generator) -> np.random.Generator:
    copy = np.random.Generator(np.random.PCG64())
    copy.bit_generator.state = rng.bit_generator.state
    return copy


class Walk:
    """A stream at step ``seq`` (``S[seq]`` made), ready to make the next ones."""

    __slots__ = ("params", "kernel", "consts", "seed", "rng", "seq", "y", "v", "pending",
                 "left", "_bounds")

    def __init__(self, params: ModelParams, seed: int) -> None:
        self.params = params
        self.kernel = kernel_of(params)
        self.consts = self.kernel.constants(params)
        self.seed = seed
        self.rng = generator(seed)
        self.seq = 0
        self.y = 0.0
        """The log price relative to the start: ``S[seq] = startPrice * exp(y)``."""
        self.v = self.kernel.start_variance(params)
        self.pending = np.empty((self.kernel.kinds, 0))
        """Draws of the current chunk not used yet (a chunked model's)."""
        self.left: tuple[int, str] | None = None
        """The first ``seq`` whose price is not a normal double, and why; ``None`` so far."""
        start = math.log(params.start_price)
        self._bounds = (_LOG_NORMAL_MIN - start + 1e-9, _LOG_MAX - start - 1e-9)
        """``y`` strictly inside these gives a normal price. Only a first sieve (the C
        library's log, a margin far beyond its rounding): a price near them is checked
        exactly."""

    @property
    def price(self) -> float:
        if self.y == 0.0:  # exp(0) is 1 exactly: the start price, without a call
            return self.params.start_price
        return float(self.params.start_price * ieee.exp(self.y)[0])

    @property
    def vol(self) -> float:
        """The instantaneous volatility ``sqrt(v)`` (NaN for a model without one)."""
        return math.sqrt(self.v) if self.kernel.has_vol else math.nan

    def copy(self) -> Walk:
        other = object.__new__(Walk)
        for name in Walk.__slots__:
            setattr(other, name, getattr(self, name))
        other.rng = copy_generator(self.rng)
        return other

    def draws(self, steps: int) -> np.ndarray:
        """The draws of the next ``steps`` steps, in the model's order; a chunked model's
        leftovers wait in :attr:`pending`."""
        have = self.pending.shape[1]
        if have >= steps:
            out, self.pending = self.pending[:, :steps], self.pending[:, steps:]
            return out
        need = steps - have
        if self.kernel.chunked:
            need = -(-need // CHUNK) * CHUNK
        fresh = np.empty((self.kernel.kinds, need))
        self.kernel.draw(self.rng, self.params, fresh)
        both = np.concatenate((self.pending, fresh), axis=1) if have else fresh
        out, self.pending = both[:, :steps], both[:, steps:]
        return out

    def states(self, steps: int, draws: np.ndarray | None = None,
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Take ``steps`` steps (at most :data:`PIECE`) with the next draws, or with
        ``draws`` (a correlated group's, mixed); return ``y`` and ``v`` along them."""
        if draws is None:
            draws = self.draws(steps)
        kernel = self.kernel
        if kernel.recursive:
            ys, vs = kernel.walk(self.consts, self.y, self.v, draws)
        else:
            ys = running_sum(self.y, kernel.increments(self.consts, draws))
            vs = None
        low, high = self._bounds
        if self.left is None and not low < ys.min() <= ys.max() < high:
            with np.errstate(over="ignore"):  # inf: the caller ends the stream
                left = first_out_of_range(self.params.start_price * ieee.exp(ys))
            if left is not None:
                self.left = (self.seq + 1 + left[0], left[1])
        self.seq += steps
        self.y = float(ys[-1])
        if vs is not None:
            self.v = float(vs[-1])
        return ys, vs

    def take(self, steps: int, out: np.ndarray | None = None,
             vols: np.ndarray | None = None) -> None:
        """Take ``steps`` steps, writing ``S[seq + 1] ..`` into ``out`` and ``sqrt(v)`` into
        ``vols`` when given."""
        done = 0
        while done < steps:
            n = min(PIECE, steps - done)
            self.write(self.states(n), done, out, vols)
            done += n

    def write(self, states: tuple[np.ndarray, np.ndarray | None], at: int,
              out: np.ndarray | None, vols: np.ndarray | None) -> None:
        """Prices (and volatilities) of ``states`` into ``out[at:]`` (``vols[at:]``)."""
        ys, vs = states
        if out is not None:
            with np.errstate(over="ignore"):  # inf: the caller ends the stream
                out[at:at + len(ys)] = self.params.start_price * ieee.exp(ys)
        if vols is not None and vs is not None:
            vols[at:at + len(ys)] = np.sqrt(vs)


class GroupWalk:
    """The streams of a correlated group walked together: each member draws from its own
    generator as it would alone, then the members' price shocks are mixed by the Cholesky
    factor ``lower`` of the group's correlation matrix (:func:`~simulation.kernels.correlate`),
    step by step, so how the walk is split changes nothing. Members share one model."""

    __slots__ = ("walks", "lower")

    def __init__(self, members: Sequence[tuple[ModelParams, int]],
                 lower: Sequence[Sequence[float]]) -> None:
        self.walks = [Walk(params, seed) for params, seed in members]
        self.lower = lower

    @property
    def seq(self) -> int:
        return self.walks[0].seq

    def take(self, steps: int, outs: Sequence[np.ndarray | None] | None = None,
             vols: Sequence[np.ndarray | None] | None = None) -> None:
        """Take ``steps`` steps of every member, writing member ``i``'s prices into
        ``outs[i]`` (and volatilities into ``vols[i]``) when given."""
        walks = self.walks
        done = 0
        while done < steps:
            n = min(PIECE, steps - done)
            mixed = correlate([w.draws(n) for w in walks], walks[0].kernel.shock, self.lower)
            for i, (walk, draws) in enumerate(zip(walks, mixed)):
                walk.write(walk.states(n, draws), done, None if outs is None else outs[i],
                           None if vols is None else vols[i])
            done += n

    def paths(self, periods: int) -> list[np.ndarray]:
        """Each member's first ``periods`` prices, from a walk at ``seq`` 0."""
        return self.paths_and_vols(periods)[0]

    def paths_and_vols(self, periods: int) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """Each member's first ``periods`` prices and, for a model with a variance, its
        volatilities, from a walk at ``seq`` 0."""
        return self.stretch(0, periods)

    def stretch(self, first: int, n: int) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """Each member's prices ``S[first]`` .. ``S[first + n - 1]`` (and volatilities, for a
        model with a variance), walking on from ``seq`` ``first - 1`` (from 0 when ``first``
        is 0: ``S[0]`` is the start price, as for :class:`PathCursor`)."""
        walks = self.walks
        outs = [np.empty(n) for _ in walks]
        vols = [np.empty(n) for _ in walks] if walks[0].kernel.has_vol else None
        at = 0
        if first == 0 and n:
            for i, walk in enumerate(walks):
                outs[i][0] = walk.params.start_price
                if vols is not None:
                    vols[i][0] = walk.vol
            at = 1
        self.take(n - at, [out[at:] for out in outs],
                  None if vols is None else [vol[at:] for vol in vols])
        return outs, vols


def path_and_vols(params: ModelParams, seed: int, periods: int,
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """The first ``periods`` prices of the stream (``S[0] == startPrice``), and for a model
    with a variance the volatility ``sqrt(v)`` at each (``None`` otherwise)."""
    if periods < 1:
        raise ValueError(f"periods must be >= 1, got {periods}")
    return PathCursor(Walk(params, seed), 0).take(periods)


def path(params: ModelParams, seed: int, periods: int) -> np.ndarray:
    """The first ``periods`` prices of the stream: ``S[0] == startPrice`` through
    ``S[periods-1]``."""
    return path_and_vols(params, seed, periods)[0]


class PathCursor:
    """The prices of one stream from step ``seq`` on, made on demand: ``take(n)`` returns
    the next ``n`` (``S[seq]``, ``S[seq + 1]``, ...) and their volatilities. It holds a walk,
    however long the stretch: a replay costs no memory."""

    __slots__ = ("walk", "seq")

    def __init__(self, walk: Walk, seq: int) -> None:
        """``walk`` is at step ``seq - 1`` (at 0 when ``seq`` is 0: ``S[0]`` is given)."""
        self.walk = walk
        self.seq = seq

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        walk = self.walk
        out = np.empty(n, dtype=np.float64)
        vols = np.empty(n) if walk.kernel.has_vol else None
        if n == 0:
            return out, vols
        if self.seq == 0:  # S[0] is the start price, drawn from nothing
            out[0] = walk.params.start_price
            if vols is not None:
                vols[0] = walk.vol
            walk.take(n - 1, out[1:], None if vols is None else vols[1:])
        else:
            walk.take(n, out, vols)
        self.seq += n
        return out, vols


class CatchUp:
    """The walk of one stream from ``S[0]`` to ``S[seq]``, done a bounded number of steps at a
    time (:meth:`run`), so that reaching a step far along never has to be done in one go.
    On the way it keeps a :class:`PathCursor` from step ``first`` (``None`` when ``first`` is
    past ``seq``): the stretch ``S[first]`` to ``S[seq]`` can then be produced on demand."""

    __slots__ = ("walk", "seq", "first", "cursor", "_mark")

    def __init__(self, params: ModelParams, seed: int, seq: int, first: int) -> None:
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq}")
        if not 0 <= first <= seq + 1:
            raise ValueError(f"first must be 0..{seq + 1}, got {first}")
        self.walk = Walk(params, seed)
        self.seq = seq
        self.first = first
        self.cursor: PathCursor | None = None
        self._mark = max(first - 1, 0) if first <= seq else -1
        """The step at which the cursor is taken (-1: none is)."""
        self._take_cursor()

    @property
    def params(self) -> ModelParams:
        return self.walk.params

    @property
    def seed(self) -> int:
        return self.walk.seed

    @property
    def done(self) -> int:
        """Steps taken."""
        return self.walk.seq

    @property
    def price(self) -> float:
        """``S[done]``."""
        return self.walk.price

    @property
    def finished(self) -> bool:
        return self.walk.seq >= self.seq

    @property
    def left(self) -> tuple[int, str] | None:
        """The first ``seq`` whose price is not a normal double, and why (``None``: none)."""
        return self.walk.left

    def run(self, steps: int) -> bool:
        """Take up to ``steps`` more steps; return :attr:`finished`."""
        walk = self.walk
        while steps > 0 and not self.finished:
            stop = self._mark if walk.seq < self._mark else self.seq
            n = min(steps, stop - walk.seq, PIECE)
            walk.states(n)
            steps -= n
            self._take_cursor()
        return self.finished

    def _take_cursor(self) -> None:
        if self.walk.seq == self._mark and self.cursor is None:
            self.cursor = PathCursor(self.walk.copy(), self.first)
