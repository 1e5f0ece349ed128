"""Every benchmark scenario against this server and its peers, in one run, on one machine.

Servers, started one at a time and alternated at each load level so that whatever else the
machine does weighs on all of them alike:

* **this server** (`streamer serve --market bench/market.toml`);
* **naive**: the server most tutorials write (`bench/peers/naive_server.py`);
* **node ws**: a Node.js `ws` broadcast server (`bench/peers/node/server.js`), when `node` and
  its `ws` package are installed (`npm install --prefix bench/peers/node`);
* **flask poll**: the original Flask `/gbm` service polled at the streams' rate
  (`bench/peers/flask_gbm.py`, `bench/peers/poller.py`), at the first level of scenario A.

Scenarios, measured with the project's load tester (`clients.load`):

* **A**: 1,000 connections on shared 10 Hz symbols, 1 symbol each, then more symbols per
  connection, up to the highest load every server keeps at p99 < 50 ms, no gap, >= 99 % of the
  ticks delivered (the *maximum sustained* load);
* **B**: 100 connections x 100 private streams, interval 100 ms down to 10 ms;
* **P**: 1,000 connections with one private 1 Hz stream each (where every stream falling due
  at the same instant would make the last connection wait for a burst of 1,000 writes);
* **C**: memory per connection with 10,000 connections, and how long they take to open and
  subscribe, 200 in flight (`bench/memory.py`, with the C client `bench/storm.c`);
* **D**: the simulation alone (`bench/simulation_speed.py`) and `/gbm` with a million prices;
* **E**: compression: CPU and bytes per tick with and without `--compression deflate`
  (`bench/compression.py`).

Writes the tables between the markers in `docs/benchmarks.md` and a plot next to it.

    .venv/bin/python bench/compare.py            # about 15 minutes
    .venv/bin/python bench/compare.py --quick    # fewer levels and shorter holds

Before and after a change, in one run: ``--baseline DIR`` also measures the server of another
checkout (``git worktree add DIR <commit>``), as ``baseline``, in scenarios A and B; the tables
are then printed and saved to ``bench/out/compare-baseline.json``, and the docs are left as
they are.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "bench" / "peers"))

from clients.load import LoadSpec, ProtocolSubscriber, run_load  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks.png"
RESULTS = ROOT / "bench" / "out" / "compare.json"
BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"
P99_LIMIT = 0.050
COLORS = {"this server": "tab:red", "node ws": "tab:green", "naive": "tab:orange",
          "flask poll": "tab:blue"}
SYMBOLS = tuple(f"S{i:02d}" for i in range(64))
CLK_TCK = os.sysconf("SC_CLK_TCK")

PY = sys.executable
SERVERS = {
    "this server": [PY, "-m", "streamer", "serve", "--port", "0", "--log-level", "warning",
                    "--market", str(ROOT / "bench" / "market.toml")],
    "naive": [PY, str(ROOT / "bench" / "peers" / "naive_server.py"), "--port", "0"],
    "node ws": ["node", str(ROOT / "bench" / "peers" / "node" / "server.js"), "--port", "0"],
}


@dataclass
class Point:
    server: str
    scenario: str
    offered: float
    delivered: float = 0.0
    p50: float = math.nan
    p99: float = math.nan
    gaps: int = 0
    server_cpu: float = math.nan
    tester_saturated: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def sustained(self) -> bool:
        return (self.p99 < P99_LIMIT and self.gaps == 0
                and self.delivered >= 0.99 * self.offered)


class CpuSampler(threading.Thread):
    """Samples a process's CPU seconds, so the hold's share can be read afterwards."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop = pid, threading.Event()
        self.samples: list[tuple[float, float]] = []  # (time, CPU seconds used so far)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return
            self.samples.append((time.time(), (int(fields[11]) + int(fields[12])) / CLK_TCK))
            self.stop.wait(0.25)

    def share(self, start: float, end: float) -> float:
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return math.nan
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


#: Where each server is started from (``baseline``: another checkout's tree).
CWD: dict[str, Path] = {}


