"""Simulation alone: nanoseconds per stream-step of every model, and paths of a million prices.

Each figure is compared in the same run with a baseline:

* stepping N streams of each model: ``StreamBank.step`` over all slots (vectorised, each
  stream with its own seeded generator), against GBM's in the same run (the models' runs
  alternate, best of ``--rounds``), and GBM against a Python loop that steps each stream
  with ``random.gauss`` and ``math.exp``, the way tutorial code does it;
* a path of one million prices of each model: ``simulation.path``, against GBM's and
  against the same Python loop.

    .venv/bin/python bench/simulation_speed.py [--rounds 5]
    .venv/bin/python bench/simulation_speed.py --baseline DIR   # GBM here and in DIR, alternated

``--baseline`` measures only GBM, in this tree and in another checkout (``git worktree add
DIR COMMIT``), alternated in one run: how the simulation's own speed moved between commits.
"""

from __future__ import annotations

import argparse
import math
import random
import subprocess
import sys
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from simulation import GBMParams, HestonParams, MertonParams, ModelParams, OUParams, StreamBank, path

ROOT = Path(__file__).resolve().parent.parent

PARAMS = GBMParams(70.0, 0.05, 0.3, 1.0)
#: One of each model, with the demo market's kind of numbers.
MODELS: dict[str, ModelParams] = {
    "gbm": PARAMS,
    "merton": MertonParams(70.0, 0.05, 0.2, 1.0, 20.0, -0.05, 0.1),
    "heston": HestonParams(70.0, 0.05, 1.0, 0.04, 2.0, 0.05, 0.6, -0.7),
    "ou": OUParams(70.0, 0.3, 1.0, 5.0, 80.0),
}


def best_of(runs: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return min(timings)


def bank_ns_per_step(params: ModelParams, streams: int, steps: int) -> float:
    """One run: ``steps`` steps of ``streams`` streams (a multiple of 128 steps, so that
    each stream draws its blocks as often as in a long run)."""
    bank = StreamBank(capacity=streams)
    for seed in range(streams):
        bank.add(params, seed)
    slots = np.arange(streams)

    def work() -> None:
        for _ in range(steps):
            bank.step(slots)
    return best_of(1, work) / (streams * steps) * 1e9


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


#: GBM's figures in a given tree, printed as three numbers (run in a fresh interpreter there).
_GBM_IN_TREE = """
import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
from simulation import GBMParams, StreamBank, path
p, out = GBMParams(70.0, 0.05, 0.3, 1.0), []
for streams, steps in ((1000, 1024), (100000, 128)):
    bank = StreamBank(capacity=streams)
    for seed in range(streams):
        bank.add(p, seed)
    slots = np.arange(streams)
    start = time.perf_counter()
    for _ in range(steps):
        bank.step(slots)
    out.append((time.perf_counter() - start) / streams / steps * 1e9)
start = time.perf_counter()
path(p, 7, 1_000_000)
out.append((time.perf_counter() - start) * 1e3)
print(*out)
"""


def against_baseline(baseline: Path, rounds: int) -> None:
    trees = {"this tree": ROOT, "baseline": baseline.resolve()}
    best: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, tree in trees.items():
            done = subprocess.run([sys.executable, "-c", _GBM_IN_TREE, str(tree)], check=True,
                                  capture_output=True, text=True)
            figures = [float(x) for x in done.stdout.split()]
            best[name] = [min(a, b) for a, b in zip(best.get(name, figures), figures)]
    for name, (small, large, one_path) in best.items():
        print(f"gbm, {name:9}: 1,000 streams {small:6.1f} ns per stream-step, 100,000 streams "
              f"{large:6.1f} ns, a path of 1,000,000 prices {one_path:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each model, alternated")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="GBM only, here and in the checkout in DIR, alternated")
    args = parser.parse_args()
    if args.baseline is not None:
        against_baseline(args.baseline, args.rounds)
        return
    for streams, steps in ((1_000, 1_024), (100_000, 128)):
        best = dict.fromkeys(MODELS, math.inf)
        for _ in range(args.rounds):
            for name, params in MODELS.items():
                best[name] = min(best[name], bank_ns_per_step(params, streams, steps))
        loop = python_ns_per_step(streams, max(steps // 10, 4))
        gbm = best["gbm"]
        print(f"{streams:>7,} streams: gbm {gbm:6.1f} ns per stream-step vectorised, "
              f"{loop:6.1f} ns in a Python loop ({loop / gbm:.0f}x)")
        for name in list(MODELS)[1:]:
            print(f"{streams:>7,} streams: {name:6} {best[name]:6.1f} ns per stream-step, "
                  f"{best[name] / gbm:.2f}x gbm")
    def one_path(params: ModelParams) -> float:
        return best_of(1, lambda: path(params, 7, 1_000_000))

    times = {name: statistics.median(one_path(p) for _ in range(3))
             for name, p in MODELS.items()}
    loop = best_of(1, lambda: python_path(1_000_000))
    print(f"path of 1,000,000 prices: gbm {times['gbm'] * 1e3:.1f} ms with numpy, "
          f"{loop * 1e3:.0f} ms in a Python loop ({loop / times['gbm']:.0f}x)")
    for name in list(MODELS)[1:]:
        print(f"path of 1,000,000 prices: {name} {times[name] * 1e3:.1f} ms, "
              f"{times[name] / times['gbm']:.1f}x gbm")


if __name__ == "__main__":
    main()
