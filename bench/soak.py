"""Soak: a server under a steady mixed load for minutes; memory must stay flat and the timer
must not fall further behind over time.

The load, all on loopback: 200 connections on shared symbols, 20 connections with 50 private
streams each at 10 Hz, a churn of 20 connections a second that subscribe and leave, and one
reader that never reads. Every ``--every`` seconds it samples the server's resident memory
(``/proc/PID/status``) and the mean schedule lateness over the last window (from ``/metrics``),
and at the end compares the last third of the run with the first third.

    .venv/bin/python bench/soak.py --minutes 5
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from rawws import connect  # noqa: E402

#: One sample: seconds since the start, RSS in MiB, mean lateness in ms, ticks received.
Sample = tuple[float, float, float, int]


def found(pattern: str, text: str, flags: int = 0) -> str:
    """Group 1 of the first match of ``pattern``, which ``text`` must have."""
    match = re.search(pattern, text, flags)
    assert match is not None, f"{pattern!r} not in {text[:200]!r}"
    return match[1]


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(found(r"VmRSS:\s+(\d+)", status)) / 1024


def lateness(port: int) -> tuple[float, float]:
    """(sum, count) of the schedule lateness histogram."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    total = float(found(r"^streamer_schedule_lateness_seconds_sum (\S+)", text, re.M))
    count = float(found(r"^streamer_schedule_lateness_seconds_count (\S+)", text, re.M))
    return total, count


async def load(url: str, port: int, seconds: float, every: float, pid: int) -> list[Sample]:
    received = {"ticks": 0}

    def on_message(payload: bytes, now: float) -> None:
        received["ticks"] += sum(e["type"] == "tick" for e in orjson.loads(payload))

    clients = []
    for i in range(200):
        client = await connect(url, on_message)
        client.send_text(orjson.dumps({"op": "subscribe", "symbol": ["ACME", "BOLT", "FLUX"][i % 3]}))
        clients.append(client)
    for i in range(20):
        client = await connect(url, on_message)
        for k in range(50):
            client.send_text(orjson.dumps({"op": "subscribe", "interval": 0.1, "seed": i * 50 + k}))
        clients.append(client)
    stalled = socket.create_connection(("127.0.0.1", port))  # a reader that never reads
    stalled.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")

    async def churn() -> None:
        n = 0
        while True:
            client = await connect(url, lambda payload, now: None)
            client.send_text(orjson.dumps({"op": "subscribe", "interval": 0.05, "seed": n}))
            client.send_text(b'{"op": "subscribe", "symbol": "DYNA", "history": 50}')
            await asyncio.sleep(0.05)
            client.close()
            n += 1

    churner = asyncio.create_task(churn())
    samples: list[Sample] = []
    start = time.time()
    previous = lateness(port)
    while time.time() - start < seconds:
        await asyncio.sleep(every)
        current = lateness(port)
        mean = (current[0] - previous[0]) / max(current[1] - previous[1], 1)
        previous = current
        samples.append((time.time() - start, rss_mib(pid), mean * 1e3, received["ticks"]))
        print(f"{samples[-1][0]:6.0f} s  RSS {samples[-1][1]:7.1f} MiB  mean lateness "
              f"{samples[-1][2]:6.2f} ms  ticks received {samples[-1][3]:,}", flush=True)
    churner.cancel()
    for client in clients:
        client.close()
    stalled.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args()
    proc = subprocess.Popen([sys.executable, "-m", "streamer", "serve", "--port", "0",
                             "--log-level", "warning"], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout is not None  # piped
        url = found(r"(ws://\S+/ws)", proc.stdout.readline())
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        samples = asyncio.run(load(url, port, args.minutes * 60, args.every, proc.pid))
    finally:
        proc.terminate()
        proc.wait(10)
    third = max(len(samples) // 3, 1)
    first, last = samples[:third], samples[-third:]

    def mean(rows: list[Sample], i: int) -> float:
        return sum(r[i] for r in rows) / len(rows)

    print(f"\nRSS: first third {mean(first, 1):.1f} MiB, last third {mean(last, 1):.1f} MiB "
          f"(ratio {mean(last, 1) / mean(first, 1):.3f})")
    print(f"lateness: first third {mean(first, 2):.2f} ms, last third {mean(last, 2):.2f} ms")


if __name__ == "__main__":
    main()
