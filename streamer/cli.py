"""``streamer serve``: run the feed. The only module of the server that reads flags and the
environment; its flags are made from the settings of :class:`~streamer.config.ServerConfig`.

The ``streamer`` command (:mod:`tick_streamer`) puts this beside the client's ``tail`` and the
load tester's ``load``; ``python -m streamer serve`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import ipaddress
import logging
import multiprocessing
import os
import queue
import resource
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import nats.errors
import nats.js.errors

from simulation import MarketError, load_market
from simulation.market import BUILT_IN
from streamer import __version__, bus, buslink, publisher
from streamer.config import ServerConfig, Setting, settings, show_default
from streamer.server import StreamServer

logger = logging.getLogger("streamer")

LOG_LEVELS = ("debug", "info", "warning", "error")
#: File descriptors a process keeps beyond one per connection (listening sockets, pipes, the
#: event loop's own).
FILES_SPARE = 64

DESCRIPTION = ("Run the feed: the WebSocket protocol at /ws, the live dashboard at /, the batch "
               "service at GET /gbm, GET /healthz and GET /metrics (Prometheus), all on one "
               "port. Stop it with Ctrl-C or SIGTERM; clients get close code 1001.")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (None, [], flags)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, []) or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``serve``: one per setting, plus ``--log-level``."""
    for item in settings():
        parser.add_argument(item.flag, dest=item.name, metavar=item.metavar, help=_help(item),
                            **_kind(item))
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS,
                        help="log verbosity")


def _help(item: Setting) -> str:
    text = item.help + (f" ({item.unit})" if item.unit and item.unit != "/s" else "")
    if item.zero_disables:
        text += "; 0 disables"
    if item.default is None or item.default == () or item.env:
        text += f"; default: {show_default(item).replace('`', '')}"
    return text


def _kind(item: Setting) -> dict[str, Any]:
    """How argparse reads a setting of this annotation."""
    if item.kind.startswith("tuple["):
        return {"action": "append", "default": []}
    base = item.kind.removesuffix(" | None")
    convert = {"int": int, "float": float, "str": str}[base]
    default = None if item.env else item.default
    return {"type": convert, "default": default}


def config_from_args(args: argparse.Namespace,
                     environ: dict[str, str] | os._Environ[str] = os.environ) -> ServerConfig:
    """The settings the flags (and, for a flag not given, its environment variable) name."""
    values: dict[str, Any] = {}
    for item in settings():
        value = getattr(args, item.name)
        if item.env and value is None:
            value = environ.get(item.env) or None
        if item.zero_disables and value == 0:
            value = None
        if isinstance(value, list):
            value = tuple(value)
        values[item.name] = value
    return ServerConfig(**values)


PUBLISH_DESCRIPTION = (
    "Simulate a market and publish every tick to NATS JetStream (stream TICKS, subjects "
    "ticks.<SYMBOL>, each with a Nats-Msg-Id so that publishers of the same market run side "
    "by side and the bus keeps one copy). The market is the one already on the bus; the "
    "first publisher puts its own there (--market, or the demo market).")


