"""Thresholds in the style of k6: parsing, statistic names, evaluation."""

from __future__ import annotations

import re

import pytest

from clients.load.errors import SpecError
from clients.load.thresholds import Threshold, evaluate


@pytest.mark.parametrize("text, parsed", [
    ("tick_delay.p99<50ms", Threshold("tick_delay", "p99", "<", 0.05)),
    ("tick_delay.p(99)<=50ms", Threshold("tick_delay", "p99", "<=", 0.05)),
    ("tick_delay:p(99.9) < 1s", Threshold("tick_delay", "p99.9", "<", 1.0)),
    ("tick_delay.p99.9<250us", Threshold("tick_delay", "p99.9", "<", 0.00025)),
    ("tick_delay.avg<5ms", Threshold("tick_delay", "mean", "<", 0.005)),
    ("tick_delay.med<5ms", Threshold("tick_delay", "p50", "<", 0.005)),
    ("tick_delay.count>=1000", Threshold("tick_delay", "count", ">=", 1000.0)),
    ("seq_gaps==0", Threshold("seq_gaps", "count", "==", 0.0)),
    ("ticks_received.rate>=90000", Threshold("ticks_received", "rate", ">=", 90000.0)),
    ("worker_cpu.max<0.9", Threshold("worker_cpu", "max", "<", 0.9)),
    ("ws_connections>=100", Threshold("ws_connections", "value", ">=", 100.0)),
    ("errors.count!=3", Threshold("errors", "count", "!=", 3.0)),
])
def test_a_threshold_parses_into_metric_statistic_operator_and_limit(
        text: str, parsed: Threshold) -> None:
    assert Threshold.parse(text) == parsed


@pytest.mark.parametrize("text, message", [
    ("p99<50ms", "threshold names an unknown metric 'p99'"),
    ("latency.p99<50ms", "threshold names an unknown metric 'latency'"),
    ("tick_delay<50ms", "threshold on the trend tick_delay needs a statistic"),
    ("tick_delay.p42<50ms", "tick_delay has no statistic 'p42'"),
    ("seq_gaps.p99<1", "seq_gaps has no statistic 'p99' (it has count, rate)"),
    ("tick_delay.p99<50", "needs a unit (ns, us, ms, s, m, h): a bare number is ambiguous"),
    ("seq_gaps.count<none", "threshold value must be a number, got 'seq_gaps.count<none'"),
    ("tick_delay.p99 50ms", "threshold must look like METRIC.STAT<VALUE"),
])
def test_a_bad_threshold_is_refused_naming_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        Threshold.parse(text)


def test_a_threshold_prints_in_its_canonical_form() -> None:
    assert str(Threshold.parse("tick_delay.p(99)<50ms")) == "tick_delay.p99<50ms"
    assert str(Threshold.parse("seq_gaps==0")) == "seq_gaps.count==0"
    assert str(Threshold.parse("tick_delay.max<=1us")) == "tick_delay.max<=1us"


def test_evaluation_compares_the_named_statistic_and_fails_without_samples() -> None:
    metrics: dict[str, dict[str, float | None]] = {
        "tick_delay": {"count": 10, "p99": 0.040, "max": None},
        "seq_gaps": {"count": 2, "rate": 0.1}}
    results = evaluate((Threshold.parse("tick_delay.p99<50ms"),
                        Threshold.parse("tick_delay.p99<30ms"),
                        Threshold.parse("seq_gaps.count<=0"),
                        Threshold.parse("tick_delay.max<1s")), metrics)
    assert [r.ok for r in results] == [True, False, False, False]
    assert [r.value for r in results] == [0.040, 0.040, 2.0, None]
    assert results[1].describe() == "FAIL tick_delay.p99<30ms  (measured 40ms)"
    assert results[3].describe() == "FAIL tick_delay.max<1s  (measured no samples)"
