"""The metrics a load run reports: their names (k6's where k6 has one), kinds, units and
meaning, and the statistics each kind carries. Documentation and code read the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricKind = Literal["trend", "counter", "gauge"]

#: Statistics of a trend (a distribution), in the order the summary prints them.
TREND_STATS = ("count", "rate", "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max")
#: Statistics of a counter.
COUNTER_STATS = ("count", "rate")
#: Statistics of a gauge.
GAUGE_STATS = ("value", "min", "max")
#: Percentiles of a trend, as (statistic name, percentile).
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p99.9", 99.9))
#: Other spellings accepted in thresholds (k6's among them).
STAT_ALIASES = {"avg": "mean", "med": "p50", "p999": "p99.9", "p(50)": "p50", "p(90)": "p90",
                "p(95)": "p95", "p(99)": "p99", "p(99.9)": "p99.9"}


@dataclass(frozen=True, slots=True)
class MetricInfo:
    name: str
    kind: MetricKind
    unit: str
    """``s`` (seconds), ``B`` (bytes) or empty (a count)."""
    description: str

    @property
    def stats(self) -> tuple[str, ...]:
        return {"trend": TREND_STATS, "counter": COUNTER_STATS, "gauge": GAUGE_STATS}[self.kind]


_TABLE = (
    MetricInfo("tick_delay", "trend", "s",
               "arrival time of a tick minus its `time` (the instant it was scheduled for), for "
               "every tick received"),
    MetricInfo("ws_connecting", "trend", "s",
               "TCP connect plus WebSocket handshake, for every connection that opened"),
    MetricInfo("subscribe_duration", "trend", "s",
               "from sending a subscribe operation to its `subscribed` reply"),
    MetricInfo("ticks_received", "counter", "", "tick events received"),
    MetricInfo("ws_msgs_received", "counter", "",
               "WebSocket data frames received (each a JSON array of events; replies included)"),
    MetricInfo("data_received", "counter", "B",
               "bytes of those frames as they came on the wire, WebSocket headers included "
               "(the handshake and control frames are not)"),
    MetricInfo("payload_received", "counter", "B",
               "bytes of those frames' payloads alone: the JSON text"),
    MetricInfo("ws_sessions", "counter", "", "connections that opened (handshake done)"),
    MetricInfo("ws_connect_failed", "counter", "",
               "connections that did not open, by reason (refused, timeout, http_503, ...)"),
    MetricInfo("subscriptions", "counter", "", "subscribe operations acknowledged (`subscribed`)"),
    MetricInfo("seq_gaps", "counter", "",
               "jumps forward in a subscription's seq that no `lagging` event announced"),
    MetricInfo("ticks_missing", "counter", "", "ticks skipped by those unannounced jumps"),
    MetricInfo("seq_duplicates", "counter", "",
               "ticks whose seq was not above the last one of their subscription"),
    MetricInfo("ticks_conflated", "counter", "",
               "ticks skipped by jumps that a `lagging` event announced (the server conflated)"),
    MetricInfo("lagging", "counter", "", "`lagging` events received"),
    MetricInfo("errors", "counter", "", "`error` events received, by code"),
    MetricInfo("ws_closes", "counter", "",
               "connections closed, by close code (1006: dropped without a close frame)"),
    MetricInfo("ws_closes_unexpected", "counter", "",
               "connections the server closed or dropped before the tester closed them"),
    MetricInfo("stream_ends", "counter", "", "`end` events (finite streams that finished)"),
    MetricInfo("protocol_violations", "counter", "",
               "frames that are not a JSON array of events, and events without their fields"),
    MetricInfo("ticks_early", "counter", "",
               "ticks that arrived before their `time` (clock skew between hosts); their "
               "delay counts as 0"),
    MetricInfo("ws_connections", "gauge", "",
               "open connections: at the end of the hold (value), lowest and highest seen"),
    MetricInfo("worker_cpu", "gauge", "",
               "CPU time of a worker process over its run, as a fraction of one core: highest "
               "worker (value), lowest and highest"),
)

METRICS: dict[str, MetricInfo] = {info.name: info for info in _TABLE}
