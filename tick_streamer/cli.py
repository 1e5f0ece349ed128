"""``streamer serve | tail | load``: each subcommand's flags come from its own package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from clients.feed import cli as tail_cli
from clients.load import cli as load_cli
from streamer import __version__
from streamer import cli as serve_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer", formatter_class=serve_cli.HelpFormatter,
        description="Stream simulated market prices (GBM, jump diffusion, stochastic "
                    "volatility, mean reversion) over WebSocket.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_cli.add_arguments(commands.add_parser(
        "serve", help="run the server: WebSocket /ws, the dashboard at /, GET /gbm, /healthz "
                      "and /metrics, on one port",
        description=serve_cli.DESCRIPTION, formatter_class=serve_cli.HelpFormatter))
    serve_cli.add_publish_arguments(commands.add_parser(
        "publish", help="simulate the market and publish every tick to NATS JetStream",
        description=serve_cli.PUBLISH_DESCRIPTION, formatter_class=serve_cli.HelpFormatter))
    tail_cli.add_arguments(commands.add_parser(
        "tail", help="print ticks from a running server as they arrive (CSV or JSON lines)",
        description=tail_cli.DESCRIPTION, epilog=tail_cli.EPILOG,
        formatter_class=serve_cli.HelpFormatter))
    load_cli.add_arguments(commands.add_parser(
        "load", help="load-test a server: N connections x M subscriptions, thresholds",
        formatter_class=serve_cli.HelpFormatter))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:2] == ["load", "merge"]:  # its own arguments: files, not a run's options
        return load_cli.run_merge(given[2:])
    args = build_parser().parse_args(given)
    if args.command == "serve":
        return serve_cli.run(args)  # which configures logging for its workers too
    if args.command == "publish":
        return serve_cli.run_publish(args)
    serve_cli.configure_logging(args.log_level)
    if args.command == "tail":
        return tail_cli.run(args)
    # the workers it starts inherit the open-files limit lifted here
    serve_cli.raise_open_files_limit(getattr(args, "connections", 0))
    return load_cli.run(args)