def add_publish_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``publish``."""
    parser.add_argument("--nats", required=True, action="append", metavar="URL",
                        help="a NATS server to publish to (nats://host:4222); repeat for the "
                             "servers of a cluster")
    parser.add_argument("--market", default=None, metavar="FILE",
                        help="the market to publish: a .toml or .json file, or demo or "
                             "realtime; a bus that has another one already refuses it, naming "
                             "the difference (see --replace-market); without it, the bus's "
                             "market, or the demo market on an empty bus")
    parser.add_argument("--replace-market", action="store_true",
                        help="replace a different market already on the bus with --market")
    parser.add_argument("--retention", type=int, default=bus.RETENTION, metavar="TICKS",
                        help="ticks of each symbol the stream keeps, when this publisher "
                             "creates it")
    parser.add_argument("--replicas", type=int, default=1, choices=range(1, 6),
                        metavar="N", help="copies of the stream and the market bucket in a "
                                          "JetStream cluster, when this publisher creates them")
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS,
                        help="log verbosity")


def run_publish(args: argparse.Namespace) -> int:
    """``publish`` with parsed arguments."""
    configure_logging(args.log_level)
    if args.retention < 1:
        print(f"streamer: error: --retention must be at least 1, got {args.retention}",
              file=sys.stderr)
        return 2
    try:
        return asyncio.run(_publish(args))
    except MarketError as exc:
        print(f"streamer: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, nats.errors.NoServersError) as exc:
        print(f"streamer: error: cannot reach NATS at {', '.join(args.nats)}: {exc}",
              file=sys.stderr)
        return 1
    except nats.js.errors.APIError as exc:  # the bus refused the stream or the bucket
        print(f"streamer: error: the bus refused to set up stream {bus.STREAM} or bucket "
              f"{bus.MARKET_BUCKET} (--retention {args.retention}, --replicas {args.replicas}): "
              f"{exc.description or exc}", file=sys.stderr)
        return 2


async def _publish(args: argparse.Namespace) -> int:
    now = time.time()
    proposed = None
    if args.market is not None:
        proposed = (BUILT_IN[args.market](now) if args.market in BUILT_IN
                    else load_market(args.market, now))
    nc = await buslink.connect(args.nats, "streamer publish")
    try:
        js = nc.jetstream()
        info = await publisher.ensure_stream(js, args.retention, args.replicas)
        market = await publisher.agree_market(js, proposed, BUILT_IN["demo"](now),
                                              replace=args.replace_market,
                                              replicas=args.replicas, now=now)
        runner = publisher.Publisher(nc, market, time.time())
        await runner.backfill()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, runner.stop)
        print(f"streamer {__version__}: publishing {len(market.symbols)} symbols to "
              f"{', '.join(args.nats)} (stream {bus.STREAM}, {info.config.max_msgs_per_subject} "
              "ticks kept per symbol; Ctrl-C stops)", flush=True)
        await runner.run()
        counts = runner.counts
        logger.info("stopped: published %d ticks (%d already on the bus)", counts.published,
                    counts.duplicates)
    finally:
        await nc.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """``python -m streamer serve ...``: the server's own command line."""
    parser = argparse.ArgumentParser(prog="streamer", description=DESCRIPTION,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_arguments(commands.add_parser("serve", help="run the server", description=DESCRIPTION,
                                      formatter_class=HelpFormatter))
    add_publish_arguments(commands.add_parser("publish", help="publish the market to NATS",
                                              description=PUBLISH_DESCRIPTION,
                                              formatter_class=HelpFormatter))
    return parser


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def raise_open_files_limit(connections: int) -> int:
    """Each connection is a file descriptor: lift the soft limit toward the hard one, enough
    for ``connections`` and :data:`FILES_SPARE`. Return how many connections the limit now
    allows (processes started later inherit it); fewer when the hard limit is lower.
    Used by ``serve`` and by ``load``."""
    wanted = connections + FILES_SPARE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target == resource.RLIM_INFINITY:
        return connections
    return min(connections, target)


#: glibc's ``mallopt`` parameter for the size from which a block is mapped on its own.
_M_MMAP_THRESHOLD = -3


def give_big_buffers_back(threshold: int = 1 << 20) -> None:
    """Have blocks from ``threshold`` bytes up (a /gbm reply, a numpy block) mapped on their
    own and so given back to the system when freed. By default glibc raises that threshold
    each time such a block is freed, up to 32 MB, after which freed replies stay in the
    process: 30 readers of /gbm left it 800 MB larger once they were gone."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, threshold)
    except (OSError, AttributeError):  # not glibc: its own allocator's policy stands
        pass


#: Container allocations between two collections of the youngest generation (Python's
#: default: 700). Each connection makes a few dozen containers, so with the default a
#: reconnect storm of 10,000 ran a collection every dozen connections, each one walking more
#: of the young objects: a third of the storm's time.
GC_YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """What start-up made (the market, modules, numpy) lives as long as the process: it is
    moved out of the collector's sight; and the youngest generation is collected less often.
    Reference counting frees nearly everything anyway; the collector is there for cycles."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


async def serve(config: ServerConfig, ready: Callable[[int], None] | None = None,
                lifeline: Any = None) -> int:
    """Run until SIGINT or SIGTERM; return the process exit status. Without ``ready``, print
    the banner once listening; with it, report the port to the process that started this one.
    ``lifeline`` (a worker's) is the read end of a pipe whose only writer is the process that
    started this one: when that process dies, even by SIGKILL, the pipe reads as closed and
    the server shuts down as on SIGTERM, rather than go on serving the port as an orphan."""
    give_big_buffers_back()
    allowed = raise_open_files_limit(config.max_connections)
    if allowed < config.max_connections and config.worker == 0:
        logger.warning("at most %d open files (ulimit -n); --max-connections %d cannot be "
                       "reached", allowed, config.max_connections)
    server = StreamServer(config)
    await server.start()
    tune_garbage_collector()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before the banner: it announces readiness
        loop.add_signal_handler(signum, server.close)
    if lifeline is not None:
        loop.add_reader(lifeline.fileno(), _orphaned, server, loop, lifeline.fileno())
    if config.token is None and not is_loopback(config.host) and config.worker == 0:
        logger.warning("listening on %s with no token: anyone who can reach this address can "
                       "use the feed; set --token or STREAMER_TOKEN", config.host)
    if ready is None:
        print(banner(config, server.port), flush=True)
    else:
        ready(server.port)
    await server.wait_closed()
    logger.info("server stopped")
    return 1 if server.failure is not None else 0


def banner(config: ServerConfig, port: int) -> str:
    workers = f"{config.workers} workers; " if config.workers > 1 else ""
    compression = "compression deflate; " if config.compression != "none" else ""
    if config.nats:
        compression += f"the market from {', '.join(config.nats)}; "
    return (f"streamer {__version__}: ws://{config.host}:{port}/ws  "
            f"http://{config.host}:{port}/  ({workers}{compression}Ctrl-C stops)")


def _orphaned(server: StreamServer, loop: asyncio.AbstractEventLoop, fd: int) -> None:
    loop.remove_reader(fd)
    logger.warning("the process that started this worker is gone; shutting down")
    server.close()


def run_serve(config: ServerConfig, ready: Callable[[int], None] | None = None,
              lifeline: Any = None) -> int:
    """:func:`serve` in a fresh event loop, with its start-up errors as exit statuses."""
    try:
        return asyncio.run(serve(config, ready, lifeline))
    except MarketError as exc:
        print(f"streamer: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"streamer: error: cannot listen on {config.host}:{config.port}: "
              f"{exc.strerror}", file=sys.stderr)
        return 1


def run_workers(config: ServerConfig, log_level: str) -> int:
    """``--workers N``: N server processes on one port (``SO_REUSEPORT``), each with the same
    deterministic market; this process only starts them, forwards SIGINT and SIGTERM, and
    returns the worst exit status."""
    holder = None
    port = config.port
    if port == 0:  # pick the port once, for everyone: hold it, bound but not listening
        holder = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((config.host, 0))
        port = holder.getsockname()[1]
    report_dir = tempfile.mkdtemp(prefix="streamer-workers-")  # see streamer.workers
    config = replace(config, report_dir=report_dir)
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    lifeline, keep_alive = context.Pipe(duplex=False)  # this process holds the only writer
    workers = [context.Process(target=_worker, name=f"streamer-worker-{i}",
                               args=(replace(config, port=port, worker=i), log_level, ready,
                                     lifeline))
               for i in range(config.workers)]

    def stop(signum: int = signal.SIGTERM, frame: object = None) -> None:
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for worker in workers:
        worker.start()
    listening = 0
    while listening < len(workers):
        try:
            ready.get(timeout=0.1)
            listening += 1
        except queue.Empty:
            if any(worker.exitcode is not None for worker in workers):
                stop()  # one could not start: stop the others too
                break
    if holder is not None:
        holder.close()
    if listening == len(workers):
        print(banner(config, port), flush=True)
    for worker in workers:
        worker.join()
    keep_alive.close()
    shutil.rmtree(report_dir, ignore_errors=True)
    return max((abs(w.exitcode or 0) for w in workers), default=0)


def _worker(config: ServerConfig, log_level: str, ready: Any, lifeline: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # until the loop's own handlers take over
    configure_logging(log_level, f"w{config.worker} ")
    sys.exit(run_serve(config, ready.put, lifeline))


def configure_logging(level: str, prefix: str = "") -> None:
    logging.basicConfig(level=level.upper(),
                        format=f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s")
    if level != "debug":  # the library's per-request lines repeat our own
        logging.getLogger("streamer.websockets").setLevel(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    """``serve`` with parsed arguments."""
    configure_logging(args.log_level)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"streamer: error: {exc}", file=sys.stderr)
        return 2
    return run_workers(config, args.log_level) if config.workers > 1 else run_serve(config)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_publish(args) if args.command == "publish" else run(args)
