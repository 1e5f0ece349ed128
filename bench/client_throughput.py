"""How many ticks per second one Feed receives from one connection, against a bare loop.

Starts a server (``streamer serve``'s code on port 0 in a child process, with the operation
rate limit raised so that subscribing takes no time), then, in this one
client process and one after the other on the same load:

* baseline: websockets + orjson, nothing else: subscribe ``--streams`` private streams with
  ``--interval``, then read frames, parse them and count the ticks;
* feed: :class:`clients.feed.Feed` with the same subscriptions, read through one merge, so
  every tick is checked for order and handed to the application as a ``Tick``.

Each phase waits ``--warmup`` seconds, then measures ``--seconds``: ticks received per second,
and the client's CPU time per tick (``time.process_time``), from which ``capacity`` is the
rate one core could sustain at that cost. The offered load is ``streams / interval`` ticks per
second; a client that keeps up receives all of it, so compare the CPU cost and capacity.

Run: ``.venv/bin/python bench/client_throughput.py`` (about 25 s).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clients.feed import Feed  # noqa: E402  (after the path fix, for a run from a checkout)


@dataclass
class Result:
    name: str
    ticks: int
    seconds: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.ticks / self.seconds

    @property
    def cpu_per_tick_us(self) -> float:
        return self.cpu / max(self.ticks, 1) * 1e6

    @property
    def capacity(self) -> float:
        return self.ticks / self.cpu if self.cpu else float("inf")

    def line(self) -> str:
        return (f"{self.name:9s} {self.rate:11,.0f} ticks/s  cpu {self.cpu / self.seconds:5.1%}"
                f" of a core  {self.cpu_per_tick_us:5.2f} us/tick  capacity "
                f"{self.capacity:11,.0f} ticks/s")


class Window:
    """Counts ticks between ``warmup`` and ``warmup + seconds`` after the first tick."""

    def __init__(self, warmup: float, seconds: float) -> None:
        self.warmup, self.seconds = warmup, seconds
        self.start = self.end = 0.0
        self.cpu_start = 0.0
        self.ticks = 0
        self.phase = 0  # 0 warming up, 1 measuring, 2 done

    def check(self, now: float, counted: int) -> bool:
        """Called every few ticks with the running count; True when done."""
        if self.phase == 0:
            if not self.start:
                self.start = now
            elif now - self.start >= self.warmup:
                self.phase, self.start, self.ticks = 1, now, counted
                self.cpu_start = time.process_time()
        elif self.phase == 1 and now - self.start >= self.seconds:
            self.phase, self.end = 2, now
            self.cpu = time.process_time() - self.cpu_start
            self.ticks = counted - self.ticks
            return True
        return False


async def baseline(url: str, streams: int, interval: float, window: Window) -> Result:
    async with connect(url, compression=None, max_size=None) as ws:
        for i in range(streams):
            await ws.send(orjson.dumps({"op": "subscribe", "id": i, "seed": i + 1,
                                        "interval": interval}), text=True)
        acks = 0
        counted = 0
        total = 0.0
        loop = asyncio.get_running_loop()
        while True:
            for event in orjson.loads(await ws.recv(decode=False)):
                kind = event["type"]
                if kind == "tick":
                    counted += 1
                    total += event["price"]
                elif kind == "subscribed":
                    acks += 1
                elif kind == "error":
                    raise RuntimeError(f"server error: {event}")
            if acks == streams and window.check(loop.time(), counted):
                return Result("baseline", window.ticks, window.end - window.start, window.cpu)


async def feed(url: str, streams: int, interval: float, window: Window) -> Result:
    async with Feed(url, max_ops_per_second=None) as client:
        subs = [client.subscribe(seed=i + 1, interval=interval) for i in range(streams)]
        await asyncio.gather(*subs)
        counted = 0
        total = 0.0
        loop = asyncio.get_running_loop()
        async for tick in client.merge(*subs):
            counted += 1
            total += tick.price
            if not counted & 255 and window.check(loop.time(), counted):
                stats = [sub.stats for sub in subs]
                counts = {name: sum(getattr(st, name) for st in stats)
                          for name in ("overflows", "lagging", "refetches", "resumes", "lost")}
                print("feed events:", ", ".join(f"{k} {v}" for k, v in counts.items()))
                return Result("feed", window.ticks, window.end - window.start, window.cpu)
    raise RuntimeError("the merge ended early")


#: ``streamer serve`` with the operation rate limit raised, so that subscribing 1000 streams
#: takes no time (``serve`` has no flag for it; at the default 50 a second it takes 20 s).
LAUNCHER = """
import asyncio, logging, sys
from streamer.cli import serve
from streamer.config import ServerConfig
logging.basicConfig(level=logging.WARNING)
streams = int(sys.argv[1])
asyncio.run(serve(ServerConfig(port=0, max_subscriptions=max(streams, 1000),
                               max_ops_per_second=1e6, ops_burst=max(streams, 1000) * 2)))
"""


def start_server(streams: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(streams)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    match = re.search(r"(ws://\S+/ws)", banner)
    if match is None:
        proc.kill()
        raise SystemExit(f"server did not start: {banner!r}")
    return proc, match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000, help="private streams")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between ticks")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--url", help="use a running server instead of starting one")
    args = parser.parse_args()

    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.streams)
    try:
        offered = args.streams / args.interval
        print(f"server {url}: {args.streams} private streams every {args.interval} s on one "
              f"connection = {offered:,.0f} ticks/s offered; {args.seconds:g} s per phase")
        results = []
        for phase in (baseline, feed):
            result = asyncio.run(phase(url, args.streams, args.interval,
                                       Window(args.warmup, args.seconds)))
            print(result.line(), flush=True)
            results.append(result)
        base, ours = results
        print(f"ratio feed/baseline: rate {ours.rate / base.rate:.2f}, capacity "
              f"{ours.capacity / base.capacity:.2f} (cpu per tick x"
              f"{ours.cpu_per_tick_us / base.cpu_per_tick_us:.2f})")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
