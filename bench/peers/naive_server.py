"""The server most tutorials write, kept as a baseline: one asyncio task per subscription that
formats with ``json.dumps``, sends, then sleeps for the interval.

It speaks just enough of the protocol for the benchmarks (``subscribe`` to a symbol of the
demo market or to a private stream), with the same exact GBM step, and prints the same banner
as ``streamer serve`` so the benchmark starts both the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import signal
import time

from websockets.asyncio.server import ServerConnection, serve

SYMBOLS = {"ACME": (70.0, 0.05, 0.30, 0.1), "BOLT": (12.5, 0.12, 0.55, 0.05)}


async def stream(ws: ServerConnection, sub: int, price: float, mu: float, sigma: float, delta: float,
                 interval: float, seed: int) -> None:
    rng = random.Random(seed)
    dt = delta / 252
    seq = 0
    t0 = time.time()
    while True:
        await asyncio.sleep(interval)
        seq += 1
        price *= math.exp((mu - sigma**2 / 2) * dt + sigma * math.sqrt(dt) * rng.gauss(0, 1))
        # stamped with the instant the tick was meant for, as the protocol asks, so that the
        # benchmark's delay includes this loop's drift (each sleep overshoots a little)
        await ws.send(json.dumps([{"type": "tick", "sub": sub, "seq": seq, "price": price,
                                   "time": t0 + seq * interval}]))


async def handler(ws: ServerConnection) -> None:
    tasks: list[asyncio.Task[None]] = []
    try:
        async for message in ws:
            op = json.loads(message)
            sub = len(tasks) + 1
            if "symbol" in op:  # the demo symbols, or any other name at 10 Hz
                start, mu, sigma, interval = SYMBOLS.get(op["symbol"], (100.0, 0.05, 0.3, 0.1))
                delta, seed = interval / 600, 1
            else:
                start, mu, sigma = op.get("startPrice", 70.0), op.get("mu", 0.05), op.get("sigma", 0.3)
                delta, interval, seed = op.get("delta", 1.0), op.get("interval", 1.0), op.get("seed", 0)
            await ws.send(json.dumps([{"type": "subscribed", "id": op.get("id"), "sub": sub,
                                       "seq": 0, "price": start, "time": time.time()}]))
            tasks.append(asyncio.create_task(
                stream(ws, sub, start, mu, sigma, delta, interval, seed)))
    finally:
        for task in tasks:
            task.cancel()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    async with serve(handler, "127.0.0.1", args.port, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"naive: ws://127.0.0.1:{port}/ws", flush=True)
        stop = asyncio.get_running_loop().create_future()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
