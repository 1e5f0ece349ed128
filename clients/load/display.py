"""What a person sees: live progress with ``rich`` while the run goes (only on a terminal),
and the summary table at the end.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from clients.load.names import METRICS
from clients.load.runner import LiveStatus
from clients.load.summary import Summary
from clients.load.units import format_bytes, format_count, format_duration

#: Width of tables written to a file or a pipe, where rich cannot ask the terminal.
PLAIN_WIDTH = 100


def console_for(file: object = None, *, stderr: bool = False) -> Console:
    """A console that keeps colours and live updates to terminals."""
    console = Console(file=file, stderr=stderr, highlight=False)  # type: ignore[arg-type]
    if not console.is_terminal:
        console = Console(file=file, stderr=stderr, highlight=False,  # type: ignore[arg-type]
                          width=PLAIN_WIDTH, no_color=True)
    return console


class LiveProgress:
    """Live progress: a small table refreshed with every :class:`LiveStatus`. Does nothing
    when the console is not a terminal (or when ``enabled`` is false)."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled and console.is_terminal
        self._live: Live | None = None

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            self._live = Live(Text("starting workers..."), console=self.console,
                              refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(kind, error, trace)
            self._live = None

    def update(self, status: LiveStatus) -> None:
        if self._live is not None:
            self._live.update(render_status(status))


def render_status(status: LiveStatus) -> Table:
    """Three lines of ``label value`` cells that fit in 80 columns."""
    counters, rates = status.counters, status.rates
    grid = Table.grid(padding=(0, 2))
    for _ in range(4):
        grid.add_column(no_wrap=True)

    def cell(label: str, value: str) -> Text:
        return Text.assemble((label + " ", "dim"), (value, "bold"))

    grid.add_row(cell("load", f"{status.phase} {status.elapsed:.1f}s"),
                 cell("connections", f"{status.open:,}/{status.target:,}"),
                 cell("p99 now", format_duration(status.p99)),
                 cell("worker CPU", " ".join(f"{cpu:.0%}" for cpu in status.cpu)))
    grid.add_row(cell("ticks/s", format_count(rates.get("ticks_received", 0.0))),
                 cell("frames/s", format_count(rates.get("ws_msgs_received", 0.0))),
                 cell("bytes/s", format_bytes(rates.get("data_received", 0.0))),
                 cell("ticks", format_count(counters.get("ticks_received", 0))))
    grid.add_row(cell("gaps", f"{counters.get('seq_gaps', 0):,}"),
                 cell("dups", f"{counters.get('seq_duplicates', 0):,}"),
                 cell("lagging", f"{counters.get('lagging', 0):,}"),
                 cell("errors/failed", f"{counters.get('errors', 0):,}/"
                                       f"{counters.get('ws_connect_failed', 0):,}"))
    return grid


def _fmt(metric: str, stat: str, value: object) -> str:
    if value is None:
        return "-"
    unit = METRICS[metric].unit
    number = float(value)  # type: ignore[arg-type]
    if stat == "rate":
        return (format_bytes(number) if unit == "B" else format_count(number)) + "/s"
    if stat == "count":
        return format_bytes(number) if unit == "B" else f"{int(number):,}"
    if unit == "s":
        return format_duration(number)
    return f"{number:.0%}" if metric == "worker_cpu" else format_count(number)


def render_summary(summary: Summary) -> tuple[Table, Table]:
    """Two tables: the distributions (trends), then counters and gauges with their codes."""
    hold = summary.hold[1] - summary.hold[0]
    names = [name for name, data in summary.metrics.items() if data["type"] == "trend"]
    trends = Table(title=f"{summary.spec['connections']:,} connections × "
                         f"{summary.spec['subscriptions']} subscriptions, "
                         f"{len(summary.workers)} workers, hold {hold:.1f}s",
                   title_justify="left", padding=(0, 1))
    trends.add_column("", no_wrap=True)
    for name in names:
        trends.add_column(name, justify="right", no_wrap=True)
    for stat in ("count", "rate", "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"):
        trends.add_row(stat, *(_fmt(name, stat, summary.metrics[name][stat]) for name in names))
    counters = Table(title="counts over the run; rates per second over the hold",
                     title_justify="left", padding=(0, 1))
    counters.add_column("metric", no_wrap=True)
    counters.add_column("count", justify="right", no_wrap=True)
    counters.add_column("rate", justify="right", no_wrap=True)
    counters.add_column("by code or reason")
    for name, data in summary.metrics.items():
        if data["type"] == "trend":
            continue
        if data["type"] == "counter":
            codes = data.get("by_code") or data.get("by_reason") or {}
            counters.add_row(name, _fmt(name, "count", data["count"]),
                             _fmt(name, "rate", data["rate"]),
                             ", ".join(f"{code}: {n:,}" for code, n in codes.items()))
        else:
            counters.add_row(name, _fmt(name, "value", data["value"]), "",
                             f"min {_fmt(name, 'min', data['min'])}, "
                             f"max {_fmt(name, 'max', data['max'])}")
    return trends, counters


def print_summary(summary: Summary, console: Console) -> None:
    """The table, the workers' CPU, warnings and threshold results."""
    for table in render_summary(summary):
        console.print(table)
    workers = ", ".join(f"#{w.index} {w.cpu:.0%} (hold {w.cpu_hold:.0%}, peak {w.cpu_peak:.0%})"
                        for w in summary.workers)
    console.print(f"worker CPU, fraction of one core: {workers}")
    if summary.interrupted:
        console.print("[yellow]interrupted: the run was stopped early[/yellow]")
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    for result in summary.thresholds:
        style = "green" if result.ok else "bold red"
        console.print(f"[{style}]{escape(result.describe())}[/{style}]")
