"""A client that reads too slowly is conflated, told so, and closed only if it stays behind;
nobody else notices it."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from typing import Any

import numpy as np
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import timeout, wait_for, ws_url


@pytest.fixture
def config(config):
    return dataclasses.replace(config, max_send_buffer=32 * 1024, slow_consumer_timeout=30.0,
                               socket_send_buffer=16 * 1024)


def slow_reader(server):
    """A client whose socket buffers little, so that a paused reader backs up the server soon
    instead of after megabytes of kernel buffers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    return connect(ws_url(server), sock=sock, compression=None, max_queue=4, close_timeout=0.5)


async def subscribe_many(ws, count: int, interval: float = 0.005) -> None:
    for i in range(count):
        await ws.send(orjson.dumps({"op": "subscribe", "id": i, "interval": interval,
                                    "seed": i}).decode())


async def until(predicate, seconds: float = 10.0) -> None:
    """Wait for a condition of the in-process server, polling its state once per loop pass."""
    async def poll():
        while not predicate():
            await asyncio.sleep(0.01)
    await wait_for(poll(), seconds)


async def test_a_paused_reader_is_conflated_and_every_seq_jump_is_announced(server):
    async with slow_reader(server) as ws:
        await subscribe_many(ws, 20)
        ws.transport.pause_reading()
        await until(lambda: server.health()["ticks_conflated"] > 500)
        ws.transport.resume_reading()
        last: dict[int, int] = {}
        lagging: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout(5)
        while len(lagging) < 20 and time.monotonic() < deadline:
            for event in orjson.loads(await wait_for(ws.recv())):
                sub = event.get("sub")
                if event["type"] == "lagging":
                    lagging.append(event)
                    assert event["skipped"] > 0
                    assert event["seq"] == last[sub] + event["skipped"] + 1
                    last[sub] = event["seq"] - 1
                elif event["type"] == "tick":
                    if sub in last:
                        assert event["seq"] == last[sub] + 1, "a seq jump with no lagging first"
                    last[sub] = event["seq"]
        assert len({event["sub"] for event in lagging}) == 20


async def test_a_paused_reader_does_not_grow_the_servers_buffer(server, config):
    async with slow_reader(server) as ws:
        await subscribe_many(ws, 50)
        ws.transport.pause_reading()
        await until(lambda: server.health()["ticks_conflated"] > 2000)
        buffered = [c.transport.get_write_buffer_size() for c in server._connections.values()]
        largest_frame = 50 * 120  # one instant of 50 ticks, generously
        assert max(buffered) <= config.max_send_buffer + largest_frame


async def test_a_reader_that_stays_behind_is_closed_with_4008(server, config):
    server.config = dataclasses.replace(config, slow_consumer_timeout=0.3)
    async with slow_reader(server) as ws:
        await subscribe_many(ws, 50)
        ws.transport.pause_reading()
        await until(lambda: server.health()["lagging"] == 1)
        await until(lambda: server.health()["lagging"] == 0)  # given up on
        assert server.health()["subscriptions"] == 0
        ws.transport.resume_reading()  # reads what was buffered, then the close frame
        with pytest.raises(ConnectionClosed):
            while True:
                await wait_for(ws.recv())
        assert ws.close_code == 4008
        await until(lambda: server.health()["connections"] == 0)
    assert server.health()["subscriptions"] == 0


async def delays_of(url: str, seconds: float) -> np.ndarray:
    """Delays (receipt minus tick time) seen by a well-behaved symbol subscriber."""
    delays = []
    async with connect(url, compression=None) as ws:
        await ws.send('{"op": "subscribe", "symbol": "BOLT"}')
        end = time.time() + seconds
        while time.time() < end:
            frame = await wait_for(ws.recv())
            now = time.time()
            delays += [now - e["time"] for e in orjson.loads(frame) if e["type"] == "tick"]
    return np.array(delays)


async def test_a_paused_reader_does_not_delay_other_clients(server):
    # runs with and without a stalled reader alternate, so that whatever else the machine is
    # doing weighs on both alike
    baseline, during = [], []
    for _ in range(2):
        baseline.append(await delays_of(ws_url(server), 1.0))
        async with slow_reader(server) as slow:
            await subscribe_many(slow, 20)
            slow.transport.pause_reading()
            await until(lambda: server.health()["lagging"] == 1)
            during.append(await delays_of(ws_url(server), 1.0))
        await until(lambda: server.health()["connections"] == 0)
    p99_base = np.percentile(np.concatenate(baseline), 99)
    p99_during = np.percentile(np.concatenate(during), 99)
    assert sum(map(len, during)) >= 0.8 * sum(map(len, baseline))
    # a small factor, with a floor for timer granularity (the event loop wakes in ms steps)
    assert p99_during <= max(3 * p99_base, 0.020), (p99_base, p99_during)
