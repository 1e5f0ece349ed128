"""``streamer load``: the command line of the load tester. Only this module reads flags.

The ``streamer`` command (:mod:`tick_streamer`) wires it with :func:`add_arguments` (on the
``load`` subparser) and :func:`run`.

Exit status: 0 when every threshold held, 99 when one failed (as k6), 1 when the run could not
measure (no connection opened, a worker failed), 2 for bad arguments, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from clients.load import spec as defaults
from clients.load.errors import LoadError, SpecError
from clients.load.spec import KINDS, LoadSpec, ProtocolSubscriber
from clients.load.thresholds import Threshold
from clients.load.units import format_duration, parse_duration

if TYPE_CHECKING:
    from clients.load.summary import Summary

# The runner and the display (numpy, hdrhistogram, multiprocessing, rich) are imported by
# run() only: building the parser must stay cheap for every other ``streamer`` command.

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_THRESHOLDS, EXIT_INTERRUPTED = 0, 1, 2, 99, 130
DEFAULT_URL = "ws://127.0.0.1:8765/ws"

#: Convenience flags: (flag, threshold template, help). ``{}`` is the flag's value.
THRESHOLD_FLAGS = (
    ("--max-p50", "tick_delay.p50<={}", "fail when the median tick delay exceeds DURATION"),
    ("--max-p90", "tick_delay.p90<={}", "... the 90th percentile of tick delay"),
    ("--max-p95", "tick_delay.p95<={}", "... the 95th percentile of tick delay"),
    ("--max-p99", "tick_delay.p99<={}", "... the 99th percentile of tick delay"),
    ("--max-p999", "tick_delay.p99.9<={}", "... the 99.9th percentile of tick delay"),
    ("--max-delay", "tick_delay.max<={}", "... the largest tick delay"),
    ("--max-connect-p99", "ws_connecting.p99<={}", "... the 99th percentile of connect time"),
    ("--max-gaps", "seq_gaps.count<={}", "fail when more than N unannounced seq gaps"),
    ("--max-duplicates", "seq_duplicates.count<={}", "... more than N duplicate ticks"),
    ("--max-conflated", "ticks_conflated.count<={}", "... more than N ticks conflated"),
    ("--max-lagging", "lagging.count<={}", "... more than N lagging events"),
    ("--max-errors", "errors.count<={}", "... more than N error events"),
    ("--max-failed-connects", "ws_connect_failed.count<={}", "... more than N failed connects"),
    ("--max-unexpected-closes", "ws_closes_unexpected.count<={}",
     "... more than N connections closed by the server or dropped"),
    ("--min-ticks-rate", "ticks_received.rate>={}",
     "fail when fewer than N ticks a second arrived over the hold"),
)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _params(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--params must be a JSON object, got {text!r}: "
                                         f"{exc.msg}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--params must be a JSON object, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every option of ``streamer load`` to ``parser`` (the ``load`` subparser).

    Help texts carry their defaults themselves, so they read the same with or without
    ``ArgumentDefaultsHelpFormatter``; options without a default are ``SUPPRESS``-ed (absent
    from the namespace until given) so that no formatter prints ``(default: None)``.
    """
    parser.description = (
        "Open N connections at a ramp rate, each with M subscriptions, hold them for a "
        "duration, then unsubscribe and close. Measures every tick's delay, seq gaps and "
        "duplicates, lagging, errors and closes; prints a summary, optionally writes it as "
        "JSON, and exits 99 when a threshold fails. Durations take a unit: 250us, 50ms, 10s, "
        "2m (a bare number is seconds).")
    parser.epilog = ("example: streamer load --url ws://127.0.0.1:8765/ws -c 200 -s 10 "
                     "--interval 100ms -d 30s --max-p99 50ms --max-gaps 0 --json load.json")
    none = argparse.SUPPRESS
    target = parser.add_argument_group("target")
    target.add_argument("--url", default=DEFAULT_URL,
                        help="WebSocket URL of the server, ws:// or wss:// with its path "
                             "(default: %(default)s)")
    target.add_argument("--token", default=none,
                        help="access token, sent as Authorization: Bearer (default: none)")

    shape = parser.add_argument_group("load")
    shape.add_argument("-c", "--connections", type=int, default=defaults.DEFAULT_CONNECTIONS,
                       metavar="N", help="connections to open (default: %(default)s)")
    shape.add_argument("-s", "--subscriptions", type=int,
                       default=defaults.DEFAULT_SUBSCRIPTIONS, metavar="M",
                       help="subscriptions per connection (default: %(default)s)")
    shape.add_argument("--kind", choices=KINDS, default=defaults.DEFAULT_KIND,
                       help="shared market symbols, private streams, or a mix "
                            "(default: %(default)s)")
    shape.add_argument("--symbols", default=",".join(defaults.DEFAULT_SYMBOLS),
                       metavar="A,B,...", help="symbols for shared subscriptions, spread over "
                       "subscriptions and connections (default: %(default)s)")
    shape.add_argument("--interval", type=_duration,
                       default=format_duration(defaults.DEFAULT_INTERVAL), metavar="DURATION",
                       help="tick interval of private streams (default: %(default)s)")
    shape.add_argument("--seed", type=int, default=defaults.DEFAULT_SEED,
                       help="seed of the first private stream; the others count up "
                            "(default: %(default)s)")
    shape.add_argument("--private-share", type=float, default=defaults.DEFAULT_PRIVATE_SHARE,
                       metavar="FRACTION", help="with --kind mix: the fraction of each "
                       "connection's subscriptions that are private (default: %(default)s)")
    shape.add_argument("--params", type=_params, default=none, metavar="JSON",
                       help='more fields for private subscribes, e.g. \'{"sigma": 0.5}\' '
                            "(default: none)")
    shape.add_argument("-d", "--duration", type=_duration,
                       default=format_duration(defaults.DEFAULT_DURATION), metavar="DURATION",
                       help="how long to hold every connection once the ramp is done "
                            "(default: %(default)s)")
    shape.add_argument("-r", "--ramp-rate", type=float, default=defaults.DEFAULT_RAMP_RATE,
                       metavar="PER_SECOND", help="new connections per second over all "
                       "workers; 0 opens all at once (default: %(default)s)")
    shape.add_argument("-w", "--workers", type=int, default=none, metavar="N",
                       help="worker processes (default: one per core, at most one per "
                            "connection)")
    shape.add_argument("--no-unsubscribe", action="store_true",
                       help="close without unsubscribing first, for a peer without "
                            "unsubscribe (counts may then differ from the server's by the "
                            "ticks in flight)")
    shape.add_argument("--connect-timeout", type=_duration,
                       default=format_duration(defaults.DEFAULT_CONNECT_TIMEOUT),
                       metavar="DURATION",
                       help="TCP connect plus handshake; longer is a failed connect "
                            "(default: %(default)s)")
    shape.add_argument("--close-timeout", type=_duration,
                       default=format_duration(defaults.DEFAULT_CLOSE_TIMEOUT),
                       metavar="DURATION",
                       help="wait for unsubscribe replies, then for the close frame "
                            "(default: %(default)s)")
    shape.add_argument("--subscribe-burst", type=int, default=defaults.DEFAULT_SUBSCRIBE_BURST,
                       metavar="N", help="operations a connection sends at once "
                       "(default: %(default)s)")
    shape.add_argument("--subscribe-rate", type=float,
                       default=defaults.DEFAULT_SUBSCRIBE_RATE, metavar="PER_SECOND",
                       help="operations per second per connection after the burst "
                            "(default: %(default)s)")

    output = parser.add_argument_group("output")
    output.add_argument("--json", metavar="FILE", default=none,
                        help="write the summary as JSON to FILE; '-' is standard output, the "
                             "table then goes to standard error (default: none)")
    output.add_argument("-q", "--quiet", action="store_true",
                        help="no live progress and no table: warnings and failed thresholds "
                             "only (live progress is shown only on a terminal anyway)")
    output.add_argument("--log-level", default="warning",
                        choices=["debug", "info", "warning", "error"],
                        help="log verbosity (default: %(default)s)")

    limits = parser.add_argument_group(
        "thresholds", "Each failed threshold is printed and makes the exit status 99. "
        "Durations need a unit here: 50ms, 250us, 1s.")
    for flag, _, text in THRESHOLD_FLAGS:
        metavar = ("DURATION" if "delay" in text or "time" in text else
                   "RATE" if flag.startswith("--min") else "N")
        limits.add_argument(flag, default=none, metavar=metavar, help=text)
    limits.add_argument("--threshold", action="append", default=none, metavar="EXPR",
                        help="any threshold, k6 style: METRIC.STAT OP VALUE, e.g. "
                             "'tick_delay.p(99)<50ms', 'ticks_received.rate>=9000', "
                             "'worker_cpu.max<0.9'; repeatable")


