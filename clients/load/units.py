"""Durations and sizes as people type them (``50ms``, ``1.5s``, ``250us``, ``2m``) and as the
summary prints them. Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re

from clients.load.errors import SpecError

#: Seconds per unit. ``us`` and ``µs`` are the same unit.
DURATION_UNITS: dict[str, float] = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zµ]*)\s*$")


def parse_duration(text: str, *, name: str = "duration", unit_required: bool = False) -> float:
    """Seconds in ``text``: a non-negative number with a unit (``ns us µs ms s m h``), or a
    bare number of seconds unless ``unit_required``.

    >>> parse_duration("50ms"), parse_duration("250us"), parse_duration("2")
    (0.05, 0.00025, 2.0)
    """
    match = _DURATION.match(text)
    if match is None:
        raise SpecError(name, f"{name} must be a duration such as 50ms, 1s or 250us, "
                              f"got {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    if not unit:
        if unit_required:
            raise SpecError(name, f"{name} needs a unit (ns, us, ms, s, m, h): a bare number is "
                                  f"ambiguous, got {text!r}")
        unit = "s"
    if unit not in DURATION_UNITS:
        raise SpecError(name, f"{name} has an unknown unit {unit!r} (use ns, us, ms, s, m or h), "
                              f"got {text!r}")
    seconds = number * DURATION_UNITS[unit]
    if not math.isfinite(seconds):
        raise SpecError(name, f"{name} must be finite, got {text!r}")
    return seconds


def format_duration(seconds: float | None) -> str:
    """A short human form: ``812us``, ``12.3ms``, ``1.25s``; ``-`` for ``None``."""
    if seconds is None or math.isnan(seconds):
        return "-"
    magnitude = abs(seconds)
    if magnitude == 0:
        return "0"
    if magnitude < 1e-3:
        return f"{seconds * 1e6:.0f}us"
    if magnitude < 1:
        return f"{seconds * 1e3:.3g}ms" if magnitude < 0.1 else f"{seconds * 1e3:.0f}ms"
    return f"{seconds:.3g}s" if magnitude < 100 else f"{seconds:.0f}s"


def format_count(value: float) -> str:
    """``1,234`` for whole numbers, ``12.5`` for small fractions, ``1.2M`` past ten million."""
    if value >= 1e7:
        return f"{value / 1e6:.1f}M"
    if value == int(value) or value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def format_bytes(value: float) -> str:
    """Bytes in B, kB, MB or GB (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f} B"
