"""The same bits on every CPU: the batch door and the bank give identical prices whether numpy
runs its AVX-512 kernels or not (``NPY_DISABLE_CPU_FEATURES=X86_V4``), each in its own
process. The test first checks that the setting changes numpy's own ``exp`` on this machine;
where it does not (a CPU without AVX-512) there is nothing to compare, and it says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import hashlib, json
import numpy as np
from simulation import StreamBank, GBMParams, HestonParams, MertonParams, OUParams
from streamer.batch import gbm_reply

def digest(data): return hashlib.sha256(data).hexdigest()

out = {}
x = np.random.default_rng(1).normal(0, 1, 100_000)
out["numpy exp"] = digest(np.exp(x).tobytes())
# the batch door, as a client sees it: the body of GET /gbm (a demo symbol's kind of path)
status, body = gbm_reply("periods=1000000&startPrice=101&mu=0.07&sigma=0.12&delta=0.00167"
                         "&seed=5", 1_000_000)
out["/gbm"] = (status, digest(body))
models = [GBMParams(70.0, 0.05, 0.3, 1.0), MertonParams(70.0, 0.05, 0.2, 1.0, 20.0, -0.05, 0.1),
          HestonParams(70.0, 0.05, 1.0, 0.04, 2.0, 0.05, 0.6, -0.7),
          HestonParams(70.0, 0.0, 30.0, 0.01, 0.5, 0.04, 1.5, 0.9),
          OUParams(70.0, 0.3, 1.0, 5.0, 80.0)]
bank = StreamBank()
slots = np.array([bank.add(m, seed, 0)[0] for m in models for seed in range(40)])
prices, vols = [], []
for _ in range(300):
    prices.append(bank.step(slots).copy())
    vols.append(bank.vol[slots].copy())
out["bank"] = digest(np.array(prices).tobytes() + np.array(vols).tobytes())
print(json.dumps(out))
"""


def probe(disabled: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    if disabled is not None:
        env["NPY_DISABLE_CPU_FEATURES"] = disabled
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=240, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_paths_are_the_same_bits_with_and_without_avx512_kernels() -> None:
    default, without = probe(None), probe("X86_V4")
    if default["numpy exp"] == without["numpy exp"]:
        pytest.skip("numpy's exp is the same with and without X86_V4 here (no AVX-512): "
                    "nothing to compare")
    assert default["/gbm"] == without["/gbm"]
    assert default["/gbm"][0] == 200  # type: ignore[index]
    assert default["bank"] == without["bank"]