def thresholds_from_args(args: argparse.Namespace) -> tuple[Threshold, ...]:
    """The thresholds the flags ask for, in the order given above."""
    found = []
    for flag, template, _ in THRESHOLD_FLAGS:
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None:
            try:
                found.append(Threshold.parse(template.format(value)))
            except SpecError as exc:
                raise SpecError(flag, f"{flag}: {exc}") from None
    found.extend(Threshold.parse(text) for text in getattr(args, "threshold", None) or ())
    return tuple(found)


def spec_from_args(args: argparse.Namespace) -> LoadSpec:
    """The :class:`LoadSpec` the flags describe; raises :class:`SpecError`."""
    subscriber = ProtocolSubscriber(
        kind=args.kind, symbols=tuple(s.strip() for s in args.symbols.split(",") if s.strip()),
        interval=args.interval, seed=args.seed, private_share=args.private_share,
        params=getattr(args, "params", None) or {})
    return LoadSpec(
        url=args.url, connections=args.connections, subscriptions=args.subscriptions,
        duration=args.duration, ramp_rate=args.ramp_rate,
        workers=getattr(args, "workers", None), subscriber=subscriber,
        unsubscribe_at_end=not args.no_unsubscribe, token=getattr(args, "token", None),
        connect_timeout=args.connect_timeout, close_timeout=args.close_timeout,
        subscribe_burst=args.subscribe_burst, subscribe_rate=args.subscribe_rate,
        thresholds=thresholds_from_args(args))


