"""Simulation alone: nanoseconds per stream-step, and /gbm's path of a million prices.

Each figure is compared in the same run with the way tutorial code does it:

* stepping N streams: ``StreamBank.step`` over all slots (vectorised, each stream with its own
  seeded generator) against a Python loop that steps each stream with ``random.gauss`` and
  ``math.exp``;
* a path of one million prices: ``simulation.path`` against the same Python loop.

    .venv/bin/python bench/simulation_speed.py
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable

import numpy as np

from simulation import GBMParams, StreamBank, path

PARAMS = GBMParams(70.0, 0.05, 0.3, 1.0)


def best_of(runs: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return min(timings)


def bank_ns_per_step(streams: int, steps: int) -> float:
    bank = StreamBank(capacity=streams)
    for seed in range(streams):
        bank.add(PARAMS, seed)
    slots = np.arange(streams)

    def work() -> None:
        for _ in range(steps):
            bank.step(slots)
    return best_of(3, work) / (streams * steps) * 1e9


def python_ns_per_step(streams: int, steps: int) -> float:
    drift, vol = PARAMS.drift, PARAMS.vol
    rngs = [random.Random(seed) for seed in range(streams)]
    prices = [PARAMS.start_price] * streams

    def work() -> None:
        for _ in range(steps):
            for i, rng in enumerate(rngs):
                prices[i] *= math.exp(drift + vol * rng.gauss(0.0, 1.0))
    return best_of(3, work) / (streams * steps) * 1e9


def python_path(periods: int) -> list[float]:
    rng = random.Random(7)
    drift, vol = PARAMS.drift, PARAMS.vol
    prices = [PARAMS.start_price]
    for _ in range(periods - 1):
        prices.append(prices[-1] * math.exp(drift + vol * rng.gauss(0.0, 1.0)))
    return prices


def main() -> None:
    for streams, steps in ((1_000, 2_000), (100_000, 40)):
        ours = bank_ns_per_step(streams, steps)
        loop = python_ns_per_step(streams, max(steps // 10, 4))
        print(f"{streams:>7,} streams: {ours:6.1f} ns per stream-step vectorised, "
              f"{loop:6.1f} ns in a Python loop ({loop / ours:.0f}x)")
    ours = statistics.median(best_of(1, lambda: path(PARAMS, 7, 1_000_000)) for _ in range(5))
    loop = best_of(1, lambda: python_path(1_000_000))
    print(f"path of 1,000,000 prices: {ours * 1e3:.1f} ms with numpy, {loop * 1e3:.0f} ms in a "
          f"Python loop ({loop / ours:.0f}x)")


if __name__ == "__main__":
    main()
