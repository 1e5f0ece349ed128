"""What the server exposes at ``GET /metrics`` (Prometheus text) and ``GET /healthz`` (JSON).

Counting happens in plain integers where the work is done (hub, session, server), so the hot
path pays an addition, not a metrics-library call; :class:`ServerCollector` reads them when
Prometheus scrapes. Only the two histograms (schedule lateness, ``/gbm`` duration) are
observed as they happen, once per timer wake-up or request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from streamer.hub import Hub

LATENESS_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
GBM_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class IOStats:
    """Counters of the I/O layer."""

    connections: int = 0
    """Open connections of both doors (WebSocket and SSE)."""
    sse: int = 0
    """Open SSE streams."""
    compressed: int = 0
    """Open WebSocket connections that negotiated permessage-deflate."""
    frames: int = 0
    bytes: int = 0
    closes: Counter[int] = field(default_factory=Counter)
    refused: Counter[int] = field(default_factory=Counter)
    gbm: Counter[int] = field(default_factory=Counter)
    http: Counter[int] = field(default_factory=Counter)
    """Requests refused before routing or not found, by status (400, 404, 405, 408, 431, ...)."""


class ServerCollector:
    """Reads the hub's and the I/O layer's counters at scrape time."""

    def __init__(self, hub: Callable[[], Hub | None], io: IOStats) -> None:
        self._hub = hub
        self._io = io

    def collect(self) -> Iterator[Metric]:
        hub, io = self._hub(), self._io
        yield GaugeMetricFamily("streamer_connections",
                                "Open connections (WebSocket and SSE).", value=io.connections)
        yield GaugeMetricFamily("streamer_sse_streams", "Open server-sent event streams.",
                                value=io.sse)
        yield GaugeMetricFamily("streamer_compressed_connections",
                                "Open WebSocket connections that negotiated permessage-deflate.",
                                value=io.compressed)
        refused = CounterMetricFamily("streamer_connections_refused",
                                      "Upgrades refused, by HTTP status.", labels=["status"])
        for status, n in sorted(io.refused.items()):
            refused.add_metric([str(status)], n)
        yield refused
        closes = CounterMetricFamily("streamer_closes", "Closed connections, by close code.",
                                     labels=["code"])
        for code, n in sorted(io.closes.items()):
            closes.add_metric([str(code) if code >= 0 else "other"], n)
        yield closes
        refused_http = CounterMetricFamily("streamer_http_refused",
                                           "HTTP requests refused or not found, by status.",
                                           labels=["status"])
        for status, n in sorted(io.http.items()):
            refused_http.add_metric([str(status)], n)
        yield refused_http
        yield CounterMetricFamily("streamer_frames_sent", "WebSocket frames written.",
                                  value=io.frames)
        yield CounterMetricFamily("streamer_bytes_sent", "Bytes of WebSocket frames written "
                                  "(headers included).", value=io.bytes)
        gbm = CounterMetricFamily("streamer_gbm_requests", "/gbm requests, by HTTP status.",
                                  labels=["status"])
        for status, n in sorted(io.gbm.items()):
            gbm.add_metric([str(status)], n)
        yield gbm
        if hub is None:
            return
        subs = GaugeMetricFamily("streamer_subscriptions", "Subscriptions, by kind.",
                                 labels=["kind"])
        subs.add_metric(["symbol"], hub.symbol_subscriptions)
        subs.add_metric(["private"], hub.subscriptions - hub.symbol_subscriptions)
        yield subs
        yield GaugeMetricFamily("streamer_streams", "Streams running (symbols included).",
                                value=hub.streams)
        yield CounterMetricFamily("streamer_ticks_sent", "Tick events sent to subscribers.",
                                  value=hub.ticks_routed - hub.conflated + hub.replayed)
        yield CounterMetricFamily("streamer_ticks_conflated",
                                  "Ticks dropped for slow readers, each announced by lagging.",
                                  value=hub.conflated)
        yield CounterMetricFamily("streamer_stream_steps", "Stream steps simulated.",
                                  value=hub.ticks_stepped)
        errors = CounterMetricFamily("streamer_errors", "Error events sent, by code.",
                                     labels=["code"])
        for error_code, n in sorted(hub.errors.items()):
            errors.add_metric([error_code], n)
        yield errors


class Metrics:
    """The registry of one server, with its histograms."""

    def __init__(self, hub: Callable[[], Hub | None], io: IOStats) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ServerCollector(hub, io))
        self.lateness = Histogram(
            "streamer_schedule_lateness_seconds",
            "How late the timer woke for the earliest due tick.",
            buckets=LATENESS_BUCKETS, registry=self.registry)
        self.gbm_duration = Histogram(
            "streamer_gbm_request_duration_seconds", "Time to answer /gbm.",
            buckets=GBM_BUCKETS, registry=self.registry)

    def render(self, accept: str | None,
               registry: CollectorRegistry | None = None) -> tuple[bytes, str]:
        """The exposition body (of ``registry``, this server's own by default) and its
        content type, in the format the scraper accepts."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(registry or self.registry), content_type
