"""``streamer tail``: print ticks from a running server as they arrive (CSV or JSON lines).
Only this module of the client reads flags; the ``streamer`` command (:mod:`tick_streamer`)
wires it with :func:`add_arguments` and :func:`run`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from clients.errors import ArgumentError, FeedError
from clients.feed.protocol import check_spec
from clients.feed.tail import FORMATS, tail
from wire.names import GBM, MODELS, PACES, PRIVATE_FIELDS, python_name
from wire.commands import StreamSpec

DEFAULT_URL = "ws://127.0.0.1:8765/ws"

DESCRIPTION = ("Subscribe to market symbols, or to one private stream given by its model "
               "parameters, and print every tick as it arrives: symbol, seed, seq, price, time. "
               "Runs until Ctrl-C, the end of a finite stream, or --count ticks. Reconnects and "
               "resumes by itself, so no seq is skipped or repeated.")
EPILOG = ("examples: streamer tail ACME BOLT --count 10;  "
          "streamer tail --seed 7 --sigma 0.3 --interval 0.1 --format json;  "
          "streamer tail --model heston --xi 0.8 --interval 0.1")

#: The private stream's flags: (type, metavar, help), by wire field.
_PRIVATE = {
    "startPrice": (float, "PRICE", "the first price"),
    "mu": (float, "MU", "annual drift"),
    "sigma": (float, "SIGMA", "annual volatility, >= 0"),
    "delta": (float, "DAYS", "model time per step, in trading days"),
    "jumpRate": (float, "PER_YEAR", "merton: jumps a year"),
    "jumpMean": (float, "LOG", "merton: mean of a jump's log size"),
    "jumpStd": (float, "LOG", "merton: standard deviation of a jump's log size"),
    "v0": (float, "VARIANCE", "heston: the variance at the start"),
    "kappa": (float, "PER_YEAR", "heston, ou: speed of mean reversion"),
    "theta": (float, "VARIANCE", "heston: the long-run variance"),
    "xi": (float, "VOL", "heston: volatility of the variance"),
    "rho": (float, "CORR", "heston: correlation of price and variance shocks"),
    "level": (float, "PRICE", "ou: the long-run price (default: the first price)"),
    "interval": (float, "SECONDS", "wall-clock seconds between ticks"),
    "seed": (int, "SEED", "unsigned 64-bit seed; the server picks one when left out"),
    "periods": (int, "N", "a finite stream of N ticks"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("symbols", nargs="*", metavar="SYMBOL",
                        help="market symbols; none means one private stream")
    parser.add_argument("--url", action="append", default=None,
                        help=f"the server's WebSocket URL (default {DEFAULT_URL}); repeat it for "
                             "gateways of one market: the feed moves to the next when one fails")
    parser.add_argument("--format", choices=FORMATS, default="csv",
                        help="CSV with a header line, or one JSON object per line")
    parser.add_argument("--count", type=int, default=None, metavar="N",
                        help="stop after N ticks (all streams together)")
    parser.add_argument("--history", type=int, default=None, metavar="N",
                        help="start with the last N ticks of each stream")
    parser.add_argument("--from-seq", type=int, default=None, metavar="SEQ",
                        help="start each symbol at this seq (a replay; instead of --history)")
    parser.add_argument("--pace", choices=PACES, default=None,
                        help="asap: replay any length of history as fast as it is read "
                             "(with --from-seq)")
    parser.add_argument("--no-header", action="store_true", help="leave out the CSV header")
    parser.add_argument("--token", default=None, help="access token, if the server needs one")
    private = parser.add_argument_group("private stream (instead of SYMBOL; server defaults "
                                        "for what is left out)")
    private.add_argument("--model", choices=MODELS, default=None,
                         help=f"the price model (default {GBM})")
    for name in PRIVATE_FIELDS:
        kind, metavar, text = _PRIVATE[name]
        flag = "--" + python_name(name).replace("_", "-")
        private.add_argument(flag, dest=python_name(name), type=kind, metavar=metavar,
                             help=text)
    parser.add_argument("--log-level", default="warning",
                        choices=["debug", "info", "warning", "error"], help="log verbosity")


def specs_from_args(args: argparse.Namespace) -> list[StreamSpec]:
    """The subscriptions the arguments ask for; :class:`ArgumentError` names a bad one."""
    if args.count is not None and args.count < 1:
        raise ArgumentError("count", f"--count must be >= 1, got {args.count}")
    model = {python_name(name): getattr(args, python_name(name))
             for name in ("model", *PRIVATE_FIELDS)}
    if args.symbols:
        given = [name for name, value in model.items() if value is not None]
        if given:
            raise ArgumentError(given[0], f"--{given[0].replace('_', '-')} describes a "
                                "private stream; it cannot be combined with SYMBOL")
        return [check_spec(StreamSpec(symbol, history=args.history, from_seq=args.from_seq,
                                      pace=args.pace)) for symbol in args.symbols]
    if args.from_seq is not None:
        raise ArgumentError("from_seq", "--from-seq takes SYMBOLs (a private stream's seq "
                            "names a tick only with its seed and t0)")
    return [check_spec(StreamSpec(history=args.history, pace=args.pace, **model))]


def run(args: argparse.Namespace) -> int:
    """Print ticks with the Python client until Ctrl-C or --count; the exit status."""
    try:
        specs = specs_from_args(args)
        asyncio.run(tail(args.url or [DEFAULT_URL], specs, fmt=args.format, count=args.count,
                         header=not args.no_header, token=args.token))
    except ArgumentError as exc:
        print(f"streamer tail: error: {exc}", file=sys.stderr)
        return 2
    except FeedError as exc:
        print(f"streamer tail: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (| head): not an error of ours
        sys.stderr.close()
    return 0
