"""Memory per connection and a reconnect storm, against the peers in one run.

For each server (this one and the peers; alternated, ``--rounds`` times), the resident memory
with no connection is the baseline. Then the C client ``bench/storm.c`` (compiled on first
use) opens N connections, at most 200 in flight, each subscribing to EVER (one tick a
second) once its handshake is done: *open* is how long until every one of them has its
subscribe's reply, as after a restart when every dashboard reconnects at once. After a
settling time the server's RSS is read again: memory per connection = (RSS with N -
baseline) / N. A server's RSS includes its workers' (``2 workers``: ``--workers 2``).

    .venv/bin/python bench/memory.py                       # 10,000 connections, two rounds
    .venv/bin/python bench/memory.py --connections 5000 --servers "this server,node ws"
    .venv/bin/python bench/memory.py --servers "this server,2 workers,node ws"
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

SERVERS = {
    "this server": [sys.executable, "-m", "streamer", "serve", "--port", "0", "--log-level",
                    "warning"],
    "naive": [sys.executable, str(ROOT / "bench" / "peers" / "naive_server.py"), "--port", "0"],
    "node ws": ["node", str(ROOT / "bench" / "peers" / "node" / "server.js"), "--port", "0"],
}
#: The same server as two processes sharing the port, as on a two-core machine.
SERVERS["2 workers"] = SERVERS["this server"] + ["--workers", "2"]
SUBSCRIBE = {"naive": '{"op": "subscribe", "symbol": "ACME"}'}  # naive knows two symbols
STORM_SOURCE = ROOT / "bench" / "storm.c"
STORM = ROOT / "bench" / "out" / "storm"
IN_FLIGHT = 200


def storm_binary() -> Path:
    """The storm client, compiled if it is missing or older than its source."""
    if not STORM.exists() or STORM.stat().st_mtime < STORM_SOURCE.stat().st_mtime:
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            raise SystemExit("bench/memory.py needs a C compiler (cc) for bench/storm.c")
        STORM.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([compiler, "-O2", "-o", str(STORM), str(STORM_SOURCE)], check=True)
    return STORM


def found(pattern: str, text: str) -> str:
    """Group 1 of the first match of ``pattern``, which ``text`` must have."""
    match = re.search(pattern, text)
    assert match is not None, f"{pattern!r} not in {text[:200]!r}"
    return match[1]


def rss_kib(pid: int) -> int:
    """The resident memory of a process and of all its descendants (a server's workers)."""
    proc = Path(f"/proc/{pid}")
    total = int(found(r"VmRSS:\s+(\d+)", (proc / "status").read_text()))
    for task in (proc / "task").iterdir():
        for child in (task / "children").read_text().split():
            total += rss_kib(int(child))
    return total


def measure(name: str, count: int, settle: float, cwd: Path = ROOT) -> dict[str, Any]:
    """One server: its RSS before and after ``count`` connections, and how long the storm
    took to open and subscribe them all. (``python -m streamer`` run in another checkout's
    tree is that checkout's server.)"""
    command = SERVERS["this server" if name == "baseline" else name]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=cwd)
    try:
        assert proc.stdout is not None  # piped
        port = int(found(r"ws://[^:\s]+:(\d+)/ws", proc.stdout.readline()))
        time.sleep(settle)
        before = rss_kib(proc.pid)
        subscribe = SUBSCRIBE.get(name, '{"op": "subscribe", "symbol": "EVER"}')
        storm = subprocess.Popen([str(storm_binary()), str(port), str(count), str(IN_FLIGHT),
                                  subscribe], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
        try:
            assert storm.stdout is not None
            opened = json.loads(storm.stdout.readline() or "{}")
            if opened.get("connections") != count:
                raise RuntimeError(f"{name}: the storm opened {opened}")
            time.sleep(settle)
            after = rss_kib(proc.pid)
        finally:
            assert storm.stdin is not None
            storm.stdin.close()  # the storm closes its connections and exits
            storm.wait(60)
    finally:
        proc.terminate()
        proc.wait(10)
    return {"server": name, "connections": count, "baseline_mib": before / 1024,
            "with_mib": after / 1024, "per_connection_kib": (after - before) / count,
            "open_seconds": opened["seconds"], "handshake_p99_ms": opened["handshake_p99_ms"]}


def line(row: dict[str, Any]) -> str:
    return (f"{row['server']:12} {row['connections']:>6,} connections: RSS "
            f"{row['baseline_mib']:.1f} -> {row['with_mib']:.1f} MiB, "
            f"{row['per_connection_kib']:.1f} KiB per connection; opened and subscribed in "
            f"{row['open_seconds']:.2f} s ({IN_FLIGHT} in flight, p99 "
            f"{row['handshake_p99_ms']:.0f} ms each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--servers", default="this server,node ws,naive")
    parser.add_argument("--rounds", type=int, default=2, help="times each server is measured")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before reading RSS")
    parser.add_argument("--baseline", type=Path, help="also measure the server of another "
                        "checkout (git worktree add DIR COMMIT), as 'baseline'")
    args = parser.parse_args()
    names = [n for n in args.servers.split(",") if n]
    if args.baseline is not None:
        names.append("baseline")
    for _ in range(args.rounds):
        for name in names:
            cwd = args.baseline.resolve() if name == "baseline" and args.baseline else ROOT
            print(line(measure(name, args.connections, args.settle, cwd)), flush=True)


if __name__ == "__main__":
    main()
