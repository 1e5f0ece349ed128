"""What the live dashboard costs a browser: CPU and memory of headless Chromium showing 8
streams at 50 Hz, against an idle page, in one run.

    .venv/bin/python bench/dashboard_load.py               # 60 s a phase, about 3.5 minutes
    .venv/bin/python bench/dashboard_load.py --seconds 20 --json bench/out/dashboard.json

A child-process server serves a market of ``--streams`` symbols ticking every ``--interval``
seconds. One Chromium runs three phases in turn, each on a fresh page, each warmed up for
``--warmup`` seconds and then measured for ``--seconds``:

* ``blank``: about:blank, what the browser costs doing nothing;
* ``no charts``: the dashboard with its watch list (every symbol subscribed, sparklines), no
  chart open;
* ``N charts``: the dashboard opened at ``/?symbols=...`` with every symbol charted.

Figures: the page's main-thread busy time (CDP ``Performance.getMetrics`` TaskDuration, and its
script/layout/style parts) as a share of one core; the CPU of every Chromium process (from
/proc, so the compositor and GPU processes count too); the JS heap (used, and after a forced
garbage collection at the start and end of the phase, which shows whether it grows); the
browser's proportional set size; and the page's own counters (ticks and redraw frames per
second, delay p50/p99, gaps). Loopback only; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-dev-shm-usage"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: CDP Performance.getMetrics counters (cumulative seconds) -> the key of their share of a core
METRICS = {"TaskDuration": "main_thread_busy_pct", "ScriptDuration": "script_pct",
           "LayoutDuration": "layout_pct", "RecalcStyleDuration": "style_pct",
           "TaskOtherDuration": "other_pct", "ProcessTime": "renderer_cpu_pct"}


# --- the server ---------------------------------------------------------------------------


def write_market(folder: Path, streams: int, interval: float) -> Path:
    symbols = {f"LOAD{i + 1}": {"startPrice": 50.0 + 10 * i, "mu": 0.05, "sigma": 0.3 + 0.05 * i,
                                "delta": interval / 600, "interval": interval, "seed": 100 + i}
               for i in range(streams)}
    path = folder / "market.json"
    path.write_text(json.dumps({"t0": float(int(time.time()) - 120), "symbols": symbols}))
    return path


def start_server(market: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamer", "serve", "--port", "0", "--market", str(market),
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    match = re.search(r"ws://[^:]+:(\d+)/ws", banner)
    if match is None:
        proc.kill()
        raise SystemExit(f"server did not start: {banner!r}")
    return proc, int(match.group(1))


# --- processes ----------------------------------------------------------------------------


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (here: the Playwright driver and the browser it started)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid]
        found += children
        frontier += children
    return found


def chromium_processes() -> dict[int, str]:
    """pid -> kind (browser, renderer, gpu-process, utility, ...) of our Chromium."""
    out = {}
    for pid in descendants(os.getpid()):
        try:  # Chromium rewrites a child's title: its arguments may be one space-joined string
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").split()
        except OSError:
            continue
        if not args or "chrom" not in Path(args[0]).name:
            continue
        kinds = [arg[7:] for arg in args if arg.startswith("--type=")]
        out[pid] = kinds[0] if kinds else "browser"
    return out


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def pss_bytes(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    match = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) * 1024 if match else 0


def cpu_by_kind(procs: dict[int, str]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for pid, kind in procs.items():
        totals[kind] = totals.get(kind, 0.0) + cpu_seconds(pid)
    return totals


# --- one phase ----------------------------------------------------------------------------


async def metrics(cdp: Any) -> dict[str, float]:
    reply = await cdp.send("Performance.getMetrics")
    return {m["name"]: m["value"] for m in reply["metrics"]}


async def heap_after_gc(cdp: Any) -> float:
    await cdp.send("HeapProfiler.collectGarbage")
    used: float = (await cdp.send("Runtime.getHeapUsage"))["usedSize"]
    return used


async def phase(browser: Any, name: str, url: str | None, args: argparse.Namespace,
                server_pid: int) -> dict[str, Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(message: Any) -> None:
        if message.type == "error":
            errors.append(message.text)
    page.on("console", on_console)
    cdp = await context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    await cdp.send("HeapProfiler.enable")
    dashboard = url is not None
    await page.goto(url or "about:blank")
    if dashboard:
        await page.wait_for_function(
            "n => window.dashboard && dashboard.streams().filter(s => s.state === 'live')"
            ".length === n", arg=args.streams, timeout=30_000)
    await asyncio.sleep(args.warmup)  # a benchmark, not a test: steady state is the point

    heap_start = await heap_after_gc(cdp)
    procs = chromium_processes()
    cpu_start, server_start = cpu_by_kind(procs), cpu_seconds(server_pid)
    m_start = await metrics(cdp)
    perf_start = await page.evaluate("dashboard.perf()") if dashboard else None
    wall_start = time.monotonic()
    heap_samples = []
    deadline = wall_start + args.seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(args.sample, left))
        heap_samples.append((await metrics(cdp))["JSHeapUsedSize"])
    wall = time.monotonic() - wall_start
    m_end = await metrics(cdp)
    procs = chromium_processes()
    cpu_end, server_end = cpu_by_kind(procs), cpu_seconds(server_pid)
    perf_end = await page.evaluate("dashboard.perf()") if dashboard else None
    streams = await page.evaluate("dashboard.streams()") if dashboard else []
    heap_end = await heap_after_gc(cdp)
    pss = dict.fromkeys(set(procs.values()), 0)
    for pid, kind in procs.items():
        pss[kind] += pss_bytes(pid)

    result: dict[str, Any] = {
        "phase": name, "seconds": round(wall, 1),
        **{name: 100 * (m_end[key] - m_start[key]) / wall for key, name in METRICS.items()},
        "chromium_cpu_pct": 100 * sum(cpu_end.get(k, 0) - cpu_start.get(k, 0) for k in cpu_end)
        / wall,
        "gpu_cpu_pct": 100 * (cpu_end.get("gpu-process", 0) - cpu_start.get("gpu-process", 0))
        / wall,
        "server_cpu_pct": 100 * (server_end - server_start) / wall,
        "heap_after_gc_start_mib": heap_start / 2**20,
        "heap_after_gc_end_mib": heap_end / 2**20,
        "heap_used_max_mib": max(heap_samples) / 2**20,
        "heap_used_samples_mib": [round(h / 2**20, 2) for h in heap_samples],
        "dom_nodes": m_end["Nodes"],
        "chromium_pss_mib": sum(pss.values()) / 2**20,
        "renderer_pss_mib": pss.get("renderer", 0) / 2**20,
        "errors": errors,
    }
    if dashboard:
        assert perf_start is not None and perf_end is not None  # read on the dashboard
        live = [s for s in streams if s["p50"] is not None]
        result.update({
            "ticks_per_s": (perf_end["events_in"] - perf_start["events_in"]) / wall,
            "redraw_frames_per_s": (perf_end["frames"] - perf_start["frames"]) / wall,
            "set_data_per_s": (perf_end["setData"] - perf_start["setData"]) / wall,
            "delay_p50_ms": statistics.median(s["p50"] for s in live) if live else None,
            "delay_p99_ms": max(s["p99"] for s in live) if live else None,
            "gaps": sum(s["gaps"] for s in streams),
            "lagging": sum(s["lagging"] for s in streams),
            "charts": sum(s["shown"] for s in streams),
        })
    await context.close()
    return result


# --- report -------------------------------------------------------------------------------

ROWS = [
    ("main thread busy, % of a core", "main_thread_busy_pct", "{:.1f}"),
    ("  of which script", "script_pct", "{:.1f}"),
    ("  of which layout", "layout_pct", "{:.1f}"),
    ("  of which style", "style_pct", "{:.1f}"),
    ("  of which other (paint, canvas raster, commit)", "other_pct", "{:.1f}"),
    ("the page's renderer process, % of a core", "renderer_cpu_pct", "{:.1f}"),
    ("GPU/compositor process (software), % of a core", "gpu_cpu_pct", "{:.1f}"),
    ("all Chromium processes, % of a core", "chromium_cpu_pct", "{:.1f}"),
    ("server process, % of a core", "server_cpu_pct", "{:.1f}"),
    ("JS heap after GC, start (MiB)", "heap_after_gc_start_mib", "{:.2f}"),
    ("JS heap after GC, end (MiB)", "heap_after_gc_end_mib", "{:.2f}"),
    ("JS heap used, max sample (MiB)", "heap_used_max_mib", "{:.2f}"),
    ("Chromium PSS, all processes (MiB)", "chromium_pss_mib", "{:.0f}"),
    ("  renderer processes (MiB)", "renderer_pss_mib", "{:.0f}"),
    ("DOM nodes", "dom_nodes", "{:.0f}"),
    ("ticks received per second", "ticks_per_s", "{:.0f}"),
    ("redraw frames per second", "redraw_frames_per_s", "{:.1f}"),
    ("setData calls per second", "set_data_per_s", "{:.0f}"),
    ("delay p50 (median of streams, ms)", "delay_p50_ms", "{:.1f}"),
    ("delay p99 (worst stream, ms)", "delay_p99_ms", "{:.1f}"),
    ("gaps / lagging events", "gaps", "{}"),
]


def table(results: list[dict[str, Any]]) -> str:
    head = "| | " + " | ".join(r["phase"] for r in results) + " |"
    lines = [head, "|---" * (len(results) + 1) + "|"]
    for label, key, fmt in ROWS:
        cells = []
        for r in results:
            value = r.get(key)
            if key == "gaps" and value is not None:
                cells.append(f"{r['gaps']} / {r['lagging']}")
            else:
                cells.append("–" if value is None else fmt.format(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as folder:
        server, port = start_server(write_market(Path(folder), args.streams, args.interval))
        try:
            origin = f"http://127.0.0.1:{port}"
            symbols = ",".join(f"LOAD{i + 1}" for i in range(args.streams))
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=CHROMIUM_ARGS)
                results = []
                phases = {"blank": ("blank page", None), "watch": ("no charts", f"{origin}/"),
                          "charts": (f"{args.streams} charts", f"{origin}/?symbols={symbols}")}
                for name, url in (phases[p] for p in args.phases.split(",")):
                    print(f"{name}: {args.warmup:g} s warm-up + {args.seconds:g} s ...",
                          file=sys.stderr, flush=True)
                    results.append(await phase(browser, name, url, args, server.pid))
                await browser.close()
        finally:
            server.kill()
            server.wait()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured time first")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between heap samples")
    parser.add_argument("--streams", type=int, default=8, help="symbols, all charted")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between ticks")
    parser.add_argument("--phases", default="blank,watch,charts",
                        help="which phases, in order: blank, watch (no charts), charts")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(f"\n{args.streams} streams every {args.interval} s, {args.seconds:g} s a phase, "
          f"headless Chromium, {os.cpu_count()} cores\n")
    print(table(results))
    for r in results:
        if r["errors"]:
            print(f"\n{r['phase']}: browser errors: {r['errors']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
