"""Staleness is bounded in time, not only in bytes: a reader's backlog hides in the kernel and in
its own library's buffers, where the server cannot count it, so the server measures it with
pings that queue behind the data. Against a server in a child process, with the operating
system's default socket buffers (the case where counting bytes saw nothing)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ServerProcess, timeout, wait_for
from wire.frames import client_frame

RATE = 500  # Hz: the stream every reader here follows


def health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout(5)) as r:
        figures: dict[str, Any] = orjson.loads(r.read())
    return figures


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


async def subscribe(ws: ClientConnection, streams: int = 1) -> None:
    for seed in range(streams):
        await ws.send(orjson.dumps({"op": "subscribe", "interval": 1 / RATE, "seed": seed,
                                    "id": seed}).decode())


class Reader:
    """Follows the stream, reading at most ``rate`` frames a second (``None``: as fast as it
    can); records how old each tick was when read and when ``lagging`` first came."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.ticks = 0
        self.oldest = 0.0
        self.lagging: list[float] = []

    async def run(self, url: str, seconds: float) -> None:
        async with connect(url, compression=None) as ws:
            await subscribe(ws)
            started = time.monotonic()
            deadline = started + seconds
            frames = 0
            while time.monotonic() < deadline:
                if self.rate is not None:  # pace against the clock, not by sleeping blindly
                    ahead = started + frames / self.rate - time.monotonic()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                frame = await wait_for(ws.recv())
                frames += 1
                now = time.time()
                for event in orjson.loads(frame):
                    if event["type"] == "tick":
                        self.ticks += 1
                        self.oldest = max(self.oldest, now - event["time"])
                    elif event["type"] == "lagging":
                        self.lagging.append(time.monotonic() - started)


async def test_a_half_rate_reader_is_told_lagging_soon_and_never_reads_old_ticks_while_a_fast_one_is_never_conflated(  # noqa: E501
        server_process):
    proc: ServerProcess = server_process().start()
    slow, fast = Reader(RATE / 2), Reader(None)
    seconds = 12.0
    await asyncio.gather(slow.run(proc.url, seconds), fast.run(proc.url, seconds))
    assert slow.lagging, "the half-rate reader was never told it lags"
    assert slow.lagging[0] < 6.0, slow.lagging  # read behind what its library had read ahead
    assert slow.oldest < 3.0, slow.oldest
    assert slow.ticks > seconds * RATE / 4  # it is still fed
    assert fast.lagging == [] and fast.ticks > seconds * RATE * 0.8, (fast.lagging, fast.ticks)


async def test_a_paused_reader_is_closed_with_4008_and_costs_no_memory_meanwhile(server_process):
    proc: ServerProcess = server_process("--slow-consumer-timeout", "4").start()
    assert proc.proc is not None
    before = rss_mb(proc.proc.pid)
    readers = [await connect(proc.url, compression=None) for _ in range(20)]
    for ws in readers:
        await subscribe(ws, streams=5)
        ws.transport.pause_reading()

    async def all_lagging() -> dict[str, Any]:
        while (figures := await asyncio.to_thread(health, proc.port))["lagging"] < 20:
            await asyncio.sleep(0.1)
        return figures
    figures = await wait_for(all_lagging(), 10)
    await asyncio.sleep(1.5)  # a while conflated: what it costs must not grow
    later = await asyncio.to_thread(health, proc.port)
    during = rss_mb(proc.proc.pid)
    assert later["lagging"] == 20 and later["connections"] == 20, later
    # what waits for them is what was sent within about max_lag of the pause; conflated, each
    # holds one tick per stream, whatever the time
    assert later["backlog_bytes"] <= figures["backlog_bytes"] + 20 * 5 * 200, (figures, later)
    assert later["ticks_conflated"] > figures["ticks_conflated"] + 20 * 5 * 500
    assert during - before < 20, (before, during)

    async def all_closed() -> None:
        while (await asyncio.to_thread(health, proc.port))["connections"]:
            await asyncio.sleep(0.1)
    await wait_for(all_closed(), 10)
    codes = []
    for ws in readers:
        ws.transport.resume_reading()  # what was sent, then the close frame
        with pytest.raises(ConnectionClosed):
            while True:
                await wait_for(ws.recv())
        codes.append(ws.close_code)
    assert codes.count(4008) >= 18, codes  # a cut connection may lose its close frame


async def test_readers_whose_operations_wait_to_be_carried_out_are_not_taken_for_slow(
        server_process):
    """While a connection's operations wait (its reading paused, 64 queued), its pongs wait
    behind them: that is the server behind, not the reader, and must not conflate it. Here 40
    readers each queue 900 subscribes, which the server carries out one a turn per connection
    for a few seconds, far longer than max_lag (1 s)."""
    proc: ServerProcess = server_process().start()
    busy = [orjson.dumps({"op": "subscribe", "interval": 60.0, "seed": seed, "id": seed}).decode()
            for seed in range(900)]  # streams that tick once a minute: little to read

    async def reader() -> int:
        async with connect(proc.url, compression=None, max_queue=None) as ws:
            await ws.send('{"op": "subscribe", "interval": 0.005, "seed": 1}')
            for text in busy:  # all at once
                await ws.send(text)
            answered, lagging = 0, 0
            while answered < len(busy):
                for event in orjson.loads(await wait_for(ws.recv(), 30)):
                    answered += event.get("id") is not None
                    lagging += event["type"] == "lagging"
            return lagging

    started = time.monotonic()
    lagging = await wait_for(asyncio.gather(*(reader() for _ in range(40))), 90)
    took = time.monotonic() - started
    assert took > 1.5, took  # the operations did keep the readers waiting past max_lag
    assert lagging == [0] * 40
    assert (await asyncio.to_thread(health, proc.port))["ticks_conflated"] == 0


# --- pongs, however they come ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["alone", "split", "with_a_message", "two_at_once"])
async def test_a_pong_answers_its_ping_however_it_arrives(server, how):
    """The commonest frame, a pong alone, is read without the library's parser; split, or
    sharing a read with other frames, it goes through the parser. Either way it answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    await wait_for(reader.readuntil(b"\r\n\r\n"))
    writer.write(client_frame(b'{"op": "subscribe", "symbol": "BOLT"}'))
    connection = next(iter(server._connections.values()))
    mask = b"\x11\x22\x33\x44"
    answered = 0
    try:
        while answered < 3:
            first, size = await wait_for(reader.readexactly(2))
            if size == 126:  # the ack is longer than 125 bytes
                size = int.from_bytes(await wait_for(reader.readexactly(2)), "big")
            payload = await wait_for(reader.readexactly(size))
            if first != 0x89:  # not a ping
                continue
            assert connection.pinging
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            pong = bytes((0x8A, 0x88)) + mask + masked
            if how == "alone":
                writer.write(pong)
            elif how == "split":
                writer.write(pong[:5])
                await writer.drain()
                await asyncio.sleep(0)  # let the server read the first piece on its own
                writer.write(pong[5:])
            elif how == "with_a_message":
                writer.write(pong + client_frame(b'{"op": "ping", "id": 1}'))
            else:
                writer.write(pong + pong)
            await writer.drain()

            async def answered_by_the_server() -> None:
                while connection.pinging:
                    await asyncio.sleep(0.001)
            await wait_for(answered_by_the_server())
            answered += 1
        assert connection.round_trip > 0
        assert connection.lag(time.monotonic()) < 0.5
    finally:
        writer.close()
