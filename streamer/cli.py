"""The ``streamer`` command: ``streamer serve`` runs the feed. Only this module reads flags."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from simulation import MarketError
from streamer import __version__, config as defaults
from streamer.config import ServerConfig
from streamer.server import StreamServer

logger = logging.getLogger("streamer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer",
        description="Stream simulated market prices (geometric Brownian motion) over WebSocket.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the server: WebSocket at /ws, GET /gbm and /healthz on one port",
        description="Run the feed: the WebSocket protocol at /ws, the batch service at GET /gbm "
                    "and GET /healthz, all on one port. Stop it with Ctrl-C or SIGTERM; clients "
                    "get close code 1001.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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
    serve.add_argument("--ping-interval", type=float, default=defaults.DEFAULT_PING_INTERVAL,
                       metavar="SECONDS", help="seconds between keepalive pings")
    serve.add_argument("--ping-timeout", type=float, default=defaults.DEFAULT_PING_TIMEOUT,
                       metavar="SECONDS", help="seconds to wait for a pong before closing")
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        host=args.host, port=args.port, market_file=args.market,
        min_interval=args.min_interval, max_interval=args.max_interval,
        max_periods=args.max_periods, max_history=args.max_history, max_replay=args.max_replay,
        max_subscriptions=args.max_subscriptions, max_message_bytes=args.max_message_bytes,
        ping_interval=args.ping_interval, ping_timeout=args.ping_timeout,
    )


async def serve(config: ServerConfig) -> int:
    """Run until SIGINT or SIGTERM; return the process exit status."""
    server = StreamServer(config)
    await server.start()
    print(f"streamer {__version__}: ws://{config.host}:{server.port}/ws  "
          f"http://{config.host}:{server.port}/gbm  (Ctrl-C stops)", flush=True)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, server.close)
    await server.wait_closed()
    logger.info("server stopped")
    return 1 if server.failure is not None else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level != "debug":  # the library's per-request lines repeat our own
        logging.getLogger("streamer.websockets").setLevel(logging.WARNING)
    if args.command == "serve":
        try:
            config = config_from_args(args)
        except ValueError as exc:
            print(f"streamer: error: {exc}", file=sys.stderr)
            return 2
        try:
            return asyncio.run(serve(config))
        except MarketError as exc:
            print(f"streamer: error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"streamer: error: cannot listen on {config.host}:{config.port}: "
                  f"{exc.strerror}", file=sys.stderr)
            return 1
    return 2
