"""``streamer serve --workers N``: processes sharing one port, all with the same prices."""

from __future__ import annotations

import asyncio
import signal
import urllib.request
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import timeout, wait_for


async def healthz(port: int) -> dict[str, Any]:
    def get() -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as reply:
            health: dict[str, Any] = orjson.loads(reply.read())
            return health
    return await wait_for(asyncio.to_thread(get))


async def connections_by_worker(port: int) -> dict[int, int]:
    """Open connections of each worker, asking /healthz until both have answered."""
    seen: dict[int, int] = {}
    for _ in range(200):
        health = await healthz(port)
        seen[health["worker"]] = health["connections"]
        if len(seen) == 2:
            break
    return seen


async def test_workers_share_the_port_and_serve_the_same_prices(server_process):
    proc = server_process("--workers", "2").start()
    prices: dict[int, float] = {}
    clients: list[ClientConnection] = []
    try:
        # connect until both processes hold some: each new connection lands on either one
        while len(clients) < 64:
            clients.append(await connect(proc.url))
            await clients[-1].send('{"op": "subscribe", "symbol": "DYNA", "history": 20}')
            events = orjson.loads(await wait_for(clients[-1].recv()))
            for event in events[1:]:  # the history ticks, in the ack's frame
                assert prices.setdefault(event["seq"], event["price"]) == event["price"]
            if len(clients) >= 4 and all((await connections_by_worker(proc.port)).values()):
                break
        by_worker = await connections_by_worker(proc.port)
    finally:
        for ws in clients:
            await ws.close()
    assert set(by_worker) == {0, 1} and all(by_worker.values()), by_worker
    assert sum(by_worker.values()) == len(clients)
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


async def test_workers_whose_parent_is_killed_close_their_clients_and_exit(server_process):
    proc = server_process("--workers", "2").start()
    clients = [await connect(proc.url) for _ in range(8)]
    for ws in clients:
        await ws.send('{"op": "subscribe", "symbol": "ACME"}')
        await wait_for(ws.recv())
    proc.kill()  # SIGKILL: the parent cannot forward anything to its workers
    for ws in clients:
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(timeout(10)):  # ticks would flow for ever from orphans
                while True:
                    await ws.recv()
        assert ws.close_code == 1001  # the workers shut down as on SIGTERM
    with pytest.raises(OSError):
        await wait_for(connect(proc.url))  # nobody listens on the port any more
