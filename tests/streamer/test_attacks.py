"""The live server under attack: random and malformed frames from many connections, abrupt
resets mid-frame, and connection churn. A control client keeps streaming through all of it."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import random
import socket
import struct
import time
import tracemalloc

import numpy as np
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import wait_for, ws_url
from tests.streamer.protocol_check import event_problems


def garbage(rng: random.Random) -> str | bytes:
    """One frame of the kind an attacker or a broken client sends."""
    pick = rng.randrange(9)
    if pick == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))  # binary
    if pick == 1:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 100)))
    if pick == 2:
        return "x" * rng.choice([4097, 20_000, 60_000])  # over the message limit, under the frame
    if pick == 3:
        return '{"op": "subscribe", "sigma": NaN, "mu": Infinity, "seed": -1e999}'
    if pick == 4:
        return orjson.dumps({"op": rng.choice(["subscribe", "unsubscribe", "nope", 3]),
                             "sub": rng.randrange(-5, 5), "id": rng.randrange(-2**63, 2**63)}
                            ).decode()
    if pick == 5:
        return "[" * 10_000 + "]" * 10_000  # deep nesting
    if pick == 6:
        return json.dumps({"op": "subscribe", "interval": rng.choice([0.0, -1, 1e-9, 1e9]),
                             "periods": rng.choice([0, -3, 2**80]),
                             "history": rng.choice([-1, 10**6])})
    if pick == 7:
        return orjson.dumps({"op": "subscribe", "seed": rng.randrange(2**64), "t0": 1.0,
                             "fromSeq": 0}).decode()
    return '{"op": "subscribe", "symbol": "NOPE", "startPrice": 5}'


async def attacker(url: str, seed: int, frames: int, pace: float) -> list[str]:
    """Send garbage; return every problem found in the server's replies."""
    rng = random.Random(seed)
    problems: list[str] = []
    async with connect(url, max_size=None) as ws:
        for _ in range(frames):
            await ws.send(garbage(rng))
            await asyncio.sleep(pace)  # a steady attack, under the rate limit
        await ws.send('{"op": "ping", "id": "last"}')
        try:
            while True:
                events = orjson.loads(await wait_for(ws.recv(), 10))
                for event in events:
                    problems += event_problems(event)
                if any(e.get("id") == "last" for e in events):
                    break
        except ConnectionClosed:
            if ws.close_code not in (1008, 1009):  # flooding, frame too big: both fair
                problems.append(f"closed with {ws.close_code}")
    return problems


async def test_fuzzing_many_connections_disturbs_neither_the_server_nor_a_control_client(
        server, caplog):
    caplog.set_level(logging.WARNING)
    url = ws_url(server)
    async with connect(url, compression=None) as control:
        await control.send('{"op": "subscribe", "symbol": "BOLT"}')
        ack = orjson.loads(await wait_for(control.recv()))[0]
        attack = asyncio.gather(*(attacker(url, seed, 40, 0.03) for seed in range(20)),
                                attacker(url, 99, 300, 0.0))  # and one flood
        last, delays = ack["seq"], []
        while not attack.done():
            frame = await wait_for(control.recv())
            now = time.time()
            for event in orjson.loads(frame):
                assert event["type"] == "tick" and event["seq"] == last + 1, event
                last = event["seq"]
                delays.append(now - event["time"])
        problems = [p for found in await attack for p in found]
    assert problems == []
    assert len(delays) > 25  # BOLT ticks at 50 Hz through an attack of over a second
    assert np.percentile(delays, 99) < 0.25
    crashes = [r for r in caplog.records if r.name.startswith("streamer")
               and r.levelno >= logging.ERROR]
    assert crashes == []


async def wait_until_idle(server) -> None:
    async def idle():
        while server.health()["connections"] or server.health()["subscriptions"]:
            await asyncio.sleep(0.01)
    await wait_for(idle(), 20)


def reset_mid_frame(port: int) -> None:
    """Open a WebSocket, subscribe, send half a frame, then reset the TCP connection."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    sock.recv(4096)
    payload = b'{"op": "subscribe", "interval": 0.01}'
    sock.sendall(struct.pack("!BB", 0x81, 0x80 | len(payload)) + b"\0\0\0\0" + payload)
    sock.recv(4096)
    sock.sendall(struct.pack("!BB", 0x81, 0x80 | 100) + b"\0\0\0\0" + b'{"op": "su')
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST, not FIN


async def test_connections_reset_mid_frame_are_cleaned_up(server):
    for _ in range(50):
        await asyncio.to_thread(reset_mid_frame, server.port)
    await wait_until_idle(server)
    assert server.hub.streams == len(server.hub.symbols)


async def test_a_thousand_connect_disconnect_cycles_leave_nothing_behind(server):
    url = ws_url(server)

    async def cycle(i: int) -> None:
        async with connect(url, compression=None) as ws:
            await ws.send(orjson.dumps({"op": "subscribe", "interval": 0.05, "seed": i}).decode())
            await ws.send('{"op": "subscribe", "symbol": "ACME"}')
            await wait_for(ws.recv())

    async def cycles(count: int, start: int) -> None:
        for batch in range(start, start + count, 50):
            await asyncio.gather(*(cycle(i) for i in range(batch, batch + 50)))

    await cycles(200, 0)  # warm up: caches, pools, code paths
    await wait_until_idle(server)
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        await cycles(1000, 200)
        await wait_until_idle(server)
        gc.collect()  # connections hold reference cycles; count only what survives them
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert server.hub.streams == len(server.hub.symbols)
    assert server.io.closes[1000] >= 1200
    assert grown < 256 * 1024, f"{grown} bytes still held after 1000 cycles"
