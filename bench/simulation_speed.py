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
    .venv/bin/python bench/simulation_speed.py --baseline DIR --models gbm,heston

``--baseline`` measures only the ``--models`` named (GBM by default), in this tree and in
another checkout (``git worktree add DIR COMMIT``), alternated in one run, each run stepping
every model's bank in turns: how the simulation's own speed moved between commits, and each
model's ratio to GBM with less of the shared machine's noise (best of ``3 x --rounds``).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import statistics
import time
from collections.abc import Callable
from dataclasses import fields
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


#: The figures of some models in a given tree, as JSON: every bank built once, then stepped
#: in turns, best of the repeats (run in a fresh interpreter there).
_IN_TREE = """
import json, sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
import simulation
from simulation import StreamBank, path
models, repeats, out = json.loads(sys.argv[2]), int(sys.argv[3]), {}
for streams, steps in ((1000, 256), (100000, 128)):
    banks, slots = {}, np.arange(streams)
    for name, (kind, fields) in models.items():
        banks[name] = StreamBank(capacity=streams)
        for seed in range(streams):
            banks[name].add(getattr(simulation, kind)(*fields), seed)
    for _ in range(repeats):
        for name, bank in banks.items():
            start = time.perf_counter()
            for _ in range(steps):
                bank.step(slots)
            took = (time.perf_counter() - start) / streams / steps * 1e9
            out[f"{name} {streams}"] = min(out.get(f"{name} {streams}", took), took)
    del banks
for name, (kind, fields) in models.items():
    start = time.perf_counter()
    path(getattr(simulation, kind)(*fields), 7, 1_000_000)
    out[f"{name} path"] = (time.perf_counter() - start) * 1e3
print(json.dumps(out))
"""


def against_baseline(baseline: Path, rounds: int, names: list[str]) -> None:
    """``names``' figures here and in ``baseline``, the trees alternated ``rounds`` times,
    each run stepping every model's bank in turns three times: the best of all."""
    trees = {"this tree": ROOT, "baseline": baseline.resolve()}
    models = {name: (type(MODELS[name]).__name__,
                     [getattr(MODELS[name], f.name) for f in fields(MODELS[name])])
              for name in names}
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for tree_name, tree in trees.items():
            done = subprocess.run([sys.executable, "-c", _IN_TREE, str(tree),
                                   json.dumps(models), "3"],
                                  check=True, capture_output=True, text=True)
            figures = json.loads(done.stdout)
            kept = best.setdefault(tree_name, figures)
            for key, value in figures.items():
                kept[key] = min(kept[key], value)
    for tree_name, figures in best.items():
        for name in names:
            small, large = figures[f"{name} 1000"], figures[f"{name} 100000"]
            ratios = "" if name == "gbm" or "gbm" not in names else (
                f" ({small / figures['gbm 1000']:.2f}x, "
                f"{large / figures['gbm 100000']:.2f}x gbm)")
            print(f"{name:6} {tree_name:9}: 1,000 streams {small:6.1f} ns per stream-step, "
                  f"100,000 streams {large:6.1f} ns{ratios}, a path of 1,000,000 prices "
                  f"{figures[f'{name} path']:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each model, alternated")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="--models only, here and in the checkout in DIR, alternated")
    parser.add_argument("--models", default="gbm", metavar="NAMES",
                        help="with --baseline: the models to measure, comma-separated "
                             "(default gbm; the baseline must have them)")
    args = parser.parse_args()
    if args.baseline is not None:
        names = args.models.split(",")
        unknown = sorted(set(names) - set(MODELS))
        if unknown:
            parser.error(f"--models: unknown {', '.join(unknown)} (known: {', '.join(MODELS)})")
        against_baseline(args.baseline, args.rounds, names)
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
