"""The ``streamer`` command: ``serve`` runs the feed, ``tail`` prints it, ``load`` load-tests it.
Only this module (and the commands' own argument modules) reads flags."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import multiprocessing
import os
import queue
import resource
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from clients.load import cli as load_cli
from simulation import MarketError
from streamer import __version__, config as defaults
from streamer.config import ServerConfig
from streamer.server import StreamServer

logger = logging.getLogger("streamer")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (None, [])."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, []) or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer",
        description="Stream simulated market prices (geometric Brownian motion) over WebSocket.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the server: WebSocket /ws, the dashboard at /, GET /gbm, /healthz "
                      "and /metrics, on one port",
        description="Run the feed: the WebSocket protocol at /ws, the live dashboard at /, the "
                    "batch service at GET /gbm, GET /healthz and GET /metrics (Prometheus), all "
                    "on one port. Stop it with Ctrl-C or SIGTERM; clients get close code 1001.",
        formatter_class=_Help)
    serve.add_argument("--host", default=defaults.DEFAULT_HOST,
                       help="address to listen on (loopback only by default)")
    serve.add_argument("--port", type=int, default=defaults.DEFAULT_PORT,
                       help="TCP port; 0 picks a free one")
    serve.add_argument("--market", metavar="FILE", default=None,
                       help="market definition, .toml or .json (see docs/market.md); "
                            "default: the built-in demo market of 8 symbols")
    serve.add_argument("--log-level", default="info",
                       choices=["debug", "info", "warning", "error"], help="log verbosity")
    serve.add_argument("--min-interval", type=float, default=defaults.DEFAULT_MIN_INTERVAL,
                       metavar="SECONDS", help="smallest tick interval a stream may ask for (s)")
    serve.add_argument("--max-interval", type=float, default=defaults.DEFAULT_MAX_INTERVAL,
                       metavar="SECONDS", help="largest tick interval a stream may ask for (s)")
    serve.add_argument("--max-periods", type=int, default=defaults.DEFAULT_MAX_PERIODS,
                       metavar="N", help="largest periods of /gbm and of a finite stream")
    serve.add_argument("--max-history", type=int, default=defaults.DEFAULT_MAX_HISTORY,
                       metavar="N", help="largest history a subscription may ask for (ticks)")
    serve.add_argument("--max-replay", type=int, default=defaults.DEFAULT_MAX_REPLAY,
                       metavar="N", help="most ticks one fromSeq resume may replay")
    serve.add_argument("--max-subscriptions", type=int,
                       default=defaults.DEFAULT_MAX_SUBSCRIPTIONS, metavar="N",
                       help="subscriptions one connection may hold")
    serve.add_argument("--max-message-bytes", type=int,
                       default=defaults.DEFAULT_MAX_MESSAGE_BYTES, metavar="BYTES",
                       help="largest client message answered; larger gets limit_exceeded")
    serve.add_argument("--max-frame-bytes", type=int, default=defaults.DEFAULT_MAX_FRAME_BYTES,
                       metavar="BYTES", help="largest client frame read at all; larger closes "
                                             "the connection with 1009")
    serve.add_argument("--max-catchup", type=int, default=defaults.DEFAULT_MAX_CATCHUP,
                       metavar="STEPS", help="most steps computed to resume a private stream "
                                             "from its t0")
    serve.add_argument("--max-connections", type=int, default=defaults.DEFAULT_MAX_CONNECTIONS,
                       metavar="N", help="open connections; one more is refused with HTTP 503")
    serve.add_argument("--max-ops-per-second", type=float,
                       default=defaults.DEFAULT_MAX_OPS_PER_SECOND, metavar="RATE",
                       help="sustained operations per second per connection (rate_limited past)")
    serve.add_argument("--ops-burst", type=int, default=defaults.DEFAULT_OPS_BURST, metavar="N",
                       help="operations a connection may send at once")
    serve.add_argument("--flood-limit", type=int, default=defaults.DEFAULT_FLOOD_LIMIT,
                       metavar="N", help="rate_limited replies in a row before closing with 1008")
    serve.add_argument("--max-send-buffer", type=int, default=defaults.DEFAULT_MAX_SEND_BUFFER,
                       metavar="BYTES", help="bytes waiting for one connection before its ticks "
                                             "are conflated (lagging announced)")
    serve.add_argument("--socket-send-buffer", type=int, default=None, metavar="BYTES",
                       help="kernel send buffer per connection; unset, the OS autotunes it")
    serve.add_argument("--slow-consumer-timeout", type=float,
                       default=defaults.DEFAULT_SLOW_CONSUMER_TIMEOUT, metavar="SECONDS",
                       help="seconds a connection may stay conflated before closing with 4008")
    serve.add_argument("--idle-timeout", type=float, default=defaults.DEFAULT_IDLE_TIMEOUT,
                       metavar="SECONDS", help="seconds a connection may stay without ever "
                                               "subscribing (closed with 1008); 0 disables")
    serve.add_argument("--token", default=None,
                       help="require ?token= or 'Authorization: Bearer' on every request but the "
                            "dashboard's files; unset, $STREAMER_TOKEN, else none")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="browser origin allowed to open /ws (repeatable); others get 403. "
                            "The server's own origin is always allowed; unset, any origin is")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="server processes sharing the port; each computes the same market "
                            "and serves a share of the connections (limits apply per process)")
    serve.add_argument("--ping-interval", type=float, default=defaults.DEFAULT_PING_INTERVAL,
                       metavar="SECONDS", help="seconds between keepalive pings")
    serve.add_argument("--ping-timeout", type=float, default=defaults.DEFAULT_PING_TIMEOUT,
                       metavar="SECONDS", help="seconds to wait for a pong before closing")

    tail = commands.add_parser(
        "tail", help="print ticks from a running server as they arrive (CSV or JSON lines)",
        description="Subscribe to market symbols, or to one private stream given by its model "
                    "parameters, and print every tick as it arrives: symbol, seed, seq, price, "
                    "time. Runs until Ctrl-C, the end of a finite stream, or --count ticks. "
                    "Reconnects and resumes by itself, so no seq is skipped or repeated.",
        epilog="examples: streamer tail ACME BOLT --count 10;  "
               "streamer tail --seed 7 --sigma 0.3 --interval 0.1 --format json",
        formatter_class=_Help)
    tail.add_argument("symbols", nargs="*", metavar="SYMBOL",
                      help="market symbols; none means one private stream")
    tail.add_argument("--url", default=f"ws://{defaults.DEFAULT_HOST}:{defaults.DEFAULT_PORT}/ws",
                      help="the server's WebSocket URL")
    tail.add_argument("--format", choices=["csv", "json"], default="csv",
                      help="CSV with a header line, or one JSON object per line")
    tail.add_argument("--count", type=int, default=None, metavar="N",
                      help="stop after N ticks (all streams together)")
    tail.add_argument("--history", type=int, default=None, metavar="N",
                      help="start with the last N ticks of each stream")
    tail.add_argument("--no-header", action="store_true", help="leave out the CSV header")
    tail.add_argument("--token", default=None, help="access token, if the server needs one")
    private = tail.add_argument_group("private stream (instead of SYMBOL; server defaults "
                                      "for what is left out)")
    private.add_argument("--start-price", type=float, metavar="PRICE")
    private.add_argument("--mu", type=float, help="annual drift")
    private.add_argument("--sigma", type=float, help="annual volatility, >= 0")
    private.add_argument("--delta", type=float, metavar="DAYS",
                         help="model time per step, in trading days")
    private.add_argument("--interval", type=float, metavar="SECONDS",
                         help="wall-clock seconds between ticks")
    private.add_argument("--seed", type=int, help="unsigned 64-bit seed; the server picks one "
                         "when left out")
    private.add_argument("--periods", type=int, metavar="N", help="a finite stream of N ticks")
    tail.add_argument("--log-level", default="warning",
                      choices=["debug", "info", "warning", "error"], help="log verbosity")
    load = commands.add_parser(
        "load", help="load-test a server: N connections x M subscriptions, thresholds",
        description="Open N connections with M subscriptions each against any server that "
                    "speaks the protocol, measure delay, gaps and rates, and fail on thresholds.",
        formatter_class=_Help)
    load_cli.add_arguments(load)
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        host=args.host, port=args.port, market_file=args.market,
        min_interval=args.min_interval, max_interval=args.max_interval,
        max_periods=args.max_periods, max_history=args.max_history, max_replay=args.max_replay,
        max_subscriptions=args.max_subscriptions, max_message_bytes=args.max_message_bytes,
        max_frame_bytes=args.max_frame_bytes, max_catchup=args.max_catchup,
        max_connections=args.max_connections, max_ops_per_second=args.max_ops_per_second,
        ops_burst=args.ops_burst, flood_limit=args.flood_limit,
        max_send_buffer=args.max_send_buffer, socket_send_buffer=args.socket_send_buffer,
        slow_consumer_timeout=args.slow_consumer_timeout,
        idle_timeout=args.idle_timeout if args.idle_timeout > 0 else None,
        token=args.token if args.token is not None else os.environ.get("STREAMER_TOKEN") or None,
        allow_origins=tuple(args.allow_origin), workers=args.workers,
        ping_interval=args.ping_interval, ping_timeout=args.ping_timeout,
    )


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def raise_open_files_limit(wanted: int) -> None:
    """Each connection is a file descriptor: lift the soft limit toward the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target != resource.RLIM_INFINITY and target < wanted - 64:
        logger.warning("at most %d open files (ulimit -n); --max-connections %d cannot be "
                       "reached", target, wanted - 64)


