"""Lagging against a real server: a client that stops reading is conflated by the server,
which announces ``lagging``; the feed fetches the skipped ticks back, so every seq arrives."""

from __future__ import annotations

import asyncio
import dataclasses
import socket

import pytest
from websockets.asyncio.client import ClientConnection, connect

from clients.feed import Feed, Tick
from clients.feed.transport import WebSocketConnection
from simulation import GBMParams, path
from tests.conftest import wait_for, ws_url


@pytest.fixture
def config(config):
    return dataclasses.replace(config, max_send_buffer=32 * 1024, socket_send_buffer=16 * 1024,
                               slow_consumer_timeout=30.0)


class SmallBuffers:
    """WebSocket connections on a socket that buffers little, whose reading a test can pause
    (as a client whose CPU is stalled would stop reading)."""

    def __init__(self) -> None:
        self.ws: ClientConnection | None = None

    async def connect(self, url: str) -> WebSocketConnection:
        host, port = url.split("//")[1].split("/")[0].split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))
        sock.setblocking(False)
        self.ws = await connect(url, sock=sock, compression=None, max_queue=4)
        return WebSocketConnection(self.ws)


async def until(predicate, seconds: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)
    await wait_for(poll(), seconds)


async def test_ticks_the_server_conflated_are_fetched_back(server):
    transport = SmallBuffers()
    ticks: dict[object, list[Tick]] = {}
    async with Feed(ws_url(server), transport=transport) as feed:
        subs = [feed.subscribe(seed=seed, interval=0.005) for seed in range(1, 11)]
        await wait_for(asyncio.gather(*subs))
        for sub in subs:
            ticks[sub] = []

        async def collect() -> None:
            async for tick in feed.merge(*subs):
                ticks[tick.sub].append(tick)

        reader = asyncio.create_task(collect())
        assert transport.ws is not None
        transport.ws.transport.pause_reading()
        await until(lambda: server.health()["ticks_conflated"] > 300)
        transport.ws.transport.resume_reading()
        await until(lambda: all(sub.stats.lagging > 0 and sub.stats.refetches > 0
                                and len(ticks[sub]) > 150 for sub in subs))
        reader.cancel()
    for sub in subs:
        seqs = [t.seq for t in ticks[sub]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap or a duplicate"
        assert sub.seed is not None  # known once acked
        expected = path(GBMParams(70.0, 0.05, 0.3, 1.0), sub.seed, seqs[-1] + 1)
        assert [t.price for t in ticks[sub]] == expected[seqs[0]:].tolist()
