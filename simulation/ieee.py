"""``exp`` and ``log`` of float64 arrays built from IEEE basic operations only.

numpy picks its ``exp`` and ``log`` kernels at run time by CPU (AVX-512, AVX2, baseline), and
they do not round alike: a path whose every price is computed from the one before differs
between two machines from the first differing rounding on. These two functions use only
operations that IEEE 754 rounds exactly one way (``+ - * /``, ``rint``, ``ldexp``, integer
operations on the bits, table lookups) in a fixed order, so they give the same bits on every
CPU and with every numpy kernel. ``exp`` is accurate to about half a unit in the last place,
``log`` to about one (``tests/simulation/test_ieee.py`` checks them against 50-digit
references); speed is a few numpy calls per element, which is why the models call them once
per block of prices (:func:`log_float` is ``log`` for one Python float).

Tables are computed at import with :mod:`decimal` (software arithmetic, the same
everywhere) and rounded once to double.

``exp``: ``x = k ln2 / 128 + r`` with ``|r| <= ln2 / 256``; ``exp(x) = 2^(k // 128) *
2^((k % 128) / 128) * (1 + p(r))``, ``p`` the degree-5 Taylor polynomial (remainder below
``1e-18``). ``log``: ``x = 2^e * z`` with ``z`` in ``[0.707, 1.414)``, split by its top eight
mantissa bits into 256 intervals; ``z = c (1 + r)`` with ``c`` the centre of ``z``'s interval
(1 for the two beside 1), ``|r| <= 1 / 256``; ``log(x) = (e ln2_hi + log_hi(c)) + (e ln2_lo +
log_lo(c) + log1p(r))``, ``log1p`` a degree-7 series (remainder below ``2e-18`` relative).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any

import numpy as np

_STEPS = 128  # table points per octave
_BLOCK = 8192  # elements computed at once
_EXP_CLAMP = 800.0  # exp of anything beyond is 0 or inf anyway; keeps k in int64


def _double(bits: int) -> float:
    value: float = struct.unpack("<d", struct.pack("<q", bits))[0]
    return value


def _bits(value: float) -> int:
    bits: int = struct.unpack("<q", struct.pack("<d", value))[0]
    return bits


_LOG_SHIFT = 44  # the mantissa bits below an interval's index
_LOG_INTERVALS = 1 << (52 - _LOG_SHIFT)  # intervals per octave: 256
_LOG_OFF = _bits(math.sqrt(0.5)) & ~((1 << _LOG_SHIFT) - 1)  # where the octave of z starts
_EXPONENT_INT = -1 << 52  # the sign and exponent bits
_EXPONENT = np.int64(_EXPONENT_INT)


def _log_row(i: int) -> tuple[float, float, float, float]:
    """Interval ``i`` of ``z``: its centre ``c`` (1 exactly for the two intervals beside 1, so
    that a log near 1 keeps its relative accuracy), ``1/c``, and ``ln c`` as ``hi + lo``."""
    start = _LOG_OFF + (i << _LOG_SHIFT)
    one = _bits(1.0)
    c = 1.0 if one in (start, start + (1 << _LOG_SHIFT)) else _double(
        start + (1 << (_LOG_SHIFT - 1)))
    ln = Decimal(c).ln()
    return c, float(1 / Decimal(c)), float(ln), float(ln - Decimal(float(ln)))


def _split(value: Decimal, free_bits: int) -> tuple[float, float]:
    """``value`` as ``hi + lo``: ``hi`` with its low ``free_bits`` mantissa bits zero (so an
    integer of up to ``free_bits`` bits times ``hi`` is exact), ``lo`` the rest, rounded."""
    hi = _double(_bits(float(value)) & ~((1 << free_bits) - 1))
    return hi, float(value - Decimal(hi))


with localcontext() as _ctx:
    _ctx.prec = 50
    _LN2 = Decimal(2).ln()
    _EXP_HI = np.array([float(Decimal(2) ** (Decimal(j) / _STEPS)) for j in range(_STEPS)])
    _EXP_LO = np.array([float(Decimal(2) ** (Decimal(j) / _STEPS) - Decimal(float(hi)))
                        for j, hi in enumerate(_EXP_HI)])
    _STEP_HI, _STEP_LO = _split(_LN2 / _STEPS, 24)  # k < 2**18 here
    _LN2_HI, _LN2_LO = _split(_LN2, 12)  # binary exponents < 2**11
    _LOG_ROWS = [_log_row(i) for i in range(_LOG_INTERVALS)]
    _LOG_TABLE = np.array(_LOG_ROWS)
_INV_STEP = float(_STEPS / _LN2)
_EXP_C = (1 / 2, 1 / 6, 1 / 24, 1 / 120)
_LOG_C = tuple(float(Decimal((-1) ** (n + 1)) / n) for n in range(2, 8))  # -1/2, 1/3, ...


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
    inputs give meaningless numbers, not errors: callers keep to the domain).

    Works on the bits: ``x = 2^e z`` with ``z`` in ``[0.707, 1.414)`` and the interval of
    ``z`` read from its top mantissa bits, integer operations only (written in ``x``)."""
    bits = x.view(np.int64)
    moved = np.subtract(bits, _LOG_OFF)
    i = np.right_shift(moved, _LOG_SHIFT)
    i &= _LOG_INTERVALS - 1
    e = np.right_shift(moved, 52)  # arithmetic: negative below 1
    moved &= _EXPONENT
    bits -= moved  # x is now z = x / 2**e
    row = np.take(_LOG_TABLE, i, axis=0)  # c, 1/c, log_hi(c), log_lo(c)
    r = np.subtract(x, row[..., 0], out=x)  # exact (Sterbenz)
    r *= row[..., 1]
    c2, c3, c4, c5, c6, c7 = _LOG_C
    q = np.multiply(r, c7)
    for c in (c6, c5, c4, c3):
        q += c
        q *= r
    q += c2
    w = np.multiply(r, r)
    w *= q
    w += r  # r + r * r * (c2 + r * (c3 + ...)): log1p(r)
    ef = e.astype(np.float64)
    q = np.multiply(ef, _LN2_LO, out=q)
    q += row[..., 3]
    w += q  # lo = (e ln2_lo + log_lo(c)) + log1p(r)
    s = np.multiply(ef, _LN2_HI, out=ef)  # exact
    s += row[..., 2]
    s += w
    result: np.ndarray = s
    return result


def log_float(x: float) -> float:
    """:func:`log` of one Python float, the same operations in the same order (so the same
    bits), for code that walks a path one float at a time and cannot afford an array call."""
    bits = _bits(x)
    moved = bits - _LOG_OFF
    c, inv, hi, lo = _LOG_ROWS[(moved >> _LOG_SHIFT) & (_LOG_INTERVALS - 1)]
    e = float(moved >> 52)
    r = (_double(bits - (moved & _EXPONENT_INT)) - c) * inv
    c2, c3, c4, c5, c6, c7 = _LOG_C
    q = ((((r * c7 + c6) * r + c5) * r + c4) * r + c3) * r + c2
    w = r * r * q + r
    return e * _LN2_HI + hi + (w + (e * _LN2_LO + lo))