async def serve(config: ServerConfig, ready: Callable[[int], None] | None = None) -> int:
    """Run until SIGINT or SIGTERM; return the process exit status. Without ``ready``, print
    the banner once listening; with it, report the port to the process that started this one."""
    raise_open_files_limit(config.max_connections + 64)
    server = StreamServer(config)
    await server.start()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before the banner: it announces readiness
        loop.add_signal_handler(signum, server.close)
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
    return (f"streamer {__version__}: ws://{config.host}:{port}/ws  "
            f"http://{config.host}:{port}/  ({workers}Ctrl-C stops)")


def run_serve(config: ServerConfig, ready: Callable[[int], None] | None = None) -> int:
    """:func:`serve` in a fresh event loop, with its start-up errors as exit statuses."""
    try:
        return asyncio.run(serve(config, ready))
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
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    workers = [context.Process(target=_worker, name=f"streamer-worker-{i}",
                               args=(replace(config, port=port, worker=i), log_level, ready))
               for i in range(config.workers)]

    def stop(signum: int = signal.SIGTERM, frame: object = None) -> None:
        for worker in workers:
            if worker.is_alive():
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
    return max((abs(w.exitcode or 0) for w in workers), default=0)


def _worker(config: ServerConfig, log_level: str, ready: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # until the loop's own handlers take over
    configure_logging(log_level, f"w{config.worker} ")
    sys.exit(run_serve(config, ready.put))


def configure_logging(level: str, prefix: str = "") -> None:
    logging.basicConfig(level=level.upper(),
                        format=f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s")
    if level != "debug":  # the library's per-request lines repeat our own
        logging.getLogger("streamer.websockets").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    if args.command == "serve":
        try:
            config = config_from_args(args)
        except ValueError as exc:
            print(f"streamer: error: {exc}", file=sys.stderr)
            return 2
        return run_workers(config, args.log_level) if config.workers > 1 else run_serve(config)
    if args.command == "tail":
        return tail(args)
    if args.command == "load":
        return load_cli.run(args)
    return 2


def tail(args: argparse.Namespace) -> int:
    """``streamer tail``: print ticks with the Python client until Ctrl-C or --count."""
    from clients.errors import ArgumentError, FeedError
    from clients.feed.protocol import StreamSpec, check_spec
    from clients.feed.tail import tail as print_ticks

    model = {"start_price": args.start_price, "mu": args.mu, "sigma": args.sigma,
             "delta": args.delta, "interval": args.interval, "seed": args.seed,
             "periods": args.periods}
    try:
        if args.count is not None and args.count < 1:
            raise ArgumentError("count", f"--count must be >= 1, got {args.count}")
        if args.symbols:
            given = [name for name, value in model.items() if value is not None]
            if given:
                raise ArgumentError(given[0], f"--{given[0].replace('_', '-')} describes a "
                                    "private stream; it cannot be combined with SYMBOL")
            specs = [check_spec(StreamSpec(symbol, history=args.history))
                     for symbol in args.symbols]
        else:
            specs = [check_spec(StreamSpec(history=args.history, **model))]
        return_code = 0
        asyncio.run(print_ticks(args.url, specs, fmt=args.format, count=args.count,
                                header=not args.no_header, token=args.token))
    except ArgumentError as exc:
        print(f"streamer tail: error: {exc}", file=sys.stderr)
        return 2
    except FeedError as exc:
        print(f"streamer tail: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return_code = 130
    except BrokenPipeError:  # the reader went away (| head): not an error of ours
        sys.stderr.close()
        return_code = 0
    return return_code
