"""Memory per connection: N idle-ish connections, each subscribed to a 1 Hz symbol.

For each server (this one, and the peers in the same run), the resident memory with no
connection is the baseline; then N connections are opened from a client process and each
subscribes to EVER (one tick a second); after a settling time the server's RSS is read again.
Memory per connection = (RSS with N - baseline) / N.

    .venv/bin/python bench/memory.py --connections 10000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import re
import subprocess
import sys
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from streamer.cli import raise_open_files_limit  # noqa: E402  (after the path is set)

SERVERS = {
    "this server": [sys.executable, "-m", "streamer", "serve", "--port", "0", "--log-level",
                    "warning"],
    "naive": [sys.executable, str(ROOT / "bench" / "peers" / "naive_server.py"), "--port", "0"],
    "node ws": ["node", str(ROOT / "bench" / "peers" / "node" / "server.js"), "--port", "0"],
}
SUBSCRIBE = {"naive": b'{"op": "subscribe", "symbol": "ACME"}'}  # naive knows two symbols


def found(pattern: str, text: str) -> str:
    """Group 1 of the first match of ``pattern``, which ``text`` must have."""
    match = re.search(pattern, text)
    assert match is not None, f"{pattern!r} not in {text[:200]!r}"
    return match[1]


def rss_kib(pid: int) -> int:
    return int(found(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()))


def clients(url: str, count: int, subscribe: bytes, ready: Event, done: Event) -> None:
    raise_open_files_limit(count)
    from rawws import connect

    async def main() -> None:
        opened = []
        for _ in range(count):
            client = await connect(url, lambda payload, now: None)
            client.send_text(subscribe)
            opened.append(client)
        ready.set()
        while not done.is_set():
            await asyncio.sleep(0.2)
        for client in opened:
            client.close()

    asyncio.run(main())


def measure(name: str, count: int, settle: float) -> dict[str, Any]:
    raise_open_files_limit(count)
    proc = subprocess.Popen(SERVERS[name], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None  # piped
        url = found(r"(ws://\S+/ws)", proc.stdout.readline())
        time.sleep(settle)
        before = rss_kib(proc.pid)
        ready, done = mp.Event(), mp.Event()
        subscribe = SUBSCRIBE.get(name, b'{"op": "subscribe", "symbol": "EVER"}')
        worker = mp.Process(target=clients, args=(url, count, subscribe, ready, done))
        started = time.time()
        worker.start()
        if not ready.wait(600):
            raise RuntimeError(f"{name}: connections not open after 600 s")
        opened = time.time() - started
        time.sleep(settle)
        after = rss_kib(proc.pid)
        done.set()
        worker.join(120)
    finally:
        proc.terminate()
        proc.wait(10)
    return {"server": name, "connections": count, "baseline_mib": before / 1024,
            "with_mib": after / 1024, "per_connection_kib": (after - before) / count,
            "open_seconds": opened}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--servers", default="this server,node ws,naive")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before reading RSS")
    args = parser.parse_args()
    rows = [measure(name, args.connections, args.settle) for name in args.servers.split(",")]
    for row in rows:
        print(f"{row['server']:12} {row['connections']:>6,} connections: RSS "
              f"{row['baseline_mib']:.1f} -> {row['with_mib']:.1f} MiB, "
              f"{row['per_connection_kib']:.1f} KiB per connection "
              f"(opened in {row['open_seconds']:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
