"""HDR histograms of durations, recorded in whole microseconds, and how they travel between
processes (encode in a worker, decode and add in the coordinator).

Recording is batched: a worker collects delays in a plain list on the hot path and hands the
list to :func:`record_seconds` now and then, which records it with numpy in one pass per
distinct HDR bucket instead of one Python call per tick.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from hdrh.histogram import HdrHistogram

#: Resolution: values are whole microseconds.
UNITS_PER_SECOND = 1_000_000
#: The largest value tracked (1 hour, in µs); larger values are recorded as this.
HIGHEST_US = 3_600 * UNITS_PER_SECOND
#: Significant decimal digits kept (relative error below 0.1 %).
SIGNIFICANT_FIGURES = 3
# Values below 2**_EXACT_BITS are kept exactly with 3 significant figures (HdrHistogram's
# sub-bucket count is 2048); above, a value's resolution is 2**(bit length - _EXACT_BITS).
_EXACT_BITS = 11


def new_histogram() -> HdrHistogram:
    """An empty histogram of microseconds, 1 µs to one hour, 3 significant figures."""
    return HdrHistogram(1, HIGHEST_US, SIGNIFICANT_FIGURES)


def record_seconds(histogram: HdrHistogram, seconds: Sequence[float] | np.ndarray) -> int:
    """Record many durations given in seconds; return how many were below zero (recorded
    as 0).

    Values are rounded to microseconds and then to the start of their HDR bucket, so that one
    ``record_value(value, count)`` per distinct bucket records them all: the result is the
    same histogram as one call per value, for a fraction of the cost.
    """
    if len(seconds) == 0:
        return 0
    micros = np.rint(np.asarray(seconds, dtype=np.float64) * UNITS_PER_SECOND)
    negative = int(np.count_nonzero(micros < 0))
    values = np.clip(micros, 0, HIGHEST_US).astype(np.int64)
    values = bucket_floor(values)
    distinct, counts = np.unique(values, return_counts=True)
    record = histogram.record_value
    for value, count in zip(distinct.tolist(), counts.tolist()):
        record(value, count)
    return negative


def bucket_floor(values: np.ndarray) -> np.ndarray:
    """Each value (µs, >= 0) rounded down to the lowest value of its HDR bucket."""
    shift = np.maximum(_bit_length(values) - _EXACT_BITS, 0)
    floored: np.ndarray = (values >> shift) << shift
    return floored


def _bit_length(values: np.ndarray) -> np.ndarray:
    # frexp's exponent is the bit length for positive integers (exact below 2**53)
    exponents: np.ndarray = np.frexp(values.astype(np.float64))[1]
    return exponents.astype(np.int64)


def encode(histogram: HdrHistogram) -> bytes:
    """The histogram as compressed bytes for a pipe or a file (HdrHistogram's format)."""
    blob: bytes = histogram.encode()
    return blob


def merge(encoded: Iterable[bytes]) -> HdrHistogram:
    """One histogram holding every encoded histogram's values."""
    total = new_histogram()
    for blob in encoded:
        if blob:
            total.decode_and_add(blob)
    return total


def stats(histogram: HdrHistogram) -> dict[str, float | int | None]:
    """count, min, mean, percentiles and max, in seconds; ``None`` where there is no value."""
    from clients.load.names import PERCENTILES

    count = histogram.get_total_count()
    if count == 0:
        return {"count": 0, "min": None, "mean": None,
                **{name: None for name, _ in PERCENTILES}, "max": None}
    def seconds(micros: float, digits: int = 6) -> float:
        return round(micros / UNITS_PER_SECOND, digits)

    result: dict[str, float | int | None] = {
        "count": count,
        "min": seconds(histogram.get_min_value()),
        "mean": seconds(histogram.get_mean_value(), 9),
    }
    for name, percentile in PERCENTILES:
        result[name] = seconds(histogram.get_value_at_percentile(percentile))
    result["max"] = seconds(histogram.get_max_value())
    return result
