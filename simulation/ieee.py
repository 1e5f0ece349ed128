"""``exp`` and ``log`` of float64 arrays built from IEEE basic operations only.

numpy picks its ``exp`` and ``log`` kernels at run time by CPU (AVX-512, AVX2, baseline), and
they do not round alike: a path whose every price is computed from the one before differs
between two machines from the first differing rounding on. These two functions use only
operations that IEEE 754 rounds exactly one way (``+ - * /``, ``rint``, ``frexp``, ``ldexp``,
table lookups) in a fixed order, so they give the same bits on every CPU and with every
numpy kernel. ``exp`` is accurate to about half a unit in the last place, ``log`` to 1.5
(``tests/simulation/test_ieee.py`` checks them against 50-digit references); speed is a few
numpy calls per element, which is why the models call them once per block of prices.

Tables are computed at import with :mod:`decimal` (software arithmetic, the same
everywhere) and rounded once to double.

``exp``: ``x = k ln2 / 128 + r`` with ``|r| <= ln2 / 256``; ``exp(x) = 2^(k // 128) *
2^((k % 128) / 128) * (1 + p(r))``, ``p`` the degree-5 Taylor polynomial (remainder below
``1e-18``). ``log``: ``x = 2^e * f`` with ``f`` in ``[1/sqrt(2), sqrt(2))``; ``f = c (1 + r)``
with ``c = j / 128`` the nearest table point, ``|r| <= 1 / 180``; ``log(x) = (e ln2_hi +
log_hi(c)) + (e ln2_lo + log_lo(c) + log1p(r))``, ``log1p`` a degree-8 series.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any

import numpy as np

_STEPS = 128  # table points per octave
_BLOCK = 8192  # elements computed at once
_EXP_CLAMP = 800.0  # exp of anything beyond is 0 or inf anyway; keeps k in int64


def _split(value: Decimal, free_bits: int) -> tuple[float, float]:
    """``value`` as ``hi + lo``: ``hi`` with its low ``free_bits`` mantissa bits zero (so an
    integer of up to ``free_bits`` bits times ``hi`` is exact), ``lo`` the rest, rounded."""
    bits = struct.unpack("<Q", struct.pack("<d", float(value)))[0]
    hi = struct.unpack("<d", struct.pack("<Q", bits & ~((1 << free_bits) - 1)))[0]
    return hi, float(value - Decimal(hi))


with localcontext() as _ctx:
    _ctx.prec = 50
    _LN2 = Decimal(2).ln()
    _EXP_HI = np.array([float(Decimal(2) ** (Decimal(j) / _STEPS)) for j in range(_STEPS)])
    _EXP_LO = np.array([float(Decimal(2) ** (Decimal(j) / _STEPS) - Decimal(float(hi)))
                        for j, hi in enumerate(_EXP_HI)])
    _STEP_HI, _STEP_LO = _split(_LN2 / _STEPS, 24)  # k < 2**18 here
    _LN2_HI, _LN2_LO = _split(_LN2, 12)  # binary exponents < 2**11
    _LOG_POINTS = np.arange(2 * _STEPS, dtype=np.float64) / _STEPS  # c_j = j / 128
    _LOG_HI = np.array([float((Decimal(j) / _STEPS).ln()) if j else 0.0
                        for j in range(2 * _STEPS)])
    _LOG_LO = np.array([float((Decimal(j) / _STEPS).ln() - Decimal(float(hi))) if j else 0.0
                        for j, hi in enumerate(_LOG_HI)])
    _LOG_INV = np.array([float(_STEPS / Decimal(j)) if j else 0.0 for j in range(2 * _STEPS)])
_INV_STEP = float(_STEPS / _LN2)
_SQRT_HALF = float(Decimal("0.5").sqrt())
_EXP_C = (1 / 2, 1 / 6, 1 / 24, 1 / 120)
_LOG_C = tuple(float(Decimal((-1) ** (n + 1)) / n) for n in range(2, 9))  # -1/2, 1/3, ...


def _blockwise(kernel: Callable[[np.ndarray], np.ndarray]) -> Callable[[Any], np.ndarray]:
    """Apply an elementwise kernel a cache-sized piece at a time: each kernel makes a few
    dozen passes over its buffers, which are then read from cache, not from memory."""

    def apply(given: Any) -> np.ndarray:
        x: np.ndarray = np.array(given, dtype=np.float64, ndmin=1)  # a copy, kernels write in it
        if x.size <= _BLOCK:
            return kernel(x)
        flat = x.reshape(-1)
        for start in range(0, flat.size, _BLOCK):
            flat[start:start + _BLOCK] = kernel(flat[start:start + _BLOCK])
        return x

    apply.__doc__ = kernel.__doc__
    apply.__name__ = kernel.__name__.lstrip("_")
    return apply


@_blockwise
def exp(x: np.ndarray) -> np.ndarray:
    """``e ** x`` elementwise, the same bits on every machine. Overflows to ``inf`` and
    underflows (through subnormals) to 0 as ``numpy.exp`` does; ``x`` must not be NaN.

    Written with ``out=`` so that each step reuses a few buffers (each keeps the grouping of
    ``hi + (lo + hi * p)`` and ``r + r * r * (...)``)."""
    np.clip(x, -_EXP_CLAMP, _EXP_CLAMP, out=x)
    kf = np.multiply(x, _INV_STEP)
    np.rint(kf, out=kf)
    r = np.multiply(kf, _STEP_HI)
    np.subtract(x, r, out=r)
    np.multiply(kf, _STEP_LO, out=x)
    r -= x  # r = (x - k hi) - k lo
    k = kf.astype(np.int64)
    scale = np.right_shift(k, 7).astype(np.int32)
    k &= _STEPS - 1
    c2, c3, c4, c5 = _EXP_C
    u = np.multiply(r, c5, out=kf)
    u += c4
    u *= r
    u += c3
    u *= r
    u += c2
    p = np.multiply(r, r, out=x)
    p *= u
    p += r  # p = r + r * r * (c2 + r * (c3 + r * (c4 + r * c5)))
    hi = np.take(_EXP_HI, k)
    p *= hi
    p += np.take(_EXP_LO, k, out=u)
    p += hi
    with np.errstate(over="ignore", under="ignore"):
        result: np.ndarray = np.ldexp(p, scale, out=p)
    return result


@_blockwise
def log(x: np.ndarray) -> np.ndarray:
    """``ln x`` elementwise for positive normal ``x``, the same bits on every machine (other
    inputs give meaningless numbers, not errors: callers keep to the domain)."""
    f, e = np.frexp(x)  # x = f * 2**e, f in [0.5, 1)
    low = f < _SQRT_HALF
    np.add(f, f, out=f, where=low)  # now in [1/sqrt(2), sqrt(2))
    e -= low
    j = np.multiply(f, _STEPS)
    j = np.rint(j, out=j).astype(np.int64)
    r = np.subtract(f, np.take(_LOG_POINTS, j), out=f)  # exact (Sterbenz)
    r *= np.take(_LOG_INV, j)
    c2, c3, c4, c5, c6, c7, c8 = _LOG_C
    q = np.multiply(r, c8)
    for c in (c7, c6, c5, c4, c3):
        q += c
        q *= r
    q += c2
    w = np.multiply(r, r)
    w *= q
    w += r  # r + r * r * (c2 + r * (c3 + ...)): log1p(r)
    ef = e.astype(np.float64)
    q = np.multiply(ef, _LN2_LO, out=q)
    q += np.take(_LOG_LO, j)
    w += q  # lo = (e ln2_lo + log_lo(c)) + log1p(r)
    s = np.multiply(ef, _LN2_HI, out=ef)  # exact
    s += np.take(_LOG_HI, j)
    s += w
    result: np.ndarray = s
    return result
