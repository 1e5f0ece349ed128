"""Replays go as fast as the client reads, in as many frames as that takes, and join the live
ticks without a gap or a repeat; prices are those of ``/gbm`` (private) or of the symbol."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from simulation import GBMParams, Market, SymbolSpec, path
from streamer.server import StreamServer
from tests.conftest import wait_for

NOW = time.time()
FAST = SymbolSpec("FAST", GBMParams(50.0, 0.05, 0.3, 0.0001), 0.01, 5, float(int(NOW) - 900))


@pytest.fixture
async def server(config):
    async with StreamServer(config, market=Market((FAST,))) as srv:
        yield srv


async def acked(ws, op_id: int) -> tuple[dict[str, Any], list[tuple[int, float]]]:
    """The ack of operation ``op_id``, and the ticks of its sub in the same frame."""
    while True:
        events = orjson.loads(await wait_for(ws.recv()))
        ack = next((e for e in events if e.get("id") == op_id), None)
        if ack is not None:
            return ack, [(e["seq"], e["price"]) for e in events
                         if e["type"] == "tick" and e["sub"] == ack["sub"]]


async def ticks_until(ws, sub: int, last_seq: int, got: list[tuple[int, float]],
                      ) -> tuple[list[tuple[int, float]], int]:
    """Every tick of ``sub`` up to ``last_seq`` (after ``got``), and how many frames."""
    frames = 0
    while not got or got[-1][0] < last_seq:
        frame = orjson.loads(await wait_for(ws.recv(), 10))
        frames += 1
        got = got + [(e["seq"], e["price"]) for e in frame
                     if e["type"] == "tick" and e["sub"] == sub]
    return got, frames


async def test_a_long_symbol_replay_comes_whole_over_many_frames_then_goes_live(server):
    async with connect(f"ws://127.0.0.1:{server.port}/ws", max_size=None) as ws:
        await ws.send('{"op": "subscribe", "id": 1, "symbol": "FAST"}')
        [ack] = orjson.loads(await wait_for(ws.recv()))
        seq = ack["seq"]
        await ws.send(orjson.dumps({"op": "subscribe", "id": 2, "symbol": "FAST",
                                    "fromSeq": seq - 60_000}).decode())
        ack2, first = await acked(ws, 2)
        got, frames = await ticks_until(ws, ack2["sub"], ack2["seq"] + 50, first)  # and live
    seqs = [s for s, _ in got]
    assert seqs == list(range(seq - 60_000, seqs[-1] + 1))  # no gap, no repeat, in order
    expected = path(FAST.params, FAST.seed, seqs[-1] + 1)
    assert [p for _, p in got] == expected[seqs[0]:].tolist()
    assert frames > 10  # in chunks as the client read, not one frame of megabytes


async def test_a_private_replay_holds_the_live_ticks_that_come_meanwhile(server):
    params = GBMParams(70.0, 0.05, 0.3, 1.0)
    t0 = float(int(time.time()) - 60)  # 60,000 ticks of 1 ms behind it, replayed from 0
    async with connect(f"ws://127.0.0.1:{server.port}/ws", max_size=None) as ws:
        await ws.send(orjson.dumps({"op": "subscribe", "id": 2, "interval": 0.001, "seed": 11,
                                    "t0": t0, "fromSeq": 0}).decode())
        resumed, first = await acked(ws, 2)
        got, frames = await ticks_until(ws, resumed["sub"], resumed["seq"] + 200, first)
    seqs = [s for s, _ in got]
    assert seqs == list(range(seqs[-1] + 1))
    assert [p for _, p in got] == path(params, 11, seqs[-1] + 1).tolist()
    assert resumed["seq"] >= 59_000 and frames > 10  # live ticks came during the replay
