"""``streamer serve --nats``: a gateway serves the bus's market with the whole protocol, its
ticks the paths' bits; it says so when the bus is gone, keeps its clients, and catches up when
the bus is back, with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from simulation import MarketError, path_and_vols
from simulation.market import load_market
from streamer import publisher
from streamer.bus import BusTick
from streamer.config import ServerConfig
from streamer.hub import MAX_ROUNDS
from streamer.server import StreamServer
from tests.bus.nats_node import NatsNode
from tests.bus.test_publisher import market_file
from tests.conftest import timeout, wait_for
from tests.streamer.test_server import http_get


async def frames(ws: ClientConnection) -> AsyncIterator[dict[str, Any]]:
    while True:
        for event in orjson.loads(await wait_for(ws.recv(), 10)):
            yield event


async def ticks_until(events: AsyncIterator[dict[str, Any]], seq: int) -> list[dict[str, Any]]:
    """Every event up to the tick ``seq`` (included)."""
    out = []
    async for event in events:
        out.append(event)
        if event["type"] == "tick" and event["seq"] >= seq:
            return out
    raise AssertionError("unreachable")


def assert_the_path(tmp_path: Path, symbol: str, ticks: list[dict[str, Any]]) -> None:
    spec = load_market(tmp_path / "market.toml", time.time()).get(symbol)
    assert spec is not None
    prices, vols = path_and_vols(spec.params, spec.seed, ticks[-1]["seq"] + 1)
    for tick in ticks:
        assert tick["price"] == prices[tick["seq"]], tick
        assert tick.get("vol") == (None if vols is None else vols[tick["seq"]]), tick


async def test_a_gateway_serves_the_bus_market_with_history_and_the_paths_bits(
        nats_node: NatsNode, published: publisher.Publisher, tmp_path: Path) -> None:
    config = ServerConfig(port=0, nats=(nats_node.url,))
    async with StreamServer(config) as gateway, connect(
            f"ws://127.0.0.1:{gateway.port}/ws") as ws:
        await ws.send(json.dumps({"op": "subscribe", "symbol": "VOLT", "history": 5}))
        events = frames(ws)
        ack = await anext(events)
        assert ack["type"] == "subscribed" and ack["params"]["model"] == "heston", ack
        got = await ticks_until(events, ack["seq"] + 8)
        ticks = [e for e in got if e["type"] == "tick"]
        seqs = [t["seq"] for t in ticks]
        assert seqs == list(range(ack["seq"] - 4, ack["seq"] + 9))  # history, then live
        assert_the_path(tmp_path, "VOLT", ticks)

        status, _, body = await http_get(f"http://127.0.0.1:{gateway.port}/healthz")
        health = orjson.loads(body)
        assert status == 200 and health["status"] == "ok" and health["bus"] == "connected"
        assert health["bus_ticks"] > 0 and health["bus_mismatches"] == 0

        status, _, body = await http_get(
            f"http://127.0.0.1:{gateway.port}/path?symbol=ACME&periods=3")
        assert status == 200 and orjson.loads(body)["symbol"] == "ACME"


async def test_the_bus_going_away_is_said_and_its_return_leaves_no_gap(
        nats_node: NatsNode, published: publisher.Publisher, tmp_path: Path) -> None:
    config = ServerConfig(port=0, nats=(nats_node.url,))
    health_url = ""

    async def status() -> str:
        code, _, body = await http_get(health_url)
        state = str(orjson.loads(body)["status"])
        assert (code == 200) == (state == "ok")
        return state

    async def until(state: str) -> None:
        deadline = time.monotonic() + timeout(20)
        while await status() != state:
            assert time.monotonic() < deadline, f"the gateway never said {state}"
            await asyncio.sleep(0.05)

    async with StreamServer(config) as gateway, connect(
            f"ws://127.0.0.1:{gateway.port}/ws") as ws:
        health_url = f"http://127.0.0.1:{gateway.port}/healthz"
        await ws.send(json.dumps({"op": "subscribe", "symbol": "ACME"}))
        events = frames(ws)
        ack = await anext(events)
        before = await ticks_until(events, ack["seq"] + 10)

        # the client goes on reading throughout, as a client does: one that stops reading
        # (its library's queue full, its pongs not sent) is a slow reader, and is conflated;
        # the node is killed and started in a thread, for the same reason
        reading = asyncio.create_task(ticks_until(events, before[-1]["seq"] + 60))
        await asyncio.to_thread(nats_node.kill)
        await until("degraded")
        await asyncio.to_thread(nats_node.start, port=nats_node.port)  # same port and store
        await until("ok")

        after = await wait_for(reading, 30)
        ticks = [e for e in before + after if e["type"] == "tick"]
        seqs = [t["seq"] for t in ticks]
        assert seqs == list(range(ack["seq"] + 1, seqs[-1] + 1))  # no gap, no duplicate
        assert_the_path(tmp_path, "ACME", ticks)
        assert ws.close_code is None  # the client kept its connection throughout


async def test_a_gateway_without_a_market_on_the_bus_is_a_clear_error(
        nats_node: NatsNode) -> None:
    with pytest.raises(MarketError, match="has no market yet: start streamer publish"):
        async with StreamServer(ServerConfig(port=0, nats=(nats_node.url,))):
            pass


def test_market_and_nats_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="--market and --nats exclude each other"):
        replace(ServerConfig(port=0), nats=("nats://127.0.0.1:4222",), market_file="demo")


async def test_nothing_published_means_nothing_ticks(nats_node: NatsNode,
                                                     tmp_path: Path) -> None:
    """No publisher: a gateway's symbols stand still rather than invent ticks."""
    now = time.time()
    market = load_market(market_file(tmp_path, now), now)
    nc = await nats.connect(nats_node.url)
    js = nc.jetstream()
    await publisher.ensure_stream(js, 100, 1)
    await publisher.agree_market(js, market, market, replace=False, replicas=1, now=now)
    await nc.close()
    async with StreamServer(ServerConfig(port=0, nats=(nats_node.url,))) as gateway, connect(
            f"ws://127.0.0.1:{gateway.port}/ws") as ws:
        await ws.send(json.dumps({"op": "subscribe", "symbol": "ACME"}))
        assert (await anext(frames(ws)))["type"] == "subscribed"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)  # ACME ticks at 50 Hz when published