def start(command: list[str], cwd: Path = ROOT) -> tuple[subprocess.Popen[str], str]:
    """Start a server; return it and the first URL of its banner line."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=cwd)
    assert proc.stdout is not None  # piped
    line = proc.stdout.readline()
    match = re.search(r"(?:ws|http)://\S+", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"{command[1]} did not start: {line!r}")
    return proc, match.group(0)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def measure(server: str, scenario: str, connections: int, subscriber: ProtocolSubscriber,
            subscriptions: int, offered: float, duration: float) -> Point:
    proc, url = start(SERVERS[server], CWD.get(server, ROOT))
    sampler = CpuSampler(proc.pid)
    sampler.start()
    point = Point(server, scenario, offered)
    try:
        summary = run_load(LoadSpec(
            url=url, connections=connections, subscriptions=subscriptions, duration=duration,
            ramp_rate=1000.0, workers=2, subscriber=subscriber,
            unsubscribe_at_end=server in ("this server", "baseline"), subscribe_burst=1000,
            subscribe_rate=500.0, close_timeout=2.0))
        point.delivered = summary.value("ticks_received", "rate") or 0.0
        point.p50 = summary.value("tick_delay", "p50") or math.nan
        point.p99 = summary.value("tick_delay", "p99") or math.nan
        point.gaps = int(summary.value("seq_gaps", "count") or 0)
        point.tester_saturated = summary.saturated
        point.server_cpu = sampler.share(*summary.hold)
        point.notes = list(summary.warnings)
    except Exception as exc:  # a server that fell over is a result, not a crash of the run
        point.notes.append(f"run failed: {exc}")
    finally:
        sampler.stop.set()
        stop(proc)
    print(f"  {scenario} {server:12} offered {offered:>10,.0f}/s  delivered "
          f"{point.delivered:>10,.0f}/s  p99 {point.p99 * 1e3:8.1f} ms  gaps {point.gaps}  "
          f"server CPU {point.server_cpu:5.0%}{'  tester saturated' if point.tester_saturated else ''}"
          f"{'  ok' if point.sustained else ''}", flush=True)
    return point


def flask_point(duration: float) -> Point:
    from poller import poll_load
    proc, url = start([PY, str(ROOT / "bench" / "peers" / "flask_gbm.py"), "--port", "0"])
    sampler = CpuSampler(proc.pid)
    sampler.start()
    match = re.search(r":(\d+)/", url)
    assert match is not None, url  # start() found the banner's URL, which has a port
    port = int(match[1])
    begin = time.time()
    try:
        result = poll_load("127.0.0.1", port, pollers=1000, interval=0.1, duration=duration)
    finally:
        sampler.stop.set()
        stop(proc)
    point = Point("flask poll", "A", 10_000.0, delivered=result["ticks_per_s"],
                  p50=result["p50"], p99=result["p99"],
                  server_cpu=sampler.share(begin + 2, time.time()))
    if result["failures"]:
        point.notes.append(f"{result['failures']:.0f} polls failed")
    print(f"  A flask poll   offered     10,000/s  delivered {point.delivered:>10,.0f}/s  p99 "
          f"{point.p99 * 1e3:8.1f} ms", flush=True)
    return point


def ramp(scenario: str, levels: list[float], servers: list[str], duration: float) -> list[Point]:
    points: list[Point] = []
    failed: dict[str, int] = dict.fromkeys(servers, 0)
    for n, level in enumerate(levels):
        order = servers[n % len(servers):] + servers[:n % len(servers)]  # alternate who goes first
        for server in order:
            if failed[server] >= 2:  # two levels past its limit: the curve has shown it
                continue
            if scenario == "A":
                assert isinstance(level, int)  # A's levels count symbols
                subscriber = ProtocolSubscriber(kind="shared", symbols=SYMBOLS[:level])
                point = measure(server, "A", 1000, subscriber, level, 1000 * level * 10.0,
                                duration)
            elif scenario == "P":  # the level is the stream's interval
                subscriber = ProtocolSubscriber(kind="private", interval=level)
                point = measure(server, "P", 1000, subscriber, 1, 1000 / level, duration)
            else:
                subscriber = ProtocolSubscriber(kind="private", interval=level)
                point = measure(server, "B", 100, subscriber, 100, 100 * 100 / level, duration)
            points.append(point)
            failed[server] += not point.sustained
    return points


def run_script(args: list[str]) -> str:
    return subprocess.run([PY, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=1800).stdout


def plot(points: list[Point]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for column, scenario in enumerate(("A", "B")):
        for server in sorted({p.server for p in points if p.scenario == scenario}):
            mine = sorted((p for p in points if p.scenario == scenario and p.server == server),
                          key=lambda p: p.offered)
            x = [p.offered for p in mine]
            style = {"marker": "o", "label": server, "color": COLORS.get(server)}
            axes[0][column].plot(x, [p.delivered for p in mine], **style)
            axes[1][column].plot(x, [p.p99 * 1e3 for p in mine], **style)
        title = ("A: 1,000 connections, shared 10 Hz symbols" if scenario == "A"
                 else "B: 100 connections x 100 private streams")
        axes[0][column].set_title(title)
        axes[0][column].set_ylabel("ticks/s delivered")
        axes[1][column].set_ylabel("p99 delay (ms)")
        axes[1][column].axhline(P99_LIMIT * 1e3, color="grey", linestyle="--", linewidth=1)
        for row in (0, 1):
            axes[row][column].set_xscale("log")
            axes[row][column].set_xlabel("ticks/s offered")
            axes[row][column].grid(True, which="both", alpha=0.3)
        axes[1][column].set_yscale("log")
        axes[0][column].legend()
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)


def table(points: list[Point], scenario: str) -> list[str]:
    rows = ["| server | offered ticks/s | delivered ticks/s | p50 | p99 | gaps | server CPU | |",
            "|---|---:|---:|---:|---:|---:|---:|---|"]
    for p in sorted((p for p in points if p.scenario == scenario),
                    key=lambda p: (p.offered, p.server)):
        flags = ["sustained" if p.sustained else ""] + (["tester saturated"] if
                                                         p.tester_saturated else [])
        rows.append(f"| {p.server} | {p.offered:,.0f} | {p.delivered:,.0f} | "
                    f"{p.p50 * 1e3:.1f} ms | {p.p99 * 1e3:.1f} ms | {p.gaps} | "
                    f"{p.server_cpu:.0%} | {', '.join(f for f in flags if f)} |")
    return rows


def best(points: list[Point], scenario: str, server: str) -> float:
    return max((p.delivered for p in points if p.scenario == scenario and p.server == server
                and p.sustained), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer levels, shorter holds")
    parser.add_argument("--duration", type=float, default=None, help="hold per run (s)")
    parser.add_argument("--skip", default="",
                        help="comma-separated scenarios to skip: A,B,P,C,D,E")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="also measure the server of the checkout in DIR, as 'baseline' "
                             "(scenarios A and B; the docs are not rewritten)")
    parser.add_argument("--replot", action="store_true",
                        help="only rewrite the tables and plot from the last run's results")
    args = parser.parse_args()
    if args.replot:
        replot()
        return
    duration = args.duration or (4.0 if args.quick else 8.0)
    skip = set(args.skip.upper().split(",")) - {""}
    servers = ["this server", "naive"]
    node_ready = shutil.which("node") and (ROOT / "bench/peers/node/node_modules/ws").exists()
    if node_ready:
        servers.insert(1, "node ws")
    if args.baseline is not None:  # `python -m streamer` run from the other tree is its server
        SERVERS["baseline"] = SERVERS["this server"]
        CWD["baseline"] = args.baseline.resolve()
        servers.insert(1, "baseline")
        skip |= {"C", "D", "E"}
        COLORS["baseline"] = "tab:purple"
    points: list[Point] = []
    if "A" not in skip:
        print("scenario A", flush=True)
        levels: list[float] = [1, 5, 20] if args.quick else [1, 2, 5, 10, 20, 50]
        points += ramp("A", levels, servers, duration)
        points.append(flask_point(duration))
    if "B" not in skip:
        print("scenario B", flush=True)
        levels = [0.1, 0.02, 0.01] if args.quick else [0.1, 0.05, 0.02, 0.01]
        points += ramp("B", levels, servers, duration)
    if "P" not in skip:
        print("scenario P", flush=True)
        points += ramp("P", [1.0, 1.0], servers, duration)  # twice, alternated
    memory = "" if "C" in skip else run_script(
        ["bench/memory.py", "--connections", "2000" if args.quick else "10000", "--servers",
         "this server,2 workers,node ws" if node_ready else "this server,2 workers,naive"])
    compression = "" if "E" in skip else run_script(
        ["bench/compression.py", "--hold", "5" if args.quick else "10", "--rounds",
         "1" if args.quick else "2"])
    simulation = "" if "D" in skip else run_script(["bench/simulation_speed.py"])
    gbm = "" if "D" in skip else run_script(["bench/gbm_batch.py", "--periods", "1000000"])
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    if args.baseline is not None:
        saved = [p.__dict__ for p in points]
        (ROOT / "bench" / "out" / "compare-baseline.json").write_text(json.dumps(
            {"points": saved, "baseline": str(args.baseline), "duration": duration}, indent=1))
        for scenario in ("A", "B", "P"):
            print("\n".join(table(points, scenario)))
        return
    RESULTS.write_text(json.dumps({"points": [p.__dict__ for p in points], "memory": memory,
                                   "compression": compression, "finished": time.time(),
                                   "simulation": simulation, "gbm": gbm, "servers": servers,
                                   "duration": duration, "quick": args.quick}, indent=1))
    publish(points, memory, simulation, gbm, servers, duration, args.quick, time.time(),
            compression)


def publish(points: list[Point], memory: str, simulation: str, gbm: str, servers: list[str],
            duration: float, quick: bool, finished: float, compression: str = "") -> None:
    if points:
        plot(points)
    write(points, memory, simulation, gbm, servers, duration, quick, finished, compression)


def replot() -> None:
    """Rewrite the tables and the plot from the last run's results (bench/out)."""
    saved = json.loads(RESULTS.read_text())
    points = [Point(**dict(p.items())) for p in saved["points"]]
    publish(points, saved["memory"], saved["simulation"], saved["gbm"], saved["servers"],
            saved["duration"], saved["quick"], saved["finished"], saved.get("compression", ""))


