"""``streamer serve --workers N``: processes sharing one port, all with the same prices."""

from __future__ import annotations

import asyncio
import re
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


async def connections_by_worker(port: int, total: int | None = None) -> dict[int, int]:
    """Open connections of each worker, from the whole server's /healthz (whichever worker
    answers), once both workers have reported (and, with ``total``, reported that many)."""
    by_worker: dict[int, int] = {}
    for _ in range(400):
        health = await healthz(port)
        by_worker = {w["worker"]: w["connections"] for w in health["per_worker"]}
        if health["workers_reporting"] == [0, 1] and (total is None
                                                       or health["connections"] == total):
            break
        await asyncio.sleep(0.01)
    return by_worker


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
        by_worker = await connections_by_worker(proc.port, len(clients))
    finally:
        for ws in clients:
            await ws.close()
    assert set(by_worker) == {0, 1} and all(by_worker.values()), by_worker
    assert sum(by_worker.values()) == len(clients)
    assert len(prices) >= 20


async def test_healthz_and_metrics_describe_every_worker_whichever_answers(server_process):
    proc = server_process("--workers", "2").start()
    clients: list[ClientConnection] = []
    try:
        for _ in range(12):
            clients.append(await connect(proc.url))
            await clients[-1].send('{"op": "subscribe", "symbol": "ACME"}')
            await wait_for(clients[-1].recv())
        by_worker = await connections_by_worker(proc.port, len(clients))
        answered = set()  # both workers answer, in turn, with the whole server's totals (the
        for _ in range(400):  # other's figures may be up to a report interval old)
            health = await healthz(proc.port)
            assert health["status"] == "ok" and health["workers"] == 2
            if health["connections"] == health["subscriptions"] == 12:
                answered.add(health["worker"])
            if answered == {0, 1}:
                break
            await asyncio.sleep(0.01)
        assert answered == {0, 1}
        assert sum(by_worker.values()) == 12

        def metrics() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/metrics") as reply:
                return str(reply.read().decode())
        text = await wait_for(asyncio.to_thread(metrics))
        series = dict(re.findall(r'^streamer_connections\{worker="(\d)"\} (\S+)$', text,
                                 re.M))
        assert set(series) == {"0", "1"} and sum(float(v) for v in series.values()) == 12
        assert text.count("# TYPE streamer_connections gauge") == 1
    finally:
        for ws in clients:
            await ws.close()


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


def test_reports_add_up_and_a_silent_worker_makes_the_server_degraded(tmp_path) -> None:
    from streamer import workers

    def figures(worker: int, connections: int) -> dict[str, Any]:
        return {"status": "ok", "version": "x", "worker": worker, "workers": 3,
                "uptime": 5.0 + worker, "connections": connections, "symbols": 14,
                "errors": {"rate_limited": worker}, "backlog_age": 0.1 * worker}

    workers.write(str(tmp_path), 1, figures(1, 4), [], now=100.0)
    workers.write(str(tmp_path), 2, figures(2, 5), [], now=90.0)  # stale at 100
    others = workers.read(str(tmp_path), 3, skip=0, now=100.0)
    assert set(others) == {1}
    total = workers.health(figures(0, 3), others)
    assert total["connections"] == 7 and total["symbols"] == 14
    assert total["errors"] == {"rate_limited": 1} and total["uptime"] == 6.0
    assert total["status"] == "degraded" and total["workers_reporting"] == [0, 1]
    workers.write(str(tmp_path), 2, figures(2, 5), [], now=99.5)
    total = workers.health(figures(0, 3), workers.read(str(tmp_path), 3, skip=0, now=100.0))
    assert total["status"] == "ok" and total["connections"] == 12
    assert total["backlog_age"] == pytest.approx(0.2)
