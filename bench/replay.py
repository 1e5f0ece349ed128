"""Replay pacing: a whole day of a 50 Hz symbol (4,320,000 ticks) replayed to one client with
``pace: "asap"``, against a replay from the server's ring (``pace: "live"``, its 100,000
ticks) in the same run; and the server's resident memory during the long replay against
idle.

The server runs a market of one GBM symbol whose ``t0`` is a day back. The client reads as
fast as it can (one WebSocket connection, every frame decoded), counting ticks until the
replay's ``replayed``; the server's RSS is read every 0.2 s meanwhile.

    .venv/bin/python bench/replay.py [--hours 24]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import orjson
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 0.02


def rss_kib(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    assert match is not None
    return int(match[1])


async def replay(url: str, pid: int, fields: dict[str, object]) -> tuple[int, float, int]:
    """Ticks replayed, seconds, and the server's largest RSS (KiB) meanwhile."""
    peak = rss_kib(pid)
    async with connect(url, max_size=None) as ws:
        await ws.send(orjson.dumps({"op": "subscribe", "symbol": "DAY", **fields}).decode())
        started = sampled = time.perf_counter()
        events = orjson.loads(await ws.recv())
        ack = events[0]
        assert ack["type"] == "subscribed", ack
        last = ack["seq"]
        count = 0
        while True:
            count += sum(1 for event in events if event["type"] == "tick"
                         and event["seq"] <= last)
            if time.perf_counter() - sampled > 0.2:
                sampled = time.perf_counter()
                peak = max(peak, rss_kib(pid))
            if any(event["type"] == "replayed" for event in events) or (
                    fields.get("pace") != "asap" and events[-1].get("seq", -1) >= last):
                return count, time.perf_counter() - started, max(peak, rss_kib(pid))
            events = orjson.loads(await ws.recv())


async def slow_reader(url: str, pid: int, seconds: float) -> tuple[int, int]:
    """Ticks a client that reads a frame every 10 ms gets of the whole history in
    ``seconds``, and the server's largest RSS (KiB) meanwhile."""
    peak = rss_kib(pid)
    count = 0
    async with connect(url, max_size=None) as ws:
        await ws.send('{"op": "subscribe", "symbol": "DAY", "fromSeq": 0, "pace": "asap"}')
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            count += sum(1 for event in orjson.loads(await ws.recv()) if event["type"] == "tick")
            peak = max(peak, rss_kib(pid))
            await asyncio.sleep(0.01)
    return count, peak


async def current_seq(url: str) -> int:
    async with connect(url) as ws:
        await ws.send('{"op": "symbols"}')
        return int(orjson.loads(await ws.recv())[0]["symbols"][0]["seq"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="history of the symbol")
    args = parser.parse_args()
    work = Path(sys.argv[0]).resolve().parent / "out"
    work.mkdir(exist_ok=True)
    market = work / "replay-market.toml"
    t0 = float(int(time.time() - args.hours * 3600))
    market.write_text(f"t0 = {t0!r}\n[symbols.DAY]\nstartPrice = 100.0\nmu = 0.05\n"
                      f"sigma = 0.3\ndelta = 0.01\ninterval = {INTERVAL}\nseed = 1\n")
    proc = subprocess.Popen([sys.executable, "-m", "streamer", "serve", "--port", "0",
                             "--log-level", "warning", "--market", str(market)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        match = re.search(r"(ws://[^ ]+/ws)", proc.stdout.readline())
        assert match is not None, "the server did not start"
        url = match[1]
        time.sleep(1.0)
        idle = rss_kib(proc.pid)
        back = asyncio.run(current_seq(url)) - 99_000  # within the ring's 100,000
        ring, ring_s, ring_peak = asyncio.run(replay(url, proc.pid, {"fromSeq": back}))
        whole, whole_s, whole_peak = asyncio.run(replay(url, proc.pid,
                                                        {"fromSeq": 0, "pace": "asap"}))
        slow, slow_peak = asyncio.run(slow_reader(url, proc.pid, 5.0))
    finally:
        proc.terminate()
        proc.wait(15)
    print(f"from the ring (pace live): {ring:,} ticks in {ring_s:.2f} s, "
          f"{ring / ring_s:,.0f} ticks/s")
    print(f"a whole history (pace asap, made again): {whole:,} ticks in {whole_s:.1f} s, "
          f"{whole / whole_s:,.0f} ticks/s ({whole / whole_s / (ring / ring_s):.2f}x the ring's)")
    print(f"server RSS: idle {idle / 1024:.1f} MiB, during the ring's replay "
          f"{ring_peak / 1024:.1f} MiB, during the whole one {whole_peak / 1024:.1f} MiB "
          f"({whole_peak / idle:.2f}x idle)")
    print(f"a reader of a frame every 10 ms: {slow:,} ticks in 5 s, server RSS at most "
          f"{slow_peak / 1024:.1f} MiB ({slow_peak / idle:.2f}x idle)")


if __name__ == "__main__":
    main()
