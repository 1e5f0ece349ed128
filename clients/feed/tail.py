"""``streamer tail``: print ticks as they arrive, as CSV or JSON lines.

One line per tick: the stream's ``symbol`` (empty for a private stream), its ``seed``, and
the tick's ``seq``, ``price`` and ``time`` (and in JSON, a Heston tick's ``vol``). Prices
and times are printed with every digit (``repr``), so a line reads back to the same doubles.
Output is flushed whenever the reader has caught up, so a pipe sees ticks live without a
flush per line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

import orjson

from clients.feed.aio import Feed, Merge, Subscription
from clients.feed.protocol import Tick
from wire.commands import StreamSpec

FORMATS = ("csv", "json")
CSV_HEADER = "symbol,seed,seq,price,time\n"


def csv_line(tick: Tick) -> str:
    sub = tick.sub
    return f"{sub.symbol or ''},{sub.seed},{tick.seq},{tick.price!r},{tick.time!r}\n"


def json_line(tick: Tick) -> str:
    sub = tick.sub
    line = {"symbol": sub.symbol, "seed": sub.seed, "seq": tick.seq, "price": tick.price,
            "time": tick.time}
    if tick.vol is not None:
        line["vol"] = tick.vol
    return orjson.dumps(line).decode() + "\n"


async def tail(url: str | Sequence[str], specs: list[StreamSpec], *, fmt: str = "csv",
               count: int | None = None, header: bool = True, out: TextIO | None = None,
               **options: Any) -> int:
    """Subscribe to every spec on one connection and print its ticks until ``count`` ticks
    (all streams together) or the end of every stream; return how many were printed.
    ``options`` go to :class:`~clients.feed.Feed`."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = out or sys.stdout
    line = csv_line if fmt == "csv" else json_line
    printed = 0
    async with Feed(url, **options) as feed:
        subs = [feed._subscribe(spec) for spec in specs]
        for sub in subs:
            await sub  # a refused subscription raises here, before any output
        source: Subscription | Merge = subs[0] if len(subs) == 1 else feed.merge(*subs)
        if header and fmt == "csv":
            out.write(CSV_HEADER)
        async for tick in source:
            out.write(line(tick))
            printed += 1
            if printed == count:
                break
            if not source.pending:
                out.flush()
        out.flush()
    return printed
