"""Merging the workers' results: metric names and statistics, rates over the hold, codes,
saturation warnings, thresholds, and the JSON form."""

from __future__ import annotations

import orjson
import pytest

from clients.load import histogram
from clients.load.connection import COUNTERS
from clients.load.names import COUNTER_STATS, GAUGE_STATS, METRICS, TREND_STATS
from clients.load.report import WorkerResult
from clients.load.spec import LoadSpec
from clients.load.summary import summarise
from clients.load.thresholds import Threshold

URL = "ws://127.0.0.1:9/ws"


def encoded(seconds: list[float]) -> bytes:
    hist = histogram.new_histogram()
    histogram.record_seconds(hist, seconds)
    return histogram.encode(hist)


def result(index: int, ticks: int, delays: list[float], cpu: float = 0.2,
           hold: tuple[float, float] = (10.0, 12.0), **fields: object) -> WorkerResult:
    counters = dict.fromkeys(COUNTERS, 0)
    counters.update(ticks_received=ticks, ws_msgs_received=ticks, ws_sessions=2,
                    ws_connect_failed=0, ws_closes=2, ws_closes_unexpected=0, ticks_early=0)
    start = {**counters, "ticks_received": ticks // 4}
    end = {**counters, "ticks_received": ticks // 4 + 2000}
    base = {"worker": index, "pid": 1000 + index, "connections": 2, "counters": counters,
                "hold_start": start, "hold_end": end, "hold": hold, "errors": {}, "closes": {1000: 2},
                "connect_failures": {}, "tick_delay": encoded(delays), "ws_connecting": encoded([0.001]),
                "subscribe_duration": encoded([]), "open_at_hold_end": 2, "open_min": 2, "open_max": 2,
                "cpu_seconds": cpu * 4.0, "wall_seconds": 4.0, "cpu_hold": cpu, "cpu_peak": cpu,
                "loop_lag_max": 0.001}
    base.update(fields)
    return WorkerResult(**base)  # type: ignore[arg-type]


def test_every_metric_carries_the_statistics_of_its_kind() -> None:
    summary = summarise(LoadSpec(URL, connections=4), [result(0, 8000, [0.01] * 10)],
                        started=9.0, ended=13.0)
    assert list(summary.metrics) == list(METRICS)
    for name, info in METRICS.items():
        stats = {"trend": TREND_STATS, "counter": COUNTER_STATS, "gauge": GAUGE_STATS}[info.kind]
        assert set(stats) <= set(summary.metrics[name]), name
        assert summary.metrics[name]["type"] == info.kind


def test_counts_add_up_and_rates_are_per_second_over_each_workers_hold() -> None:
    results = [result(0, 8000, [0.01] * 10), result(1, 4000, [0.02] * 30, hold=(10.0, 14.0))]
    summary = summarise(LoadSpec(URL, connections=4, workers=2), results, 9.0, 15.0)
    ticks = summary.metrics["ticks_received"]
    assert ticks["count"] == 12_000
    assert ticks["rate"] == pytest.approx(2000 / 2 + 2000 / 4)
    delay = summary.metrics["tick_delay"]
    assert delay["count"] == 40 and delay["rate"] == ticks["rate"]
    assert delay["p50"] == pytest.approx(0.02, rel=1e-3)
    assert delay["min"] == pytest.approx(0.01, rel=1e-3)
    assert summary.metrics["ws_closes"]["by_code"] == {"1000": 4}
    assert summary.metrics["ws_connections"] == {"type": "gauge", "unit": "", "value": 4,
                                                 "min": 4, "max": 4}
    assert summary.hold == (10.0, 14.0)


def test_codes_and_reasons_are_merged_across_workers() -> None:
    results = [result(0, 10, [0.01], errors={"rate_limited": 2}, closes={1000: 1, 1001: 1},
                      connect_failures={"refused": 3}),
               result(1, 10, [0.01], errors={"rate_limited": 1, "bad_json": 1},
                      closes={1001: 2})]
    metrics = summarise(LoadSpec(URL, connections=4), results, 9.0, 13.0).metrics
    assert metrics["errors"]["by_code"] == {"bad_json": 1, "rate_limited": 3}
    assert metrics["ws_closes"]["by_code"] == {"1000": 1, "1001": 3}
    assert metrics["ws_connect_failed"]["by_reason"] == {"refused": 3}


def test_a_worker_over_ninety_percent_of_a_core_is_reported_as_saturated() -> None:
    summary = summarise(LoadSpec(URL, connections=4),
                        [result(0, 10, [0.01], cpu=0.97), result(1, 10, [0.01], cpu=0.4)],
                        9.0, 13.0, cores=8)
    assert summary.saturated
    assert [w.saturated for w in summary.workers] == [True, False]
    assert summary.warnings[0].startswith("worker 0 used 97% of a core: the tester may have "
                                          "limited this measurement")
    assert summary.metrics["worker_cpu"]["max"] == pytest.approx(0.97)


def test_workers_that_fill_the_machine_are_reported() -> None:
    summary = summarise(LoadSpec(URL, connections=4),
                        [result(i, 10, [0.01], cpu=0.7) for i in range(3)], 9.0, 13.0, cores=2)
    assert not summary.saturated
    assert any("together used 2.1 of this machine's 2 cores" in w for w in summary.warnings)


def test_thresholds_are_evaluated_on_the_merged_figures() -> None:
    spec = LoadSpec(URL, connections=4, thresholds=(Threshold.parse("tick_delay.p99<15ms"),
                                                    Threshold.parse("seq_gaps==0")))
    summary = summarise(spec, [result(0, 10, [0.01] * 98 + [0.05] * 2)], 9.0, 13.0)
    assert [r.ok for r in summary.thresholds] == [False, True]
    assert not summary.ok and summary.failed_thresholds[0].threshold.metric == "tick_delay"


def test_the_json_form_has_the_documented_top_level_keys_and_round_trips() -> None:
    summary = summarise(LoadSpec(URL, connections=4), [result(0, 10, [0.01])], 9.0, 13.0)
    data = orjson.loads(orjson.dumps(summary.to_json()))
    assert list(data) == ["version", "spec", "started", "elapsed", "hold", "metrics",
                          "workers", "saturated", "warnings", "thresholds", "ok", "interrupted",
                          "histograms"]
    assert data["hold"] == {"start": 10.0, "end": 12.0, "seconds": 2.0}
    assert set(data["metrics"]["tick_delay"]) == {"type", "unit", *TREND_STATS}
    assert data["workers"][0]["cpu"] == pytest.approx(0.2)
