"""Hostile clients, each attack as a user found it, against a server in a child process (so that
its event loop is its own and SIGTERM is real). Numbers are scaled for a slow machine; every
wait is bounded, and a control client checks that everyone else is still served."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any
from contextlib import asynccontextmanager

import orjson
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import ServerProcess, timeout, wait_for


def get(port: int, path: str) -> tuple[int, bytes, float]:
    """``GET path``: status, body and how long the answer took."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                    timeout=timeout(5)) as reply:
            return reply.status, reply.read(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.monotonic() - started


class Control:
    """A well-behaved client following a 50 Hz symbol; ``worst`` is its worst tick delay."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.worst = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with connect(self.url) as ws:
            await ws.send('{"op": "subscribe", "symbol": "BOLT"}')
            while True:
                try:
                    frame = await asyncio.wait_for(ws.recv(), timeout(2))
                except TimeoutError:
                    self.worst = max(self.worst, timeout(2))
                    continue
                for event in orjson.loads(frame):
                    if event["type"] == "tick":
                        self.ticks += 1
                        self.worst = max(self.worst, time.time() - event["time"])

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Control]:
        self._task = asyncio.create_task(self._run())
        try:
            yield self
        finally:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def healthz_latencies(port: int, seconds: float, every: float = 0.25) -> list[float]:
    """Ask /healthz every ``every`` seconds for ``seconds``; how long each answer took."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, _, took = await asyncio.to_thread(get, port, "/healthz")
        assert status == 200
        latencies.append(took)
        await asyncio.sleep(every)
    return latencies


async def silent(url: str) -> ClientConnection:
    """A connection whose application never reads (its library stops reading when one
    message is queued, so the server's writes back up)."""
    return await connect(url, max_queue=1)


# --- the wedge: queued subscribes at 1 ms from connections that never read ----------------------


async def test_connections_flooding_1ms_subscribes_without_reading_do_not_wedge_the_server(
        server_process):
    proc: ServerProcess = server_process().start()
    async with Control(proc.url).running() as control:
        floods = [await silent(proc.url) for _ in range(3)]
        for ws in floods:
            for _ in range(300):
                await ws.send('{"op": "subscribe", "interval": 0.001}')
        latencies = await healthz_latencies(proc.port, seconds=1.5)
        for ws in floods:
            ws.transport.abort()  # gone, with whatever it still had queued
        latencies += await healthz_latencies(proc.port, seconds=1.0)
    assert max(latencies) < 1.0, latencies
    assert control.ticks > 50 and control.worst < 1.0, (control.ticks, control.worst)
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 10) == 0
    assert time.monotonic() - started < 2.0


async def test_the_budget_refuses_what_would_exceed_it_and_names_it(server_process):
    proc: ServerProcess = server_process("--max-ticks-per-second", "2500").start()
    async with connect(proc.url) as ws:
        for op_id in range(3):
            await ws.send(orjson.dumps({"op": "subscribe", "id": op_id, "interval": 0.001}),
                          text=True)
        replies: dict[int, dict[str, Any]] = {}
        while len(replies) < 3:
            for event in orjson.loads(await wait_for(ws.recv())):
                if event.get("id") is not None:
                    replies[event["id"]] = event
    assert [replies[i]["type"] for i in range(3)] == ["subscribed", "subscribed", "error"]
    assert replies[2]["code"] == "limit_exceeded"
    assert "past its budget of 2500 a second" in replies[2]["message"]
