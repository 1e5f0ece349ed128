"""The absolute schedule: tick ``k`` of a stream is due at ``t0 + k * interval``.

Time is data here: every function takes ``now`` instead of reading a clock, so the schedule is
tested by arithmetic, and the loop that sleeps (in ``server.py``) stays thin.

Instants are rounded to the microsecond. Two streams on the same grid (same interval and
phase, ``t0`` the phase plus a multiple of the interval) then share their instants exactly, so
their ticks leave in the same frame; without rounding they would differ in the last bit of a
double.
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


def first_at(t0: float, interval: float, when: float) -> int:
    """The first ``seq`` whose instant is at or after ``when`` (0 when ``when`` is before
    ``t0``), settled with :func:`instant` itself like :func:`current_seq`."""
    seq = max(0, math.ceil((when - t0) / interval))
    while seq > 0 and instant(t0, interval, seq - 1) >= when:
        seq -= 1
    while instant(t0, interval, seq) < when:
        seq += 1
    return seq


def aligned_t0(now: float, interval: float, phase: float = 0.0) -> float:
    """``t0`` of a new stream: the latest instant at or before ``now`` that is ``phase``
    seconds past a multiple of ``interval`` since the epoch. Streams with the same phase and
    interval tick at the same instants (and in the same frames); streams of different
    phases do not fall due together."""
    return float(round(phase + math.floor((now - phase) / interval) * interval, _DECIMALS))


#: The fractional part of the golden ratio: ``n * GOLDEN mod 1`` for n = 1, 2, 3 ... spreads
#: over [0, 1) as evenly as any sequence can, however many of its first terms are taken.
GOLDEN = (math.sqrt(5) - 1) / 2
#: Phases are whole hundredths of a second: however many connections there are, their
#: private streams fall due at most a hundred times a second. Each wakeup of the timer has a
#: cost of its own (1,000 connections x one 1 Hz stream: 14 % of a core with 10 ms steps, 32 %
#: with 1 ms steps, for about the same p99), and a 10 ms stream stays on the instants of
#: every other one.
PHASE_GRID = 100


def phase(n: int) -> float:
    """The phase (s, whole hundredths in [0, 1)) of the ``n``-th connection: each
    connection's private streams share instants, while those of connections opened together
    are spread evenly over the hundred steps of the second (over fewer, for intervals under
    a second: a 0.1 s stream has ten)."""
    return round((n * GOLDEN) % 1.0 * PHASE_GRID) % PHASE_GRID / PHASE_GRID
