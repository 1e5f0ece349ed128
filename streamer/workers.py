"""The workers of ``--workers N`` reporting to one place, so that ``/healthz`` and ``/metrics``
describe the whole server whichever worker answers.

Each worker writes, every :data:`REPORT_INTERVAL`, a report to a directory the starting
process made for them: its ``/healthz`` figures and a snapshot of its Prometheus metrics
(written to a temporary file, then renamed into place, so a reader never sees half of one).
The worker that answers reads the others' reports (those fresher than :data:`STALE_AFTER`)
beside its own live figures: ``/healthz`` sums them (and says which workers reported), and
``/metrics`` gives every series once per worker with a ``worker`` label, which Prometheus
sums with ``sum by (...)``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

#: Seconds between two reports of a worker.
REPORT_INTERVAL = 1.0
#: A report older than this (s) is a worker that stopped reporting: left out, and said so.
STALE_AFTER = 3 * REPORT_INTERVAL
#: ``/healthz`` fields that are the same for every worker, or a worst case: not summed.
NOT_SUMMED = frozenset({"version", "uptime", "symbols", "backlog_age", "worker", "workers",
                        "bus_unknown_symbols"})


def snapshot(registry: CollectorRegistry) -> list[dict[str, Any]]:
    """Every metric family of ``registry`` with its samples, as JSON-ready data."""
    return [{"name": family.name, "documentation": family.documentation,
             "type": family.type, "samples": [[s.name, s.labels, s.value]
                                              for s in family.samples]}
            for family in registry.collect()]


def write(directory: str, worker: int, health: dict[str, Any],
          metrics: list[dict[str, Any]], now: float) -> None:
    path = Path(directory) / f"worker-{worker}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(orjson.dumps({"time": now, "health": health, "metrics": metrics}))
    os.replace(temporary, path)


def read(directory: str, workers: int, skip: int, now: float) -> dict[int, dict[str, Any]]:
    """The fresh reports of every worker but ``skip``, by worker number."""
    reports = {}
    for worker in range(workers):
        if worker == skip:
            continue
        try:
            report = orjson.loads((Path(directory) / f"worker-{worker}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if now - report.get("time", 0.0) <= STALE_AFTER:
            reports[worker] = report
    return reports


def health(own: dict[str, Any], others: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """``/healthz`` of the whole server: ``own`` (the answering worker's live figures) and the
    others' reports, summed; ``degraded`` when a worker is missing or not ok."""
    every = {own["worker"]: own, **{n: r["health"] for n, r in others.items()}}
    total: dict[str, Any] = {}
    for figures in every.values():
        for key, value in figures.items():
            if key in NOT_SUMMED or key == "status" or isinstance(value, str):
                total.setdefault(key, value)
            elif isinstance(value, dict):
                total.setdefault(key, Counter()).update(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    for key in ("uptime", "backlog_age"):
        total[key] = max(figures.get(key, 0.0) for figures in every.values())
    if any(figures.get("bus") == "disconnected" for figures in every.values()):
        total["bus"] = "disconnected"
    reporting = sorted(every)
    healthy = len(reporting) == own["workers"] and all(
        figures.get("status") == "ok" for figures in every.values())
    total.update({
        "status": "ok" if healthy else "degraded", "worker": own["worker"],
        "workers": own["workers"], "workers_reporting": reporting,
        "per_worker": [{"worker": n, "status": every[n].get("status"),
                        "connections": every[n].get("connections"),
                        "subscriptions": every[n].get("subscriptions")} for n in reporting]})
    return {key: dict(value) if isinstance(value, Counter) else value
            for key, value in total.items()}


class AllWorkers:
    """A collector of every worker's families, each sample labelled with its ``worker``."""

    def __init__(self, own: int, registry: CollectorRegistry,
                 others: dict[int, dict[str, Any]]) -> None:
        self.families = {own: snapshot(registry),
                         **{n: report["metrics"] for n, report in others.items()}}

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for worker, families in sorted(self.families.items()):
            for family in families:
                metric = merged.get(family["name"])
                if metric is None:
                    metric = merged[family["name"]] = Metric(
                        family["name"], family["documentation"], family["type"])
                for name, labels, value in family["samples"]:
                    metric.add_sample(name, {**labels, "worker": str(worker)}, value)
        yield from merged.values()


def render_registry(collector: AllWorkers) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
