"""The arithmetic of each model: what one step draws, and how the state moves.

Every stream has a canonical state: ``y``, its log price relative to the start
(``S[k] = startPrice * exp(y[k])``, with :func:`simulation.ieee.exp`), and for Heston ``v``, the
variance. A kernel turns draws into new states, elementwise, so the same code steps one
stream along a whole path or every due stream of a server by one instant; either way each
number is made by the same IEEE operations in the same order, which is what makes a tick
equal, bit for bit, the batch door's price, on every CPU.

Two kinds of model:

* *increment* models (``gbm``, ``merton``): ``y[k] = y[k-1] + inc[k]``, ``inc`` a function of
  the draws alone, so a block of prices is made at once (a sequential ``cumsum``, then one
  ``exp``);
* *recursive* models (``ou``, ``heston``): the next state depends on the last, so they are
  walked one step at a time, vectorised across streams (:meth:`Kernel.walk_rows`); a single
  path uses the same operations on Python floats (:meth:`Kernel.walk`), which round alike.

Draws come from the stream's own PCG64 generator. ``gbm`` and ``ou`` draw one standard normal
a step, in one sequence, so how the draws are split never matters. ``merton`` and ``heston``
draw several kinds, so they draw per *chunk* of :data:`CHUNK` steps, in a fixed order (each
kernel's :meth:`~Kernel.draw` says which), and their streams are always cut at chunk
boundaries counted from ``seq`` 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from simulation import ieee
from simulation.params import GBMParams, HestonParams, MertonParams, ModelParams, OUParams

#: Steps a chunked model draws for at once; part of what defines its paths.
CHUNK = 128
#: Andersen's switch between the QE scheme's two branches, ``psi <= 1.5``, as ``t = 2 / psi``.
T_SWITCH = 4 / 3

Consts = Sequence[Any]  # per-stream constants: floats, or arrays with one entry per stream
#: Elements of the arrays of one piece of elementwise work: a few dozen passes over arrays
#: that stay in the CPU's cache cost a fraction of passes over arrays in memory.
PIECE_ELEMENTS = 8192
#: Streams a recursive model walks across at once: a step's few arrays of this many stay in
#: cache, and each numpy call still covers enough of them to cost little per element.
WALK_ROWS = 8192


def row_groups(rows: int) -> list[slice]:
    """Slices of ``rows`` rows of :data:`CHUNK` steps, each about :data:`PIECE_ELEMENTS`."""
    size = max(PIECE_ELEMENTS // CHUNK, 1)
    return [slice(start, start + size) for start in range(0, rows, size)]


def running_sum(y: Any, inc: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``y + inc[..., 0]``, then ``+ inc[..., 1]``, and so on along the last axis, left to
    right: the log prices after each increment from ``y`` (one per row). ``inc`` is used
    up (its first column takes ``y``); the same bits as a ``cumsum`` of ``[y, *inc]``."""
    if inc.shape[-1]:
        inc[..., 0] += y
    result: np.ndarray = np.cumsum(inc, axis=-1, out=out)
    return result


def _exp1(x: float) -> float:
    return float(ieee.exp(x)[0])


def expm1(x: float) -> float:
    """``exp(x) - 1`` without the cancellation of small ``x`` (basic operations only)."""
    if abs(x) < 1e-3:  # Taylor to degree 6: the rest is below 1e-22 relative
        return x * (1.0 + x / 2 * (1.0 + x / 3 * (1.0 + x / 4 * (1.0 + x / 5 * (1.0 + x / 6)))))
    return _exp1(x) - 1.0


