"""The absolute schedule: tick ``k`` of a stream is due at ``t0 + k * interval``.

Time is data here: every function takes ``now`` instead of reading a clock, so the schedule is
tested by arithmetic, and the loop that sleeps (in ``server.py``) stays thin.

Instants are rounded to the microsecond. Two streams on the same grid (same interval, ``t0`` a
multiple of it) then share their instants exactly, so their ticks leave in the same frame;
without rounding they would differ in the last bit of a double.
"""

from __future__ import annotations

import math

import numpy as np

#: A stream counts as due when its instant is at most this far ahead of ``now`` (s): covers
#: the rounding of instants; far below the 1 ms resolution of the event loop's timers.
DUE_SLACK = 50e-6

_DECIMALS = 6


def instant(t0: float, interval: float, seq: int) -> float:
    """When tick ``seq`` is due, in epoch seconds."""
    return float(round(t0 + seq * interval, _DECIMALS))


def instants(t0: np.ndarray, interval: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """:func:`instant` for arrays of streams at once."""
    rounded: np.ndarray = np.round(t0 + seq * interval, _DECIMALS)
    return rounded


def current_seq(t0: float, interval: float, now: float) -> int:
    """The newest ``seq`` that is due at ``now`` (``-1`` when ``t0`` is still ahead)."""
    if now + DUE_SLACK < t0:
        return -1
    seq = math.floor((now - t0) / interval)
    # the division can land one step off near an instant; settle it with instant() itself
    while instant(t0, interval, seq + 1) <= now + DUE_SLACK:
        seq += 1
    while seq > 0 and instant(t0, interval, seq) > now + DUE_SLACK:
        seq -= 1
    return seq


def aligned_t0(now: float, interval: float) -> float:
    """``t0`` of a new stream: the latest multiple of ``interval`` since the epoch, so that
    streams with the same interval tick at the same instants (and in the same frames)."""
    return float(round(math.floor(now / interval) * interval, _DECIMALS))
