"""What ``--compression deflate`` costs and saves: server CPU, bytes and memory per tick with
and without it, in one run.

For each scenario, the server is started twice, alternately (``none``, ``deflate``, and again
for ``--rounds``), and read by raw clients in a separate process that offer
permessage-deflate in their handshake (as browsers do), subscribe, and read and drop every
byte (the cheapest reader, so that the server's work is what is measured). Over the hold, the
server's CPU is read from ``/proc/PID/stat`` and its bytes and ticks sent from ``/healthz``.

* ``shared``: 1,000 connections on one 10 Hz symbol: one tick per frame, too small to be
  worth compressing, so sent as they are;
* ``batched``: 100 connections x 100 private streams at 10 Hz: 100 ticks per frame;
* ``history``: 200 connections that each subscribe with 1,000 ticks of history every second
  (a dashboard's reconnect storm: large replies).

    .venv/bin/python bench/compression.py                  # about 2 minutes
    .venv/bin/python bench/compression.py --scenario batched --hold 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time
import urllib.request
from functools import partial
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer.cli import raise_open_files_limit  # noqa: E402  (after the path is set)

CLK_TCK = os.sysconf("SC_CLK_TCK")
#: name: (connections, the subscribes each sends, seconds between repeats or None)
SCENARIOS: dict[str, tuple[int, list[dict[str, Any]], float | None]] = {
    "shared": (1000, [{"op": "subscribe", "symbol": "ACME"}], None),
    "batched": (100, [{"op": "subscribe", "interval": 0.1, "seed": i} for i in range(100)], None),
    "history": (200, [{"op": "subscribe", "symbol": "ACME", "history": 1000}], 1.0),
}
HANDSHAKE = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             b"Sec-WebSocket-Version: 13\r\n"
             b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")


def masked_text(payload: bytes) -> bytes:
    """A client text frame (zero mask), uncompressed (RSV1 clear), as the extension allows."""
    size = len(payload)
    head = bytes((0x81, 0x80 | size)) if size < 126 else bytes((0x81, 0xFE)) + size.to_bytes(
        2, "big")
    return head + b"\0\0\0\0" + payload


class Drain(asyncio.Protocol):
    """Reads and drops every frame after the handshake, and answers pings (the server takes
    a reader that never answers for one that reads nothing)."""

    def __init__(self, opened: asyncio.Future[None]) -> None:
        self.opened = opened
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.opened.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            del buffer[:end + 4]
            self.opened.set_result(None)
        while len(buffer) >= 2:
            size, start = buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + size:
                return
            if buffer[0] & 0x0F == 0x9 and self.transport is not None:  # a ping: pong
                payload = bytes(buffer[start:start + size])
                self.transport.write(bytes((0x8A, 0x80 | size)) + b"\0\0\0\0" + payload)
            del buffer[:start + size]


def clients(port: int, scenario: str, ready: Event, done: Event) -> None:
    count, subscribes, repeat = SCENARIOS[scenario]
    raise_open_files_limit(count + 100)
    frames = [masked_text(json.dumps(s).encode()) for s in subscribes]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transports = []
        for _ in range(count):
            opened: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_connection(partial(Drain, opened),
                                                        "127.0.0.1", port)
            transport.write(HANDSHAKE)
            await opened
            transport.write(b"".join(frames))
            transports.append(transport)
        ready.set()
        while not done.is_set():
            await asyncio.sleep(repeat or 0.2)
            if repeat:
                for transport in transports:
                    transport.write(b"".join(frames))
        for transport in transports:
            transport.close()

    asyncio.run(main())


def health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
        result: dict[str, Any] = json.load(reply)
        return result


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    assert match is not None
    return int(match[1])


def measure(scenario: str, compression: str, hold: float) -> dict[str, Any]:
    count = SCENARIOS[scenario][0]
    raise_open_files_limit(count + 100)
    proc = subprocess.Popen([sys.executable, "-m", "streamer", "serve", "--port", "0",
                             "--log-level", "warning", "--compression", compression,
                             "--max-connections", str(count + 100)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        match = re.search(r"ws://[^:]+:(\d+)/ws", proc.stdout.readline())
        assert match is not None, "the server did not start"
        port = int(match[1])
        baseline = rss_kib(proc.pid)
        ready, done = mp.Event(), mp.Event()
        worker = mp.Process(target=clients, args=(port, scenario, ready, done))
        worker.start()
        if not ready.wait(300):
            raise RuntimeError("the clients did not connect")
        time.sleep(2.0)  # settle
        before, cpu0, t0 = health(port), cpu_seconds(proc.pid), time.monotonic()
        time.sleep(hold)
        after, cpu1, t1 = health(port), cpu_seconds(proc.pid), time.monotonic()
        rss = rss_kib(proc.pid)
        done.set()
        worker.join(60)
    finally:
        proc.terminate()
        proc.wait(10)
    ticks = after["ticks_sent"] - before["ticks_sent"]
    sent = after["bytes_sent"] - before["bytes_sent"]
    cpu = cpu1 - cpu0
    return {"scenario": scenario, "compression": compression, "connections": count,
            "compressed": after["compressed"], "ticks_per_second": ticks / (t1 - t0),
            "bytes_per_tick": sent / max(ticks, 1), "cpu_us_per_tick": cpu / max(ticks, 1) * 1e6,
            "cpu_share": cpu / (t1 - t0), "rss_kib_per_connection": (rss - baseline) / count,
            "conflated": after["ticks_conflated"] - before["ticks_conflated"]}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| scenario | compression | ticks/s | bytes per tick | server CPU | CPU per tick "
             "| memory per connection |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['scenario']} | {row['compression']} | "
                     f"{row['ticks_per_second']:,.0f} | {row['bytes_per_tick']:.1f} | "
                     f"{row['cpu_share']:.0%} | {row['cpu_us_per_tick']:.2f} µs | "
                     f"{row['rss_kib_per_connection']:.1f} KiB |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS),
                        help="repeatable; all of them by default")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--rounds", type=int, default=2, help="times each server is measured")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args()
    rows = []
    for scenario in args.scenario or list(SCENARIOS):
        for _ in range(args.rounds):
            for compression in ("none", "deflate"):
                row = measure(scenario, compression, args.hold)
                rows.append(row)
                print(f"{scenario:8} {compression:8} {row['ticks_per_second']:>9,.0f} ticks/s "
                      f"{row['bytes_per_tick']:6.1f} B/tick  CPU {row['cpu_share']:4.0%} "
                      f"{row['cpu_us_per_tick']:5.2f} µs/tick  "
                      f"{row['rss_kib_per_connection']:5.1f} KiB/conn  "
                      f"compressed {row['compressed']}", file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
