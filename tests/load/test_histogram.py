"""HDR histograms: batched recording equals one call per value; merging across processes
(encode in one, decode and add in another) equals recording everything in one."""

from __future__ import annotations

import numpy as np
import pytest

from clients.load import histogram
from clients.load.names import TREND_STATS


def values_per_call(seconds: np.ndarray):
    hist = histogram.new_histogram()
    for value in seconds:
        hist.record_value(min(max(0, round(value * 1e6)), histogram.HIGHEST_US))
    return hist


def counts(hist) -> list[int]:
    return [hist.get_count_at_index(i) for i in range(hist.counts_len)]


def test_batched_recording_gives_exactly_the_histogram_of_one_call_per_value() -> None:
    rng = np.random.default_rng(7)
    seconds = np.concatenate([rng.exponential(0.01, 20_000), rng.uniform(0, 3, 2_000),
                              [0.0, 1e-6, 2.047e-3, 2.048e-3, 2.049e-3, 4.1e-3, 7200.0]])
    batched = histogram.new_histogram()
    assert histogram.record_seconds(batched, seconds.tolist()) == 0
    expected = values_per_call(seconds)
    assert counts(batched) == counts(expected)
    assert batched.get_total_count() == expected.get_total_count() == len(seconds)
    assert batched.get_max_value() == expected.get_max_value()


def test_negative_delays_count_as_zero_and_are_reported() -> None:
    hist = histogram.new_histogram()
    assert histogram.record_seconds(hist, [-0.002, -1e-9, 0.001]) == 1  # -1 ns rounds to 0
    assert hist.get_total_count() == 3 and hist.get_min_value() == 0


def test_histograms_merged_from_encoded_parts_equal_one_histogram_of_everything() -> None:
    rng = np.random.default_rng(11)
    parts = [rng.exponential(scale, 5_000) for scale in (0.001, 0.01, 0.2)]
    encoded = []
    for part in parts:  # as each worker process does
        hist = histogram.new_histogram()
        histogram.record_seconds(hist, part)
        encoded.append(histogram.encode(hist))
    merged = histogram.merge(encoded)
    whole = histogram.new_histogram()
    histogram.record_seconds(whole, np.concatenate(parts))
    assert counts(merged) == counts(whole)
    assert histogram.stats(merged) == histogram.stats(whole)


def test_stats_carry_the_usual_names_in_seconds() -> None:
    hist = histogram.new_histogram()
    histogram.record_seconds(hist, [0.001] * 98 + [0.5, 1.0])
    stats = histogram.stats(hist)
    assert set(stats) == set(TREND_STATS) - {"rate"}
    assert stats["count"] == 100
    assert stats["min"] == pytest.approx(0.001, rel=1e-3)
    assert stats["p50"] == pytest.approx(0.001, rel=1e-3)
    assert stats["p99"] == pytest.approx(0.5, rel=1e-3)
    assert stats["max"] == pytest.approx(1.0, rel=1e-3)
    assert stats["mean"] == pytest.approx((0.098 + 1.5) / 100, rel=1e-3)


def test_an_empty_histogram_has_a_count_and_no_values() -> None:
    stats = histogram.stats(histogram.new_histogram())
    assert stats["count"] == 0
    assert all(stats[name] is None for name in stats if name != "count")