def run(args: argparse.Namespace) -> int:
    """Run ``streamer load`` with parsed arguments; return the exit status."""
    try:
        from clients.load.display import LiveProgress, console_for, print_summary
        from clients.load.runner import run_load
    except ImportError as exc:
        print(f"streamer load: error: the load tester needs {exc.name}: install it with "
              "pip install 'tick-streamer[load]'", file=sys.stderr)
        return EXIT_USAGE

    try:
        spec = spec_from_args(args)
    except SpecError as exc:
        print(f"streamer load: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    json_file: str | None = getattr(args, "json", None)
    to_stdout = json_file == "-"
    console = console_for(stderr=to_stdout)
    errors = console_for(stderr=True)
    stop = threading.Event()
    try:
        with _stop_on_signals(stop), LiveProgress(console, enabled=not args.quiet) as live:
            summary = run_load(spec, on_progress=live.update, stop=stop)
    except LoadError as exc:
        print(f"streamer load: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("streamer load: interrupted twice; workers terminated", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.quiet:
        for warning in summary.warnings:
            errors.print(f"warning: {warning}", markup=False)
        for result in summary.failed_thresholds:
            errors.print(result.describe(), markup=False)
    else:
        print_summary(summary, console)
    if json_file is not None:
        _write_json(summary, json_file)
    return exit_status(summary)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT or SIGTERM ends the run gracefully (connections closed, summary printed); a
    second one aborts it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {signum: signal.signal(signum, handler)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def exit_status(summary: Summary) -> int:
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.metrics["ws_sessions"]["count"] == 0:
        return EXIT_FAILED
    return EXIT_OK if summary.ok else EXIT_THRESHOLDS


def run_merge(argv: Sequence[str]) -> int:
    """``streamer load merge A.json B.json ... [--json OUT]``."""
    try:
        from clients.load import merge
        from clients.load.display import console_for, print_summary
    except ImportError as exc:
        print(f"streamer load merge: error: it needs {exc.name}: install it with "
              "pip install 'tick-streamer[load]'", file=sys.stderr)
        return EXIT_USAGE

    parser = argparse.ArgumentParser(prog="streamer load merge", description=merge.DESCRIPTION)
    merge.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        summary = merge.merge([merge.read(path) for path in args.files])
    except merge.MergeError as exc:
        print(f"streamer load merge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print_summary(summary, console_for(stderr=args.json == "-"))
    if args.json is not None:
        _write_json(summary, args.json)
    return exit_status(summary)


def _write_json(summary: Summary, path: str) -> None:
    import orjson

    data = orjson.dumps(summary.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        with open(path, "wb") as file:
            file.write(data)
