"""How long ``GET /gbm?periods=N`` takes over HTTP, against the numpy floor in the same run.

The floor is ``simulation.path()`` alone (draws, exp, cumprod) in this process; the ratio shows
what the HTTP door and JSON encoding add.

    .venv/bin/python bench/gbm_batch.py [--periods 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from simulation import GBMParams, path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--periods", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    proc = subprocess.Popen([sys.executable, "-m", "streamer", "serve", "--port", "0",
                             "--log-level", "warning"], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout is not None  # piped
        banner = proc.stdout.readline()
        match = re.search(r":(\d+)/ws", banner)
        assert match is not None, f"the server did not start: {banner!r}"
        port = match.group(1)
        url = (f"http://127.0.0.1:{port}/gbm?periods={args.periods}&startPrice=70&mu=0.05"
               f"&sigma=0.3&delta=1&seed=7")
        http, floor = [], []
        params = GBMParams(70.0, 0.05, 0.3, 1.0)
        for _ in range(args.repeat):
            start = time.perf_counter()
            with urllib.request.urlopen(url) as reply:
                size = len(reply.read())
            http.append(time.perf_counter() - start)
            start = time.perf_counter()
            path(params, 7, args.periods)
            floor.append(time.perf_counter() - start)
    finally:
        proc.terminate()
        proc.wait(10)
    h, f = statistics.median(http), statistics.median(floor)
    print(f"/gbm periods={args.periods:,}: median {h * 1e3:.0f} ms over HTTP ({size / 1e6:.1f} MB"
          f" of JSON); path() alone {f * 1e3:.0f} ms; HTTP+JSON / path() = {h / f:.1f}x")


if __name__ == "__main__":
    main()
