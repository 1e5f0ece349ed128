"""``streamer serve --workers N``: processes sharing one port, all with the same prices."""

from __future__ import annotations

import asyncio
import signal
import urllib.request

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import wait_for


async def healthz_worker(port: int) -> int:
    def get() -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as reply:
            return orjson.loads(reply.read())["worker"]
    return await wait_for(asyncio.to_thread(get))


async def test_workers_share_the_port_and_serve_the_same_prices(server_process):
    proc = server_process("--workers", "2").start()
    workers = {await healthz_worker(proc.port) for _ in range(40)}
    assert workers == {0, 1}  # each new connection lands on either process

    prices: dict[int, float] = {}
    clients = [await connect(proc.url) for _ in range(12)]
    try:
        for ws in clients:
            await ws.send('{"op": "subscribe", "symbol": "DYNA", "history": 20}')
        for ws in clients:
            events = orjson.loads(await wait_for(ws.recv()))
            for event in events[1:]:  # the history ticks, in the ack's frame
                assert prices.setdefault(event["seq"], event["price"]) == event["price"]
    finally:
        for ws in clients:
            await ws.close()
    assert len(prices) >= 20


async def test_sigterm_closes_every_workers_clients_with_1001_and_exits_0(server_process):
    proc = server_process("--workers", "2").start()
    clients = [await connect(proc.url) for _ in range(8)]
    for ws in clients:
        await ws.send('{"op": "subscribe", "symbol": "ACME"}')
        await wait_for(ws.recv())
    proc.signal(signal.SIGTERM)
    for ws in clients:
        with pytest.raises(ConnectionClosed):
            while True:
                await wait_for(ws.recv())
        assert ws.close_code == 1001
    assert await asyncio.to_thread(proc.wait, 10) == 0
