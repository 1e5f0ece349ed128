"""Fan-out benchmark: ticks per second one server process delivers, at what delay, for what CPU.

Scenarios (each at 10 Hz per stream):

* ``shared``:  1,000 connections, each subscribed to one shared symbol (ACME);
* ``private``: 100 connections, each with 100 private streams.

Each scenario runs against this server and, in the same run, against the naive baseline
(``bench/peers/naive_server.py``: a task per subscription, ``json.dumps``, ``sleep``), so the
figures that matter are ratios. The load comes from worker processes with plain websockets
clients; delay is the receipt time minus the tick's ``time``. Server CPU is read from
``/proc/PID/stat`` over the measured window.

    .venv/bin/python bench/fanout.py                 # both scenarios, both servers, 10 s each
    .venv/bin/python bench/fanout.py --scenario private --servers ours --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {  # name: (connections, subscriptions per connection, what to subscribe)
    "shared": (1000, 1, "symbol"),
    "private": (100, 100, "private"),
}
SERVERS = {
    "ours": [sys.executable, "-m", "streamer", "serve", "--port", "0", "--log-level", "warning"],
    "naive": [sys.executable, str(ROOT / "bench" / "peers" / "naive_server.py"), "--port", "0"],
}
CLK_TCK = os.sysconf("SC_CLK_TCK")
INTERVAL = float(os.environ.get("FANOUT_INTERVAL", "0.1"))  # private streams' interval (s)


def start_server(name: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(SERVERS[name], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    match = re.search(r"(ws://\S+/ws)", proc.stdout.readline())
    if not match:
        proc.kill()
        raise RuntimeError(f"{name} server did not start")
    return proc, match.group(1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Received(TypedDict):
    """What one worker's clients received in the measured window."""

    ticks: int
    frames: int
    delays: np.ndarray


def worker(url: str, connections: int, subs: int, kind: str, first: int, begin: float,
           end: float, out: Queue[Received]) -> None:
    out.put(asyncio.run(_worker(url, connections, subs, kind, first, begin, end)))


async def _worker(url: str, connections: int, subs: int, kind: str, first: int, begin: float,
                  end: float) -> Received:
    sys.path.insert(0, str(ROOT / "bench"))
    from rawws import CallbackClient, connect

    delays: list[np.ndarray] = []
    counts = {"ticks": 0, "frames": 0}

    def on_message(payload: bytes, now: float) -> None:
        if not begin <= now < end:
            return
        times = [e["time"] for e in orjson.loads(payload) if e["type"] == "tick"]
        if times:
            counts["frames"] += 1
            counts["ticks"] += len(times)
            delays.append(now - np.asarray(times))

    async def one(index: int) -> CallbackClient:
        client = await connect(url, on_message)
        for k in range(subs):
            if kind == "symbol":
                op = {"op": "subscribe", "id": k, "symbol": "ACME"}
            else:
                op = {"op": "subscribe", "id": k, "interval": INTERVAL, "seed": index * subs + k}
            client.send_text(orjson.dumps(op))
        return client

    clients = []
    for i in range(connections):  # a gentle ramp: the server's accept queue is finite
        clients.append(await one(first + i))
    await asyncio.sleep(max(0.0, end - time.time()))
    for client in clients:
        client.close()
    return {"ticks": counts["ticks"], "frames": counts["frames"],
            "delays": np.concatenate(delays) if delays else np.zeros(0)}


def run(server: str, scenario: str, duration: float, workers: int, warmup: float) -> dict[str, Any]:
    connections, subs, kind = SCENARIOS[scenario]
    proc, url = start_server(server)
    try:
        ramp = 2.0 + connections / 500  # time to connect and subscribe everyone
        begin = time.time() + ramp + warmup
        end = begin + duration
        out: Queue[Received] = mp.Queue()
        share = [connections // workers + (i < connections % workers) for i in range(workers)]
        firsts = np.cumsum([0, *share[:-1]])
        procs = [mp.Process(target=worker, args=(url, n, subs, kind, int(f), begin, end, out))
                 for n, f in zip(share, firsts)]
        for p in procs:
            p.start()
        time.sleep(max(0.0, begin - time.time()))
        cpu0 = cpu_seconds(proc.pid)
        time.sleep(max(0.0, end - time.time()))
        cpu1 = cpu_seconds(proc.pid)
        results = [out.get(timeout=60 + ramp) for _ in procs]
        for p in procs:
            p.join()
    finally:
        proc.terminate()
        proc.wait(10)
    delays = np.concatenate([r["delays"] for r in results])
    ticks = sum(r["ticks"] for r in results)
    expected = connections * subs * duration * (10 if kind == "symbol" else 1 / INTERVAL)
    return {
        "server": server, "scenario": scenario, "ticks_per_s": ticks / duration,
        "delivered": ticks / expected if expected else 0.0,
        "frames_per_s": sum(r["frames"] for r in results) / duration,
        "p50_ms": float(np.percentile(delays, 50) * 1e3) if delays.size else float("nan"),
        "p99_ms": float(np.percentile(delays, 99) * 1e3) if delays.size else float("nan"),
        "cpu": (cpu1 - cpu0) / duration,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--servers", default="ours,naive", help="comma-separated: ours, naive")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="client processes")
    args = parser.parse_args()
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    servers = args.servers.split(",")
    rows = []
    for scenario in scenarios:
        for server in servers:
            row = run(server, scenario, args.duration, args.workers, args.warmup)
            rows.append(row)
            print(f"{scenario:8} {server:6} {row['ticks_per_s']:>10,.0f} ticks/s "
                  f"({row['delivered']:.1%} of offered) {row['frames_per_s']:>8,.0f} frames/s  "
                  f"p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  "
                  f"server CPU {row['cpu']:.0%} of a core", flush=True)
    by = {(r["scenario"], r["server"]): r for r in rows}
    for scenario in scenarios:
        if (scenario, "ours") in by and (scenario, "naive") in by:
            ours, naive = by[(scenario, "ours")], by[(scenario, "naive")]
            cpu_per_tick = {name: r["cpu"] / max(r["ticks_per_s"], 1)
                            for name, r in (("ours", ours), ("naive", naive))}
            print(f"{scenario}: CPU per delivered tick, naive / ours = "
                  f"{cpu_per_tick['naive'] / cpu_per_tick['ours']:.1f}x; "
                  f"p99 naive / ours = {naive['p99_ms'] / ours['p99_ms']:.1f}x")


if __name__ == "__main__":
    main()
