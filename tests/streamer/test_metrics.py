"""GET /metrics speaks Prometheus text; GET /healthz reports the same headline figures."""

from __future__ import annotations

import asyncio
import urllib.request

import orjson
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from tests.conftest import http_url, wait_for, ws_url


async def fetch(url: str) -> tuple[str, bytes]:
    def get() -> tuple[str, bytes]:
        with urllib.request.urlopen(url) as reply:
            return reply.headers["Content-Type"], reply.read()
    return await wait_for(asyncio.to_thread(get))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_count_what_the_server_did(server):
    async with connect(ws_url(server)) as ws:
        await ws.send('{"op": "subscribe", "symbol": "BOLT", "history": 3}')
        await ws.send('{"op": "subscribe", "interval": 0.01, "seed": 1}')
        await ws.send('{"op": "subscribe", "sigma": -1}')
        await ws.send("not json")
        ticks = 0
        while ticks < 20:
            ticks += sum(e["type"] == "tick" for e in orjson.loads(await wait_for(ws.recv())))
        await fetch(http_url(server, "/gbm?periods=10&startPrice=1&mu=0&sigma=0.1&delta=1"))
        content_type, body = await fetch(http_url(server, "/metrics"))
        assert content_type.startswith("text/plain")
        m = samples(body.decode())
        assert m[("streamer_connections", ())] == 1
        assert m[("streamer_subscriptions", (("kind", "symbol"),))] == 1
        assert m[("streamer_subscriptions", (("kind", "private"),))] == 1
        assert m[("streamer_errors_total", (("code", "invalid_params"),))] == 1
        assert m[("streamer_errors_total", (("code", "bad_json"),))] == 1
        assert m[("streamer_ticks_sent_total", ())] >= ticks  # history included
        assert m[("streamer_frames_sent_total", ())] >= 4
        assert m[("streamer_bytes_sent_total", ())] > 0
        assert m[("streamer_gbm_requests_total", (("status", "200"),))] == 1
        assert m[("streamer_gbm_request_duration_seconds_count", ())] == 1
        assert m[("streamer_schedule_lateness_seconds_count", ())] > 0


async def test_healthz_reports_the_headline_figures(server):
    async with connect(ws_url(server)) as ws:
        await ws.send('{"op": "subscribe", "symbol": "BOLT"}')
        await wait_for(ws.recv())
        _, body = await fetch(http_url(server, "/healthz"))
    health = orjson.loads(body)
    assert health["status"] == "ok"
    assert (health["connections"], health["subscriptions"], health["symbols"]) == (1, 1, 3)
    assert {"uptime", "ticks_sent", "ticks_conflated", "frames_sent", "lagging",
            "errors"} <= set(health)


async def test_healthz_counts_errors_by_code(server):
    async with connect(ws_url(server)) as ws:
        await ws.send('{"op": "subscribe", "symbol": "NOPE"}')
        await wait_for(ws.recv())
        await ws.send('{"op": "nope"}')
        await wait_for(ws.recv())
        content_type, body = await fetch(http_url(server, "/healthz"))
    assert content_type == "application/json"
    assert orjson.loads(body)["errors"] == {"unknown_symbol": 1, "bad_request": 1}


async def test_closes_are_counted_by_code(server):
    async with connect(ws_url(server)) as ws:
        await ws.send('{"op": "ping"}')
        await wait_for(ws.recv())

    async def counted():
        while server.io.closes[1000] != 1:
            await asyncio.sleep(0.01)
    await wait_for(counted())
    _, body = await fetch(http_url(server, "/metrics"))
    assert samples(body.decode())[("streamer_closes_total", (("code", "1000"),))] == 1