def write(points: list[Point], memory: str, simulation: str, gbm: str, servers: list[str],
          duration: float, quick: bool, finished: float, compression: str = "") -> None:
    versions = {name: _version(name) for name in ("websockets", "numpy", "orjson")}
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("node") else "absent"
    lines = [BEGIN, "",
             f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(finished))} on "
             f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
             f"Python {platform.python_version()}, " +
             ", ".join(f"{k} {v}" for k, v in versions.items()) + f", Node {node}. Command: "
             f"`.venv/bin/python bench/compare.py{' --quick' if quick else ''}`; each run "
             f"holds its load {duration:g} s after the ramp; load from 2 tester processes on "
             "the same machine.", ""]
    for scenario, title in (("A", "A: 1,000 connections on shared 10 Hz symbols"),
                            ("B", "B: 100 connections x 100 private streams"),
                            ("P", "P: 1,000 connections x one private 1 Hz stream each")):
        if not any(p.scenario == scenario for p in points):
            continue
        lines += [f"### {title}", "", *table(points, scenario), ""]
        if scenario == "P":
            p99s = {server: [p.p99 for p in points if p.scenario == "P" and p.server == server]
                    for server in servers}
            lines += [f"- p99, this server / {peer}: "
                      f"{max(p99s['this server']) * 1e3:.1f} / {max(p99s[peer]) * 1e3:.1f} ms "
                      f"(worst of the runs) = **{max(p99s['this server']) / max(p99s[peer]):.2f}x**"
                      for peer in servers[1:] if p99s.get(peer) and p99s.get("this server")]
            lines.append("")
            continue
        ours = best(points, scenario, "this server")
        first = min((p.offered for p in points if p.scenario == scenario), default=0.0)
        for peer in servers[1:]:
            theirs = best(points, scenario, peer)
            ratio = (f"{ours / theirs:.1f}x" if theirs else
                     f"more than {ours / first:.0f}x: the peer sustained no level, not even the "
                     f"first ({first:,.0f} ticks/s)")
            lines.append(f"- maximum sustained ticks/s, this server / {peer}: {ours:,.0f} / "
                         f"{theirs:,.0f} = **{ratio}**")
        if scenario == "A" and "node ws" in servers:
            at = {p.server: p for p in points if p.scenario == "A" and p.offered == 10_000.0}
            if "this server" in at and "node ws" in at:
                lines.append(f"- p99 at 10,000 ticks/s, this server / node ws: "
                             f"{at['this server'].p99 * 1e3:.1f} / {at['node ws'].p99 * 1e3:.1f}"
                             f" ms = **{at['this server'].p99 / at['node ws'].p99:.2f}x**")
        lines.append("")
    for title, text in (("C: memory per connection and a reconnect storm", memory),
                        ("D: simulation alone", simulation),
                        ("D: /gbm with a million prices", gbm),
                        ("E: compression (CPU and bytes per tick)", compression)):
        if text.strip():
            lines += [f"### {title}", "", "```", text.strip(), "```", ""]
    if points:
        lines += [f"![delivered ticks/s and p99 delay against offered load]({PLOT.name})", ""]
    counted: Counter[str] = Counter(  # one line per kind of note, not per connection
        f"{p.server} ({p.scenario}, {p.offered:,.0f}/s): "
        f"{re.sub(r'worker [0-9]+: connection [0-9]+: ', '', note)}"
        for p in points for note in p.notes)
    notes = sorted(f"{note} ({n} connections)" if n > 1 else note
                   for note, n in counted.items())
    if notes:
        lines += ["Notes from the runs:", "", *[f"- {n}" for n in notes], ""]
    lines.append(END)
    text = DOC.read_text()
    if BEGIN in text:
        text = text[:text.index(BEGIN)] + "\n".join(lines) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n## Against the peers, all scenarios in one run\n\n" + \
            "\n".join(lines) + "\n"
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")


def _version(name: str) -> str:
    from importlib.metadata import version
    return version(name)


if __name__ == "__main__":
    main()