class Kernel:
    """One model's arithmetic (subclasses); all methods are elementwise over streams."""

    name: str
    kinds: int = 1
    """Draw arrays per step."""
    chunked: bool = False
    """True when draws are made per :data:`CHUNK` steps (more than one kind)."""
    recursive: bool = False
    has_vol: bool = False
    """True when ticks carry ``vol``: the state has a variance."""
    shock: int = 0
    """The draw row of the price's own standard normal shock (what a group correlates)."""

    def constants(self, params: Any) -> tuple[float, ...]:
        """The numbers a step needs, computed once per stream."""
        raise NotImplementedError

    def start_variance(self, params: Any) -> float:
        return math.nan

    def draw(self, rng: np.random.Generator, params: Any, out: np.ndarray) -> None:
        """Fill ``out``, shape ``(kinds, steps)``, with the draws of the next ``steps`` steps
        (a multiple of :data:`CHUNK` when chunked)."""
        rng.standard_normal(out=out[0])

    def increments(self, c: Consts, draws: np.ndarray) -> np.ndarray:
        """An increment model's ``inc`` (shape of ``draws[0]``)."""
        raise NotImplementedError

    def walk(self, c: Consts, y: float, v: float, draws: np.ndarray,
             ) -> tuple[np.ndarray, np.ndarray | None]:
        """A recursive model's states along ``draws.shape[1]`` steps of one stream: ``y``
        and ``v`` after each (``v`` is ``None`` for a model without a variance). The
        sequential part runs on Python floats, which round as numpy's float64 does."""
        raise NotImplementedError

    def walk_rows(self, c: Consts, y: np.ndarray, v: np.ndarray, draws: np.ndarray,
                  ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`walk` for many streams at once (``c``, ``y``, ``v`` one entry per row,
        ``draws`` of shape ``(rows, kinds, steps)``), vectorised across rows; the same
        numbers as :meth:`walk` row by row."""
        raise NotImplementedError


class GBM(Kernel):
    """``inc = (mu - sigma^2 / 2) dt + sigma sqrt(dt) Z``."""

    name = "gbm"

    def constants(self, params: GBMParams) -> tuple[float, ...]:
        return (params.drift, params.vol)

    def increments(self, c: Consts, draws: np.ndarray) -> np.ndarray:
        drift, vol = c
        inc: np.ndarray = drift + vol * draws[0]
        return inc


class Merton(Kernel):
    """GBM plus ``N`` jumps a step, ``N`` Poisson of mean ``jumpRate dt``; ``N`` normal log
    jumps sum to one normal of mean ``N jumpMean`` and variance ``N jumpStd^2``:
    ``inc = (mu - lambda k - sigma^2 / 2) dt + sigma sqrt(dt) Z + N m + s sqrt(N) W``, with
    ``k = E[e^J] - 1 = exp(m + s^2 / 2) - 1`` the compensator.

    Per chunk: ``N`` (``poisson``, CHUNK of them), then one ``standard_normal`` call for
    ``Z`` (CHUNK) followed by ``W`` for the steps that jump (``W`` is 0 elsewhere)."""

    name = "merton"
    kinds = 3
    chunked = True

    def constants(self, params: MertonParams) -> tuple[float, ...]:
        p = params
        dt = p.dt
        k = expm1(p.jump_mean + p.jump_std * p.jump_std / 2)
        return ((p.mu - p.jump_rate * k - p.sigma * p.sigma / 2) * dt, p.sigma * math.sqrt(dt),
                p.jump_rate * dt, p.jump_mean, p.jump_std)

    def draw(self, rng: np.random.Generator, params: MertonParams, out: np.ndarray) -> None:
        lam = params.jump_rate * params.dt
        for start in range(0, out.shape[1], CHUNK):
            jumps = rng.poisson(lam, CHUNK)
            z = rng.standard_normal(CHUNK + int(np.count_nonzero(jumps)))
            out[0, start:start + CHUNK] = z[:CHUNK]
            out[1, start:start + CHUNK] = jumps
            w = out[2, start:start + CHUNK]
            w[:] = 0.0
            w[jumps > 0] = z[CHUNK:]

    def increments(self, c: Consts, draws: np.ndarray) -> np.ndarray:
        drift, vol, _, jump_mean, jump_std = c
        z, jumps, w = draws
        inc: np.ndarray = ((drift + vol * z) + jumps * jump_mean) + (jump_std * np.sqrt(jumps)) * w
        return inc


class OU(Kernel):
    """The exact transition of the log price ``x``: ``x' = L + (x - L) e^(-kappa dt) + sigma
    sqrt((1 - e^(-2 kappa dt)) / (2 kappa)) Z`` with ``L = ln(level)``; in ``y = x -
    ln(startPrice)``: ``y' = ((y - c) phi + c) + s Z``, ``c = ln(level / startPrice)``."""

    name = "ou"
    recursive = True

    def constants(self, params: OUParams) -> tuple[float, ...]:
        p = params
        u = p.kappa * p.dt
        return (float(ieee.log(p.level / p.start_price)[0]), _exp1(-u),
                p.sigma * math.sqrt(-expm1(-2 * u) / (2 * p.kappa)))

    def walk(self, c: Consts, y: float, v: float, draws: np.ndarray,
             ) -> tuple[np.ndarray, np.ndarray | None]:
        centre, phi, s = (float(x) for x in c)
        out = []
        for z in draws[0].tolist():
            y = ((y - centre) * phi + centre) + s * z
            out.append(y)
        return np.array(out), None

    def walk_rows(self, c: Consts, y: np.ndarray, v: np.ndarray, draws: np.ndarray,
                  ) -> tuple[np.ndarray, np.ndarray | None]:
        centre, phi, s = c
        out = np.empty((draws.shape[2], draws.shape[0]))
        for k, z in enumerate(np.ascontiguousarray(draws[:, 0].T)):
            y = ((y - centre) * phi + centre) + s * z
            out[k] = y
        return np.ascontiguousarray(out.T), None


class Heston(Kernel):
    """Andersen's QE scheme (2008) for the variance, with his martingale correction for the
    log price, central weights (gamma1 = gamma2 = 1/2). From the variance ``v`` before a step:

    * ``m = v e + theta (1 - e)``, ``e = e^(-kappa dt)``, the next variance's conditional mean;
      ``h = s^2 / 2 = v xi^2 e (1 - e) / (2 kappa) + theta xi^2 (1 - e)^2 / (4 kappa)``, half its
      conditional variance; ``t = m^2 / h = 2 / psi``;
    * ``t >= 4/3`` (``psi <= 1.5``): ``v' = a (sqrt(b2) + Zv)^2`` with ``b2 = (t - 1) +
      sqrt(t (t - 1))``, ``a = m / (1 + b2)``; else ``v' = 0`` with probability ``p = (2 - t) /
      (2 + t)`` (``U <= p``), otherwise ``ln((1 - p) / (1 - U)) / beta`` with ``1 - p = 2 t / (2 +
      t)``, ``beta = (1 - p) / m`` (Andersen's inversion of the branch's distribution);
    * ``y' = y + mu dt + K0* + K1 v + K2 v' + sqrt(K3 (v + v')) Zx``, where ``K0*`` makes
      ``E[S'/S | v] = exp(mu dt)`` exactly: with ``A = K2 + K3 / 2``, ``K0* + K1 v = ln(1 - 2 A
      a) / 2 - A b2 a / (1 - 2 A a) - K3 v / 2`` or ``-ln(p + (1 - p) / (1 - A / beta)) - K3 v
      / 2``. Where that expectation does not exist (``2 A a >= 1``, ``A >= beta``: only for a
      strongly positive ``rho`` and long steps) the plain ``K0 = -rho kappa theta dt / xi`` is
      used.

    Per chunk: ``standard_normal`` for ``Zv`` then ``Zx`` (one call, 2 x CHUNK), then
    ``random`` for ``U``: the draws' rows are ``Zv, Zx, U``.

    The variance is walked step by step (vectorised across streams), each step computing only
    ``v'`` (the exponential branch only where it is taken); the increments of ``y`` are then
    computed for all the steps at once from ``v`` and ``v'``, which repeats the few operations
    that give ``m``, ``t``, ``b2`` and ``a`` (the same operations, so the same bits and the same
    branches). With ``rho <= 0`` the correction always exists (``A <= -rho^2 dt / 4 <= 0``);
    the constant ``always`` says so, and the increments then skip the checks."""

    name = "heston"
    kinds = 3
    chunked = True
    recursive = True
    has_vol = True
    shock = 1  # Zx

    def start_variance(self, params: HestonParams) -> float:
        return params.v0

    def constants(self, params: HestonParams) -> tuple[float, ...]:
        p = params
        dt, kappa, theta, xi, rho = p.dt, p.kappa, p.theta, p.xi, p.rho
        e = _exp1(-kappa * dt)
        one_minus_e = -expm1(-kappa * dt)
        c1h = xi * xi * e * one_minus_e / (2 * kappa)
        c2h = theta * xi * xi * one_minus_e * one_minus_e / (4 * kappa)
        k0 = -rho * kappa * theta * dt / xi
        k1 = 0.5 * dt * (kappa * rho / xi - 0.5) - rho / xi
        k2 = 0.5 * dt * (kappa * rho / xi - 0.5) + rho / xi
        k3 = 0.5 * dt * (1 - rho * rho)
        return (e, theta * one_minus_e, c1h, c2h, p.mu * dt, k0, k1, k2, k3, 0.5 * k3,
                k2 + 0.5 * k3, float(rho <= 0.0))

    def draw(self, rng: np.random.Generator, params: HestonParams, out: np.ndarray) -> None:
        if out.shape[1] == CHUNK and out.flags.c_contiguous:  # a bank's block: no copies
            rng.standard_normal(out=out[:2].reshape(-1))
            rng.random(out=out[2])
            return
        for start in range(0, out.shape[1], CHUNK):
            chunk = np.empty((3, CHUNK))
            self.draw(rng, params, chunk)
            out[:, start:start + CHUNK] = chunk

    def walk(self, c: Consts, y: float, v: float, draws: np.ndarray,
             ) -> tuple[np.ndarray, np.ndarray | None]:
        e, th1, c1h, c2h = (float(x) for x in c[:4])
        sqrt, log, switch = math.sqrt, ieee.log_float, T_SWITCH
        after = []
        start = v
        for zv, u in zip(draws[0].tolist(), draws[2].tolist()):
            m = v * e + th1  # the same operations as _variances and _increments
            t = (m * m) / (v * c1h + c2h)
            if t >= switch:
                t1 = t - 1.0
                b2 = t1 + sqrt(t * t1)
                w = sqrt(b2) + zv
                v = (m / (1.0 + b2) * w) * w
            else:
                q = 2.0 + t
                if u <= (2.0 - t) / q:
                    v = 0.0
                else:
                    keep = (t + t) / q  # 1 - p
                    v = (m / keep) * log(keep / (1.0 - u))
            after.append(v)
        vs = np.array(after)
        before = np.concatenate(([start], vs[:-1]))
        with np.errstate(all="ignore"):
            inc = self._increments(c, before, vs, draws[1])
        return running_sum(y, inc), vs

    def walk_rows(self, c: Consts, y: np.ndarray, v: np.ndarray, draws: np.ndarray,
                  ) -> tuple[np.ndarray, np.ndarray | None]:
        rows, steps = draws.shape[0], draws.shape[2]
        ys, after = np.empty((rows, steps)), np.empty((rows, steps))
        for wide in range(0, rows, WALK_ROWS):  # the walk's few arrays stay in cache
            w = slice(wide, wide + WALK_ROWS)
            after[w] = self._variances([x[w] for x in c], v[w], draws[w])
            before = np.concatenate((v[w, None], after[w, :-1]), axis=1)
            for g in row_groups(len(before)):  # each piece's arrays stay in cache
                rg = slice(wide + g.start, wide + g.stop)
                with np.errstate(all="ignore"):
                    inc = self._increments([x[rg, None] for x in c], before[g], after[rg],
                                           draws[rg, 1])
                running_sum(y[rg], inc, out=ys[rg])
        return ys, after

    def _variances(self, c: Consts, v: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """The variance after each step of each row, walked one step at a time across rows."""
        rows, steps = draws.shape[0], draws.shape[2]
        by_step = np.empty((steps, 2, rows))  # (steps, Zv U, rows)
        for g in row_groups(rows):  # a transpose a cache-sized piece at a time
            by_step[:, :, g] = draws[g, 0:3:2].transpose(2, 1, 0)
        after = np.empty((steps, rows))
        e, th1, c1h, c2h = c[:4]
        m, t, t1, x = (np.empty(rows) for _ in range(4))
        with np.errstate(all="ignore"):  # the branch not taken may divide by 0 or sqrt(-x)
            for k, (zv, u) in enumerate(by_step):
                np.multiply(v, e, out=m)
                m += th1  # m = v e + theta (1 - e)
                np.multiply(v, c1h, out=x)
                x += c2h
                np.multiply(m, m, out=t)
                t /= x  # t = m^2 / h
                np.subtract(t, 1.0, out=t1)
                np.multiply(t, t1, out=x)
                np.sqrt(x, out=x)
                x += t1  # b2 = (t - 1) + sqrt(t (t - 1))
                nxt = after[k]
                np.add(x, 1.0, out=nxt)
                np.divide(m, nxt, out=nxt)  # a
                np.sqrt(x, out=x)
                x += zv
                nxt *= x
                nxt *= x  # v' = (a w) w
                low = np.flatnonzero(t < T_SWITCH)
                if low.size:
                    nxt[low] = self._exponential(m[low], t[low], u[low])
                v = nxt
        return after.T

    @staticmethod
    def _exponential(m: np.ndarray, t: np.ndarray, u: np.ndarray) -> np.ndarray:
        """QE's exponential branch, where ``t < 4/3``."""
        q = 2.0 + t
        keep = (t + t) / q  # 1 - p
        out: np.ndarray = np.where(u > (2.0 - t) / q,
                                   (m / keep) * ieee.log(keep / (1.0 - u)), 0.0)
        return out

    @staticmethod
    def _increments(c: Consts, before: np.ndarray, after: np.ndarray, zx: np.ndarray,
                    ) -> np.ndarray:
        """The increments of ``y``, from the variance before and after each step."""
        e, th1, c1h, c2h, mudt, k0, k1, k2, k3, k3h, big_a, always = c
        m = np.multiply(before, e)
        m += th1
        t = np.multiply(m, m)
        h = np.multiply(before, c1h)
        h += c2h
        t /= h  # t, m, b2 and a as _variances computes them
        t1 = np.subtract(t, 1.0, out=h)
        b2 = np.multiply(t, t1)
        np.sqrt(b2, out=b2)
        b2 += t1
        a = np.add(b2, 1.0)
        np.divide(m, a, out=a)
        den = np.multiply(a, big_a + big_a)
        np.subtract(1.0, den, out=den)  # 1 - 2 A a
        exists = None if np.all(always) else den > 0.0  # where the correction exists
        shift = b2  # A b2 a / (1 - 2 A a), in b2's place
        shift *= big_a
        shift *= a
        shift /= den
        low = np.flatnonzero(t < T_SWITCH)
        arg = den  # the log's argument, in den's place: the exponential branch's where taken
        if low.size:
            a_low = np.broadcast_to(big_a, t.shape).reshape(-1)[low]
            tl, ml = t.reshape(-1)[low], m.reshape(-1)[low]
            q = 2.0 + tl
            keep = (tl + tl) / q  # 1 - p
            ab = a_low * (ml / keep)  # A / beta
            arg.reshape(-1)[low] = (2.0 - tl) / q + keep / (1.0 - ab)
            if exists is not None:
                exists.reshape(-1)[low] = ab < 1.0
        if exists is not None:
            np.copyto(arg, 1.0, where=~exists)
        log = ieee.log(arg)
        base = np.multiply(log, 0.5)
        base -= shift
        if low.size:
            base.reshape(-1)[low] = -log.reshape(-1)[low]
        base -= np.multiply(before, k3h, out=shift)  # K0* + K1 v
        if exists is not None:
            base = np.where(exists, base, k0 + k1 * before)
        base += mudt
        base += np.multiply(after, k2, out=shift)
        var = np.add(before, after, out=log)
        var *= k3
        np.sqrt(var, out=var)
        var *= zx
        base += var
        inc: np.ndarray = base  # ((mu dt + K0* + K1 v) + K2 v') + sqrt(K3 (v + v')) Zx
        return inc


KERNELS: dict[str, Kernel] = {k.name: k for k in (GBM(), Merton(), OU(), Heston())}


def correlate(draws: Sequence[np.ndarray], row: int, lower: Sequence[Sequence[float]],
              ) -> list[np.ndarray]:
    """The draws of a correlated group's members (each ``(kinds, steps)``, the same steps),
    with row ``row`` of member ``i`` replaced by ``sum(lower[i][j] * z_j for j <= i)``,
    summed left to right: standard normals correlated by ``lower @ lower.T``. New arrays; the
    given ones are not changed."""
    mixed = [d.copy() for d in draws]
    for i, weights in enumerate(lower):
        z = weights[0] * draws[0][row]
        for j in range(1, i + 1):
            z = z + weights[j] * draws[j][row]
        mixed[i][row] = z
    return mixed


def cholesky(matrix: Sequence[Sequence[float]]) -> list[list[float]] | None:
    """The lower-triangular ``L`` with ``L L^T = matrix``, on Python floats in a fixed order
    (no LAPACK, whose rounding depends on the CPU); ``None`` unless the matrix is positive
    definite (every pivot above 1e-12)."""
    n = len(matrix)
    lower = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            total = float(matrix[i][j])
            for k in range(j):
                total -= lower[i][k] * lower[j][k]
            if i == j:
                if not total > 1e-12:
                    return None
                lower[i][i] = math.sqrt(total)
            else:
                lower[i][j] = total / lower[j][j]
    return lower


def kernel_of(params: ModelParams) -> Kernel:
    return KERNELS[params.name]
