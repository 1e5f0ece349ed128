"""The result of a run: :class:`Summary`, merged from every worker's :class:`WorkerResult`,
with its metrics under k6's statistic names and its JSON form. No I/O.

Counts are over the whole run (from the first connect to the last close); rates are per
second over the *hold* (after the ramp, before closing), summed over the workers.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clients.load import histogram
from clients.load.names import METRICS
from clients.load.report import WorkerResult
from clients.load.spec import CPU_SATURATION, LoadSpec
from clients.load.thresholds import ThresholdResult, evaluate
from clients.load.units import format_duration

#: Version of the JSON document :meth:`Summary.to_json` returns (2: with ``histograms``).
SCHEMA_VERSION = 2
#: Shortest span over which a worker's CPU share is judged for saturation (s).
SATURATION_MIN_SECONDS = 1.0
#: A worker whose event loop ran a timer later than this was behind (s).
LOOP_LAG_WARNING = 0.1
#: Which counter counts the samples of each trend (for its rate).
TREND_COUNTERS = {"tick_delay": "ticks_received", "ws_connecting": "ws_sessions",
                  "subscribe_duration": "subscribe_timed"}

Stats = dict[str, Any]


@dataclass(frozen=True, slots=True)
class WorkerSummary:
    """What one worker process did and what it cost."""

    index: int
    pid: int
    connections: int
    ticks: int
    cpu: float
    """CPU time over its whole run, as a fraction of one core."""
    cpu_hold: float
    """CPU time over the hold, as a fraction of one core."""
    cpu_peak: float
    """The busiest progress window, as a fraction of one core."""
    loop_lag_max: float
    """How late its event loop ran a timer at worst (s)."""
    saturated: bool
    """True when the worker used more than :data:`CPU_SATURATION` of a core over the run or
    the hold: it may have limited the measurement."""
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "pid": self.pid, "connections": self.connections,
                "ticks": self.ticks, "cpu": round(self.cpu, 4),
                "cpu_hold": round(self.cpu_hold, 4), "cpu_peak": round(self.cpu_peak, 4),
                "loop_lag_max": round(self.loop_lag_max, 6), "saturated": self.saturated,
                "notes": list(self.notes)}


@dataclass(slots=True)
class Summary:
    """Everything a run measured. ``metrics[name][stat]``: see :mod:`clients.load.names`."""

    spec: dict[str, Any]
    started: float
    """Epoch seconds of the run's start (the first connection's scheduled instant)."""
    elapsed: float
    """Seconds from the start to the last worker's report."""
    hold: tuple[float, float]
    """Epoch seconds of the hold's start and end (earliest start, latest end)."""
    metrics: dict[str, Stats]
    workers: list[WorkerSummary]
    warnings: list[str] = field(default_factory=list)
    thresholds: list[ThresholdResult] = field(default_factory=list)
    interrupted: bool = False
    histograms: dict[str, bytes] = field(default_factory=dict)
    """Each trend's merged HDR histogram, encoded: what ``streamer load merge`` adds up."""

    @property
    def ok(self) -> bool:
        """True when every threshold held."""
        return all(result.ok for result in self.thresholds)

    @property
    def saturated(self) -> bool:
        """True when some worker was CPU-bound: the tester may have been the limit."""
        return any(worker.saturated for worker in self.workers)

    @property
    def failed_thresholds(self) -> list[ThresholdResult]:
        return [result for result in self.thresholds if not result.ok]

    def value(self, metric: str, stat: str = "count") -> Any:
        """One statistic, such as ``summary.value("tick_delay", "p99")`` (seconds)."""
        return self.metrics[metric][stat]

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data (the schema is in docs/load.md)."""
        return {
            "version": SCHEMA_VERSION,
            "spec": self.spec,
            "started": round(self.started, 6),
            "elapsed": round(self.elapsed, 6),
            "hold": {"start": round(self.hold[0], 6), "end": round(self.hold[1], 6),
                     "seconds": round(self.hold[1] - self.hold[0], 6)},
            "metrics": self.metrics,
            "workers": [worker.to_json() for worker in self.workers],
            "saturated": self.saturated,
            "warnings": self.warnings,
            "thresholds": [{"threshold": str(r.threshold), "metric": r.threshold.metric,
                            "stat": r.threshold.stat, "op": r.threshold.op,
                            "limit": r.threshold.limit, "value": r.value, "ok": r.ok}
                           for r in self.thresholds],
            "ok": self.ok,
            "interrupted": self.interrupted,
            "histograms": {name: blob.decode("ascii") for name, blob in self.histograms.items()},
        }


def summarise(spec: LoadSpec, results: Sequence[WorkerResult], started: float, ended: float,
              *, interrupted: bool = False, cores: int | None = None) -> Summary:
    """Merge the workers' results into a :class:`Summary` and evaluate the thresholds."""
    metrics: dict[str, Stats] = {}
    histograms: dict[str, bytes] = {}
    rates = _rates(results)
    totals: Counter[str] = Counter()
    for result in results:
        totals.update(result.counters)
    for name, info in METRICS.items():
        if info.kind == "trend":
            merged = histogram.merge(getattr(result, name) for result in results)
            histograms[name] = histogram.encode(merged)
            stats: Stats = histogram.stats(merged)
            metrics[name] = {"type": "trend", "unit": info.unit, "count": stats.pop("count"),
                             "rate": rates.get(TREND_COUNTERS[name]), **stats}
        elif info.kind == "counter":
            metrics[name] = {"type": "counter", "unit": info.unit, "count": totals[name],
                             "rate": rates.get(name)}
    metrics["errors"]["by_code"] = dict(sorted(_sum(r.errors for r in results).items()))
    metrics["ws_closes"]["by_code"] = {str(code): n for code, n in
                                       sorted(_sum(r.closes for r in results).items())}
    metrics["ws_connect_failed"]["by_reason"] = dict(sorted(
        _sum(r.connect_failures for r in results).items()))
    metrics["ws_connections"] = {"type": "gauge", "unit": "",
                                 "value": sum(r.open_at_hold_end for r in results),
                                 "min": sum(r.open_min for r in results),
                                 "max": sum(r.open_max for r in results)}
    workers = [_worker_summary(r) for r in results]
    cpus = [w.cpu for w in workers] or [0.0]
    metrics["worker_cpu"] = {"type": "gauge", "unit": "", "value": round(max(cpus), 4),
                             "min": round(min(cpus), 4), "max": round(max(cpus), 4)}
    holds = [r.hold for r in results] or [(started, started)]
    summary = Summary(
        spec=spec.describe(), started=started, elapsed=ended - started,
        hold=(min(h[0] for h in holds), max(h[1] for h in holds)), metrics=metrics,
        workers=workers, interrupted=interrupted, histograms=histograms)
    summary.warnings = _warnings(summary, cores or os.cpu_count() or 1)
    summary.thresholds = evaluate(spec.thresholds, metrics)
    return summary


