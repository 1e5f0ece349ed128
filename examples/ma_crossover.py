"""A moving-average crossover that paper-trades one symbol, printing each trade, its position
and its P&L as ticks arrive.

With a server running (``streamer serve``), one command::

    python examples/ma_crossover.py ACME --fast 10 --slow 40

The strategy holds ``+quantity`` while the fast simple moving average of the price is above
the slow one and ``-quantity`` while it is below, trading at the tick's price, with no costs.
It subscribes with ``history=slow`` so that both averages are full from the first live tick,
and it relies on the feed for the rest: every seq arrives once, in order, across reconnects.
Stop it with Ctrl-C or ``--count``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO

from clients.errors import FeedError
from clients.feed import Feed


@dataclass(frozen=True)
class Trade:
    seq: int
    quantity: float
    """Signed: positive buys, negative sells."""
    price: float


@dataclass
class Crossover:
    """The strategy, with no I/O: prices in, trades out."""

    fast: int
    slow: int
    quantity: float = 100.0
    position: float = 0.0
    cash: float = 0.0
    trades: list[Trade] = field(default_factory=list)
    _prices: deque[float] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow:
            raise ValueError(f"need 1 <= fast < slow, got fast={self.fast} slow={self.slow}")
        if not self.quantity > 0:
            raise ValueError(f"quantity must be > 0, got {self.quantity}")

    def on_price(self, seq: int, price: float) -> Trade | None:
        """Take one price; return the trade it caused, if any."""
        prices = self._prices
        prices.append(price)
        if len(prices) > self.slow:
            prices.popleft()
        if len(prices) < self.slow:
            return None
        fast = sum(list(prices)[-self.fast:]) / self.fast
        slow = sum(prices) / self.slow
        target = self.quantity if fast > slow else -self.quantity if fast < slow else self.position
        if target == self.position:
            return None
        trade = Trade(seq, target - self.position, price)
        self.cash -= trade.quantity * price
        self.position = target
        self.trades.append(trade)
        return trade

    def pnl(self, price: float) -> float:
        """Profit and loss so far, marking the position at ``price``."""
        return self.cash + self.position * price


async def run(url: str, symbol: str, *, fast: int = 10, slow: int = 40,
              quantity: float = 100.0, count: int | None = None, every: int = 50,
              out: TextIO = sys.stdout) -> Crossover:
    """Trade ``symbol`` live until ``count`` ticks (or for ever); print as it goes."""
    strategy = Crossover(fast, slow, quantity)
    seen = 0
    price = 0.0
    async with Feed(url) as feed:
        async for tick in feed.subscribe(symbol=symbol, history=slow):
            seen += 1
            price = tick.price
            trade = strategy.on_price(tick.seq, price)
            if trade is not None:
                side = "BUY " if trade.quantity > 0 else "SELL"
                print(f"seq {tick.seq:>9}  {side} {abs(trade.quantity):>6g} @ {price:10.4f}"
                      f"  position {strategy.position:+8g}  P&L {strategy.pnl(price):+12.2f}",
                      file=out, flush=True)
            elif seen % every == 0:
                print(f"seq {tick.seq:>9}  price {price:10.4f}  position "
                      f"{strategy.position:+8g}  P&L {strategy.pnl(price):+12.2f}",
                      file=out, flush=True)
            if seen == count:
                break
    print(f"done after {seen} ticks: {len(strategy.trades)} trades, position "
          f"{strategy.position:+g}, P&L {strategy.pnl(price):+.2f}", file=out, flush=True)
    return strategy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("symbol", nargs="?", default="ACME", help="market symbol to trade")
    parser.add_argument("--url", default="ws://127.0.0.1:8765/ws", help="the server")
    parser.add_argument("--fast", type=int, default=10, help="ticks in the fast average")
    parser.add_argument("--slow", type=int, default=40, help="ticks in the slow average")
    parser.add_argument("--quantity", type=float, default=100.0, help="size of the position")
    parser.add_argument("--count", type=int, default=None, help="stop after this many ticks")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args.url, args.symbol, fast=args.fast, slow=args.slow,
                        quantity=args.quantity, count=args.count))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (| head): not an error of ours
        sys.stderr.close()
        return 0
    except (FeedError, ValueError) as exc:  # cannot connect, unknown symbol, bad arguments
        print(f"ma_crossover: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