async def test_a_backlog_of_bus_ticks_is_not_counted_as_schedule_lateness(
        nats_node: NatsNode, tmp_path: Path) -> None:
    """A gateway far behind the bus steps its backlog over several turns (its timer armed at
    once); the schedule-lateness histogram stays a measure of late timers, never +Inf."""
    now = time.time()
    market = load_market(market_file(tmp_path, now), now)
    nc = await nats.connect(nats_node.url)
    await publisher.ensure_stream(nc.jetstream(), 100, 1)
    await publisher.agree_market(nc.jetstream(), market, market, replace=False, replicas=1,
                                 now=now)
    await nc.close()
    async with StreamServer(ServerConfig(port=0, nats=(nats_node.url,))) as gateway:
        hub = gateway.hub
        assert hub is not None
        acme = hub.symbol("ACME")
        assert acme is not None
        far = hub.current(acme)[0] + MAX_ROUNDS + 500
        gateway._fed([BusTick("ACME", far, 1.0, 0.0)])
        deadline = time.monotonic() + timeout(10)
        while hub.current(acme)[0] < far:
            assert time.monotonic() < deadline, "the backlog was never stepped"
            await asyncio.sleep(0.01)
        _, _, body = await http_get(f"http://127.0.0.1:{gateway.port}/metrics")
        total = re.search(rb"^streamer_schedule_lateness_seconds_sum (\S+)$", body, re.M)
        assert total is not None and math.isfinite(float(total[1])), total
