"""Load tester for the tick streamer and its peers (``streamer load``).

Worker processes open many WebSocket connections at a ramp rate, subscribe, hold them, and
measure every tick: its delay (HDR histograms merged across processes), seq gaps and
duplicates, ``lagging`` announcements, errors and closes. The result is a
:class:`~clients.load.summary.Summary` with k6-style statistics and pass/fail thresholds.

Library use::

    from clients.load import LoadSpec, ProtocolSubscriber, Threshold, run_load

    summary = run_load(LoadSpec(
        url="ws://127.0.0.1:8765/ws", connections=100, subscriptions=10, duration=10.0,
        subscriber=ProtocolSubscriber(kind="private", interval=0.1),
        thresholds=(Threshold.parse("tick_delay.p99<50ms"),)))
    print(summary.value("tick_delay", "p99"), summary.ok)

Modules, from the wire up: ``wsclient`` (a minimal asyncio WebSocket client), ``connection``
(per-tick checks and counters), ``histogram`` (HDR recording and merging), ``worker`` (one
process's run), ``runner`` (the coordinator), ``summary``, ``thresholds``, ``names``
(metric names), ``spec`` (the run's settings), ``units``, ``display`` (rich), ``cli``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clients.load.errors import LoadError, SpecError, WorkerError
    from clients.load.runner import LiveStatus, arun_load, run_load
    from clients.load.spec import LoadSpec, ProtocolSubscriber, Subscriber
    from clients.load.summary import Summary, WorkerSummary
    from clients.load.thresholds import Threshold, ThresholdResult
    from clients.load.units import parse_duration

#: Where each public name lives. They are imported on first use, so that importing the CLI's
#: argument definitions (``streamer`` builds its parser at every start) does not load numpy,
#: hdrhistogram and multiprocessing.
_PUBLIC = {
    "LoadError": "errors", "SpecError": "errors", "WorkerError": "errors",
    "LiveStatus": "runner", "arun_load": "runner", "run_load": "runner",
    "LoadSpec": "spec", "ProtocolSubscriber": "spec", "Subscriber": "spec",
    "Summary": "summary", "WorkerSummary": "summary",
    "Threshold": "thresholds", "ThresholdResult": "thresholds",
    "parse_duration": "units",
}

__all__ = [
    "LoadError", "SpecError", "WorkerError", "LiveStatus", "arun_load", "run_load", "LoadSpec",
    "ProtocolSubscriber", "Subscriber", "Summary", "WorkerSummary", "Threshold",
    "ThresholdResult", "parse_duration",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'clients.load' has no attribute {name!r}")
    return getattr(importlib.import_module(f"clients.load.{module}"), name)
