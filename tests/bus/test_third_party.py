"""A third party's prices on the bus, published by ``examples/publish_prices.py``: gateways
serve them with ``seq`` and resume like the market's symbols; a gateway started later reads
their history from JetStream, and the Python client moves between gateways without a gap."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from websockets.asyncio.client import connect

from clients.errors import TicksLost
from clients.feed.aio import Feed
from streamer import bus, publisher
from streamer.config import ServerConfig
from streamer.gateway import Gateway
from streamer.server import StreamServer
from tests.bus.nats_node import NatsNode
from tests.bus.test_failover import across_a_killed_gateway
from tests.bus.test_gateway import frames, ticks_until
from tests.conftest import ServerProcess, timeout, wait_for
from tests.streamer.test_server import http_get

EXAMPLE = Path(__file__).parents[2] / "examples" / "publish_prices.py"


@pytest.fixture
def third_party(nats_node: NatsNode, published: publisher.Publisher,
                ) -> Iterator[type[subprocess.Popen[bytes]]]:
    """Run the example publisher (after the market's, which made the stream); stopped after."""
    started: list[subprocess.Popen[bytes]] = []

    def run(*args: str) -> subprocess.Popen[bytes]:
        child = subprocess.Popen([sys.executable, str(EXAMPLE), "--nats", nats_node.url, *args],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(child)
        return child
    yield run  # type: ignore[misc]
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        assert child.returncode in (0, -signal.SIGKILL), child.stderr.read() if child.stderr else b""


async def on_the_bus(url: str, symbol: str) -> list[dict[str, Any]]:
    """Every payload JetStream holds for ``symbol``, in order."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    info = await js.stream_info(bus.STREAM, subjects_filter=bus.subject(symbol))
    count = (info.state.subjects or {})[bus.subject(symbol)]
    got: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def keep(msg: Any) -> None:
        got.append(orjson.loads(msg.data))
        if len(got) == count:
            done.set()
    sub = await js.subscribe(bus.subject(symbol), ordered_consumer=True, cb=keep)
    await wait_for(done.wait(), 10)
    await sub.unsubscribe()
    await nc.close()
    return got


async def until_served(url: str, symbols: int) -> dict[str, Any]:
    """The gateway's health once it serves ``symbols`` of a third party's."""
    deadline = time.monotonic() + timeout(20)
    while True:
        _, _, body = await http_get(url.replace("ws://", "http://").replace("/ws", "/healthz"))
        health: dict[str, Any] = orjson.loads(body)
        if health["bus_outside_symbols"] >= symbols:
            return health
        assert time.monotonic() < deadline, health
        await asyncio.sleep(0.05)


async def test_a_later_gateway_resumes_a_third_partys_symbol_from_the_bus(
        nats_node: NatsNode, third_party: Any) -> None:
    config = ServerConfig(port=0, nats=(nats_node.url,))
    async with StreamServer(config) as first:
        example = third_party("--symbol", "EXT1", "--symbol", "EXT2", "--interval", "0.02",
                              "--count", "60")
        url = f"ws://127.0.0.1:{first.port}/ws"
        await until_served(url, 2)
        async with connect(url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "symbol": "EXT1", "history": 1000}))
            events = frames(ws)
            ack = await anext(events)
            assert ack["params"]["model"] == "external" and ack["params"]["interval"] == 0.02
            seen = [e for e in await ticks_until(events, 20) if e["type"] == "tick"]
        assert [t["seq"] for t in seen] == list(range(21))
        assert example.wait(timeout(30)) == 0

        async with StreamServer(config) as later:  # it was not there for any of it
            health = later.health()
            assert health["bus_history"] == {"EXT1": 60, "EXT2": 60}, health
            async with connect(f"ws://127.0.0.1:{later.port}/ws") as ws:
                await ws.send(json.dumps({"op": "subscribe", "symbol": "EXT1",
                                          "t0": ack["t0"], "fromSeq": 21}))
                events = frames(ws)
                assert (await anext(events))["seq"] == 59
                rest = [e for e in await ticks_until(events, 59) if e["type"] == "tick"]
    stored = await on_the_bus(nats_node.url, "EXT1")
    ticks = seen + rest
    assert [t["seq"] for t in ticks] == list(range(60))
    assert [(t["price"], t["time"]) for t in ticks] == [(p["price"], p["time"]) for p in stored]


async def test_the_client_moves_between_gateways_on_a_third_partys_symbol_without_a_gap(
        nats_node: NatsNode, third_party: Any, server_process: type[ServerProcess]) -> None:
    gateways = [server_process("--nats", nats_node.url).start() for _ in range(2)]
    third_party("--symbol", "EXT1", "--interval", "0.02", "--count", "2000")
    for gateway in gateways:
        await until_served(gateway.url, 1)
    ticks = await across_a_killed_gateway(gateways, "EXT1")
    seqs = [t.seq for t in ticks]
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "a gap or a duplicate"
    stored = {p["seq"]: p["price"] for p in await on_the_bus(nats_node.url, "EXT1")}
    assert [t.price for t in ticks] == [stored[seq] for seq in seqs]


async def test_a_symbols_history_is_found_by_its_stream_sequence(nats_node: NatsNode) -> None:
    """The last ``depth`` ticks of one subject among others, of its newest numbering only."""
    nc = await nats.connect(nats_node.url)
    js = nc.jetstream()
    await publisher.ensure_stream(js, 1_000, 1)
    for k in range(60):  # seq 0..29 under t0 1, then 0..29 under t0 2 (counted again)
        t0, seq = divmod(k, 30)
        await js.publish("ticks.EXT9", orjson.dumps(
            {"seq": seq, "price": 1.0 + k, "time": 10.0 + k, "t0": t0 + 1.0}))
        await js.publish("ticks.OTHER", orjson.dumps({"seq": k, "price": 5.0, "time": 1.0}))
    gateway = Gateway((nats_node.url,))
    try:
        for depth, first in ((10, 20), (29, 1), (30, 0), (1_000, 0)):
            ticks = await wait_for(gateway._history(js, "ticks.EXT9", depth), 10)
            assert [(t.seq, t.t0) for t in ticks] == [(k, 2.0) for k in range(first, 30)], depth
            assert [t.price for t in ticks] == [31.0 + k for k in range(first, 30)]
    finally:
        await nc.close()


async def test_a_skip_in_a_third_partys_seq_reaches_the_python_client_as_lost_ticks(
        nats_node: NatsNode, published: publisher.Publisher) -> None:
    """Seq 0-3, then 6-11: the client is told 4 and 5 are lost (once; it does not ask the
    gateway for them again and again), and gets every tick after."""
    nc = await nats.connect(nats_node.url)

    async def put(seqs: range) -> None:
        for seq in seqs:
            await nc.publish(bus.subject("GAPX"), orjson.dumps(
                {"seq": seq, "price": 10.0 + seq, "time": time.time(), "t0": 5.0,
                 "interval": 0.05}))
        await nc.flush()
    try:
        async with StreamServer(ServerConfig(port=0, nats=(nats_node.url,))) as gateway:
            url = f"ws://127.0.0.1:{gateway.port}/ws"
            await put(range(2))
            await until_served(url, 1)
            async with Feed(url) as feed:
                sub = feed.subscribe(symbol="GAPX")
                source = aiter(sub)
                got = [await wait_for(anext(source), 10)]  # the current tick, 1
                await put(range(2, 4))
                got += [await wait_for(anext(source), 10) for _ in range(2)]
                await put(range(6, 12))
                with pytest.raises(TicksLost) as caught:
                    await wait_for(anext(source), 10)
                got += [await wait_for(anext(source), 10) for _ in range(6)]
                assert (caught.value.first, caught.value.last) == (4, 5)
                assert [t.seq for t in got] == [1, 2, 3, *range(6, 12)]
                assert sub.stats.refetches == 1 and sub.stats.lost == 2
    finally:
        await nc.close()
