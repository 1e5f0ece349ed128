"""``streamer load merge A.json B.json ...``: one report from the summaries of load testers
run side by side (one per machine, against the same servers), as if one tester had run them
all. Each summary (``--json``) keeps its trends' HDR histograms; they are added up, so every
percentile of the merged report is exact, not an average of percentiles. Counters and their
codes are summed, and so are their rates (the runs are taken to have overlapped); the workers
are listed together; the thresholds of every run are judged again on the merged metrics."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from clients.load import histogram
from clients.load.names import METRICS
from clients.load.summary import SCHEMA_VERSION, Summary, WorkerSummary
from clients.load.thresholds import Threshold, evaluate

DESCRIPTION = ("Merge the JSON summaries of load testers run side by side into one report: "
               "percentiles from the added-up HDR histograms (exact), counts and rates summed, "
               "every run's thresholds judged again.")


class MergeError(ValueError):
    """A summary that cannot be merged; says which file and why."""


def read(path: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise MergeError(f"cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise MergeError(f"{path} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != SCHEMA_VERSION:
        version = doc.get("version") if isinstance(doc, dict) else None
        raise MergeError(f"{path} is not a summary of this streamer load (version "
                         f"{version!r}, expected {SCHEMA_VERSION}): write it again with --json")
    missing = [name for name, info in METRICS.items()
               if info.kind == "trend" and name not in doc.get("histograms", {})]
    if missing:
        raise MergeError(f"{path} has no histogram of {', '.join(missing)}")
    return doc


def merge(docs: Sequence[dict[str, Any]]) -> Summary:
    """The summary of every run together."""
    if not docs:
        raise MergeError("nothing to merge")
    metrics: dict[str, dict[str, Any]] = {}
    histograms: dict[str, bytes] = {}
    for name, info in METRICS.items():
        if info.kind == "trend":
            merged = histogram.merge(doc["histograms"][name].encode("ascii") for doc in docs)
            histograms[name] = histogram.encode(merged)
            stats = histogram.stats(merged)
            metrics[name] = {"type": "trend", "unit": info.unit, "count": stats.pop("count"),
                             "rate": _rate(docs, name), **stats}
        elif info.kind == "counter":
            metrics[name] = {"type": "counter", "unit": info.unit,
                             "count": sum(doc["metrics"][name]["count"] for doc in docs),
                             "rate": _rate(docs, name)}
            for key in ("by_code", "by_reason"):
                if key in docs[0]["metrics"][name]:
                    total: Counter[str] = Counter()
                    for doc in docs:
                        total.update(doc["metrics"][name].get(key, {}))
                    metrics[name][key] = dict(sorted(total.items()))
    open_now = [doc["metrics"]["ws_connections"] for doc in docs]
    metrics["ws_connections"] = {"type": "gauge", "unit": "",
                                 **{k: sum(g[k] for g in open_now) for k in ("value", "min",
                                                                             "max")}}
    cpus = [doc["metrics"]["worker_cpu"] for doc in docs]
    metrics["worker_cpu"] = {"type": "gauge", "unit": "", "value": max(c["value"] for c in cpus),
                             "min": min(c["min"] for c in cpus),
                             "max": max(c["max"] for c in cpus)}
    workers = [WorkerSummary(index=n, pid=w["pid"], connections=w["connections"],
                             ticks=w["ticks"], cpu=w["cpu"], cpu_hold=w["cpu_hold"],
                             cpu_peak=w["cpu_peak"], loop_lag_max=w["loop_lag_max"],
                             saturated=w["saturated"], notes=tuple(w["notes"]))
               for n, w in enumerate(w for doc in docs for w in doc["workers"])]
    spec = dict(docs[0]["spec"])
    spec["connections"] = sum(doc["spec"]["connections"] for doc in docs)
    spec["runs"] = len(docs)
    starts = [doc["started"] for doc in docs]
    summary = Summary(
        spec=spec, started=min(starts),
        elapsed=max(doc["started"] + doc["elapsed"] for doc in docs) - min(starts),
        hold=(min(doc["hold"]["start"] for doc in docs), max(doc["hold"]["end"] for doc in docs)),
        metrics=metrics, workers=workers,
        warnings=[f"run {n + 1}: {warning}" for n, doc in enumerate(docs)
                  for warning in doc["warnings"]],
        interrupted=any(doc["interrupted"] for doc in docs), histograms=histograms)
    texts = dict.fromkeys(t["threshold"] for doc in docs for t in doc["thresholds"])
    summary.thresholds = evaluate(tuple(Threshold.parse(text) for text in texts), metrics)
    return summary


def _rate(docs: Sequence[dict[str, Any]], metric: str) -> float | None:
    rates = [doc["metrics"][metric]["rate"] for doc in docs]
    known = [rate for rate in rates if rate is not None]
    return round(sum(known), 3) if known else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="SUMMARY.json",
                        help="summaries written by streamer load --json")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="write the merged summary as JSON to FILE ('-': standard output)")
