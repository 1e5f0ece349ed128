"""The client the original Flask service needs: poll ``GET /gbm`` at the stream's rate.

Each poller asks for a two-price path once per interval on an absolute schedule (as a stream
would tick) and takes the last price as its new tick; the tick's delay is the response's
arrival minus the instant the poll was due. A poll that is still running when the next one is
due makes that one late, as it would in a client that waits for each answer.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import time
from multiprocessing.queues import Queue

import numpy as np

QUERY = b"/gbm?periods=2&startPrice=70.0&mu=0.05&sigma=0.30&delta=1.0"


async def poll_once(host: str, port: int) -> bool:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"GET " + QUERY + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = await reader.read()
        return response.startswith(b"HTTP/1.1 200") and b'"result"' in response
    finally:
        writer.close()


async def poller(host: str, port: int, interval: float, begin: float, end: float,
                 delays: list[float], failures: list[int]) -> None:
    k = math.ceil((begin - time.time()) / interval) if begin > time.time() else 0
    t0 = time.time()
    while True:
        due = t0 + k * interval
        if due >= end:
            return
        await asyncio.sleep(max(0.0, due - time.time()))
        try:
            ok = await asyncio.wait_for(poll_once(host, port), 10)
        except (OSError, TimeoutError):
            ok = False
        now = time.time()
        if due >= begin:
            if ok:
                delays.append(now - due)
            else:
                failures[0] += 1
        k = max(k + 1, math.floor((now - t0) / interval) + 1)  # skip polls already missed


def _worker(host: str, port: int, count: int, interval: float, begin: float, end: float,
            out: Queue[tuple[np.ndarray, int]]) -> None:
    delays: list[float] = []
    failures = [0]

    async def main() -> None:
        await asyncio.gather(*(poller(host, port, interval, begin, end, delays, failures)
                               for _ in range(count)))
    asyncio.run(main())
    out.put((np.array(delays), failures[0]))


def poll_load(host: str, port: int, pollers: int, interval: float, duration: float,
              workers: int = 2, warmup: float = 2.0) -> dict[str, float]:
    """Run ``pollers`` pollers for ``duration`` s after ``warmup``; ticks/s and delays."""
    begin = time.time() + warmup
    end = begin + duration
    out: Queue[tuple[np.ndarray, int]] = mp.Queue()
    shares = [pollers // workers + (i < pollers % workers) for i in range(workers)]
    procs = [mp.Process(target=_worker, args=(host, port, n, interval, begin, end, out))
             for n in shares if n]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=duration + warmup + 60) for _ in procs]
    for proc in procs:
        proc.join()
    delays = np.concatenate([r[0] for r in results])
    return {"ticks_per_s": len(delays) / duration,
            "p50": float(np.percentile(delays, 50)) if delays.size else math.nan,
            "p99": float(np.percentile(delays, 99)) if delays.size else math.nan,
            "failures": float(sum(r[1] for r in results))}