def _rates(results: Sequence[WorkerResult]) -> dict[str, float | None]:
    """Per-second rate of every counter over each worker's hold, summed over workers."""
    rates: dict[str, float | None] = {}
    for result in results:
        seconds = result.hold[1] - result.hold[0]
        for name, end in result.hold_end.items():
            if seconds <= 0:
                rates.setdefault(name, None)
                continue
            rate = (end - result.hold_start.get(name, 0)) / seconds
            rates[name] = round((rates.get(name) or 0.0) + rate, 3)
    return rates


def _sum(counters: Any) -> Counter[Any]:
    total: Counter[Any] = Counter()
    for counter in counters:
        total.update(counter)
    return total


def _worker_summary(result: WorkerResult) -> WorkerSummary:
    cpu = result.cpu_seconds / result.wall_seconds if result.wall_seconds > 0 else 0.0
    # over a few milliseconds, CPU and wall clocks disagree by more than the figure itself
    busy = [share for share, seconds in ((cpu, result.wall_seconds),
                                         (result.cpu_hold, result.hold[1] - result.hold[0]))
            if seconds >= SATURATION_MIN_SECONDS]
    return WorkerSummary(
        index=result.worker, pid=result.pid, connections=result.connections,
        ticks=result.counters.get("ticks_received", 0), cpu=cpu, cpu_hold=result.cpu_hold,
        cpu_peak=result.cpu_peak, loop_lag_max=result.loop_lag_max,
        saturated=max(busy, default=0.0) > CPU_SATURATION, notes=tuple(result.notes))


def _warnings(summary: Summary, cores: int) -> list[str]:
    warnings = []
    for worker in summary.workers:
        if worker.saturated:
            warnings.append(
                f"worker {worker.index} used {max(worker.cpu, worker.cpu_hold):.0%} of a core: "
                f"the tester may have limited this measurement (its own queueing adds to "
                f"tick_delay); use more workers, fewer connections per worker, or another "
                f"machine")
        if worker.loop_lag_max > LOOP_LAG_WARNING:
            warnings.append(f"worker {worker.index}'s event loop fell "
                            f"{format_duration(worker.loop_lag_max)} behind at worst")
    busy = sum(worker.cpu_hold for worker in summary.workers)
    hold = summary.hold[1] - summary.hold[0]
    if hold >= SATURATION_MIN_SECONDS and busy > CPU_SATURATION * cores:
        warnings.append(f"the workers together used {busy:.1f} of this machine's {cores} cores "
                        f"over the hold: a server on the same machine had little CPU left")
    if summary.metrics["ws_sessions"]["count"] == 0:
        warnings.append("no connection opened: nothing was measured")
    for worker in summary.workers:
        warnings.extend(f"worker {worker.index}: {note}" for note in worker.notes)
    return warnings
