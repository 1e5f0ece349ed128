"""Every limit is a setting with a default, and each one holds."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from streamer.config import ServerConfig
from tests.conftest import wait_for, ws_url


def limited(server, **changes) -> None:
    """Change settings of the running in-process server (read at each use)."""
    server.config = dataclasses.replace(server.config, **changes)


async def replies(ws, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while len(events) < count:
        events += [e for e in orjson.loads(await wait_for(ws.recv())) if e["type"] != "tick"]
    return events


def test_every_limit_has_a_documented_default():
    config = ServerConfig()
    assert (config.max_connections, config.max_subscriptions, config.max_message_bytes,
            config.max_frame_bytes, config.max_ops_per_second, config.min_interval,
            config.max_periods, config.max_history) == (
        20_000, 1_000, 4_096, 64 * 1024, 100.0, 0.001, 1_000_000, 10_000)


async def test_one_connection_past_the_maximum_is_refused_with_503(server):
    limited(server, max_connections=2)
    async with connect(ws_url(server)), connect(ws_url(server)):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(server)):
                pass
        assert refused.value.response.status_code == 503
    assert server.io.refused[503] == 1


async def test_operations_past_the_rate_get_rate_limited_and_others_carry_on(server):
    limited(server, max_ops_per_second=1.0, ops_burst=3, flood_limit=100)
    async with connect(ws_url(server)) as ws:
        for i in range(5):
            await ws.send(orjson.dumps({"op": "ping", "id": i}).decode())
        events = await replies(ws, 5)
    assert [e["type"] for e in events] == ["pong", "pong", "pong", "error", "error"]
    assert {e["code"] for e in events[3:]} == {"rate_limited"}
    assert "more than 1 operations a second (burst 3)" in events[3]["message"]


async def test_a_client_that_keeps_flooding_is_closed_with_1008(server):
    limited(server, max_ops_per_second=1.0, ops_burst=1, flood_limit=5)
    async with connect(ws_url(server)) as ws:
        with pytest.raises(ConnectionClosed):
            for _ in range(50):
                await ws.send('{"op": "ping"}')
            while True:
                await wait_for(ws.recv())
    assert ws.close_code == 1008
    assert ws.close_reason == "kept flooding after rate_limited"


async def test_a_frame_over_the_frame_limit_closes_with_1009(server):
    async with connect(ws_url(server), max_size=None) as ws:
        await ws.send("x" * (server.config.max_frame_bytes + 1))
        with pytest.raises(ConnectionClosed):
            await wait_for(ws.recv())
    assert ws.close_code == 1009


async def test_a_connection_that_never_subscribes_is_closed_after_the_idle_deadline(server):
    limited(server, idle_timeout=0.2)
    async with connect(ws_url(server)) as ws:
        await ws.send('{"op": "ping"}')  # talking is not subscribing
        with pytest.raises(ConnectionClosed):
            while True:
                await wait_for(ws.recv())
    assert ws.close_code == 1008
    assert ws.close_reason == "idle: no subscription within 0.2s"


async def test_a_connection_that_subscribed_is_not_idle(server):
    limited(server, idle_timeout=0.2)
    async with connect(ws_url(server)) as ws:
        await ws.send('{"op": "subscribe", "symbol": "BOLT"}')
        ticks = 0
        while ticks < 20:  # 0.4 s of BOLT at 50 Hz: past the deadline, still open
            ticks += sum(e["type"] == "tick" for e in orjson.loads(await wait_for(ws.recv())))
        await ws.send('{"op": "ping", "id": "still"}')
        pong = await wait_for(_next_event(ws, "pong"))
        assert pong["id"] == "still" and ws.close_code is None
    assert server._reported["idle closed"] == 0


async def _next_event(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        events: list[dict[str, Any]] = orjson.loads(await ws.recv())
        for event in events:
            if event["type"] == kind:
                return event


@pytest.fixture
def config(config):
    return dataclasses.replace(config, ping_interval=0.1, ping_timeout=0.2)


async def test_a_peer_that_stops_answering_pings_is_closed_and_freed(server):
    async with connect(ws_url(server), ping_interval=None) as ws:
        await ws.send('{"op": "subscribe", "symbol": "BOLT"}')
        await wait_for(ws.recv())
        ws.transport.pause_reading()  # pings are no longer read, so never answered

        async def freed():
            while server.health()["connections"]:
                await asyncio.sleep(0.01)
        await wait_for(freed())
        assert server.health()["subscriptions"] == 0
        ws.transport.resume_reading()


async def test_a_rate_limited_operation_is_refused_with_its_own_id(server):
    limited(server, max_ops_per_second=1.0, ops_burst=1, flood_limit=100)
    async with connect(ws_url(server)) as ws:
        await ws.send('{"op": "ping", "id": 1}')
        await ws.send('{"op": "ping", "id": "second"}')
        events = await replies(ws, 2)
    assert [(e["type"], e["id"]) for e in events] == [("pong", 1), ("error", "second")]
    assert events[1]["code"] == "rate_limited"


async def test_resuming_far_back_costs_operations_in_proportion(server):
    limited(server, max_ops_per_second=1.0, ops_burst=5, max_catchup=10**7)
    t0 = round(time.time() - 1000.0, 3)  # 1,000,000 steps back at 1 ms: costs 10 operations
    async with connect(ws_url(server)) as ws:
        await ws.send(orjson.dumps({"op": "subscribe", "id": 7, "interval": 0.001, "seed": 1,
                                    "t0": t0}).decode())
        events = await replies(ws, 1)
    assert (events[0]["code"], events[0]["field"], events[0]["id"]) == ("rate_limited", "t0", 7)
    assert "costs 10 operations of the rate limit" in events[0]["message"]


async def test_operations_after_a_far_resume_wait_for_its_answer_and_others_are_served(server):
    t0 = time.time() - 6000.0  # 6,000,000 steps back at 1 ms: computed a piece per turn
    async with connect(ws_url(server)) as ws, connect(ws_url(server)) as other:
        await ws.send(orjson.dumps({"op": "subscribe", "id": 1, "interval": 0.001, "seed": 1,
                                    "t0": t0}).decode())
        await ws.send('{"op": "ping", "id": 2}')
        await other.send('{"op": "ping", "id": "meanwhile"}')
        assert (await replies(other, 1))[0]["id"] == "meanwhile"
        assert server.hub.private_streams == 0  # answered while the catch-up went on
        assert server.health()["catching_up"] == 1
        events = await replies(ws, 2)
    assert [(e["type"], e["id"]) for e in events] == [("subscribed", 1), ("pong", 2)]
    assert events[0]["seq"] >= 6_000_000
