"""streamer load merge: summaries of testers run side by side become one report, percentiles
exact from the added-up histograms (not averaged), counts and rates summed, thresholds
judged again; a file that is not such a summary is refused by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

from clients.load import histogram, merge
from clients.load.spec import LoadSpec
from clients.load.summary import summarise
from clients.load.thresholds import Threshold
from tests.conftest import ROOT
from tests.load.test_summary import URL, result


def run_summary(delays: list[float], ticks: int, limit: str) -> dict[str, object]:
    spec = LoadSpec(URL, connections=2, thresholds=(Threshold.parse(limit),))
    doc: dict[str, object] = orjson.loads(orjson.dumps(
        summarise(spec, [result(0, ticks, delays)], 9.0, 13.0).to_json()))
    return doc


def test_percentiles_are_those_of_all_the_values_together() -> None:
    rng = np.random.default_rng(5)
    fast, slow = rng.uniform(0.001, 0.005, 900).tolist(), rng.uniform(0.05, 0.09, 100).tolist()
    merged = merge.merge([run_summary(fast, 8000, "tick_delay.p99<=100ms"),
                          run_summary(slow, 4000, "tick_delay.p99<=10ms")])
    whole = histogram.new_histogram()
    histogram.record_seconds(whole, fast + slow)
    exact = histogram.stats(whole)
    delay = merged.metrics["tick_delay"]
    for stat in ("p50", "p90", "p99", "max", "min"):
        assert delay[stat] == exact[stat], stat
    assert delay["count"] == 1000
    assert delay["p99"] > 0.05  # an average of the two p99s (about 0.047) would not be
    assert merged.metrics["ticks_received"]["count"] == 12_000
    assert merged.metrics["ticks_received"]["rate"] == pytest.approx(2 * 1000.0)
    assert merged.metrics["ws_connections"]["value"] == 4
    assert len(merged.workers) == 2 and [w.index for w in merged.workers] == [0, 1]
    assert [(str(r.threshold), r.ok) for r in merged.thresholds] == [
        ("tick_delay.p99<=100ms", True), ("tick_delay.p99<=10ms", False)]


def test_the_cli_prints_writes_and_exits_by_the_thresholds(tmp_path: Path) -> None:
    files = []
    for n, delays in enumerate(([0.002] * 50, [0.004] * 50)):
        path = tmp_path / f"run{n}.json"
        path.write_bytes(orjson.dumps(run_summary(delays, 1000, "tick_delay.p99<=1ms")))
        files.append(str(path))
    out_file = tmp_path / "merged.json"
    done = subprocess.run([sys.executable, "-m", "tick_streamer", "load", "merge", *files,
                           "--json", str(out_file)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 99, done.stderr  # the threshold fails on the merged p99
    assert "FAIL tick_delay.p99<=1ms" in done.stdout and "tick_delay" in done.stdout
    written = orjson.loads(out_file.read_bytes())
    assert written["metrics"]["tick_delay"]["count"] == 100
    again = merge.merge([merge.read(str(out_file)), merge.read(files[0])])  # merges nest
    assert again.metrics["tick_delay"]["count"] == 150


@pytest.mark.parametrize(("content", "named"), [
    (b"not json", "is not JSON"),
    (b'{"version": 1}', "version 1"),
    (orjson.dumps({"version": 2, "histograms": {}}), "no histogram of tick_delay"),
])
def test_a_file_that_is_not_a_summary_is_refused_by_name(tmp_path: Path, content: bytes,
                                                         named: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(merge.MergeError, match=named):
        merge.read(str(path))
    with pytest.raises(merge.MergeError, match="cannot read"):
        merge.read(str(tmp_path / "missing.json"))
