"""The example strategy: its logic by hand-made prices, and one live run against a server."""

from __future__ import annotations

import io

import pytest

from examples.ma_crossover import Crossover, Trade, run
from tests.conftest import wait_for, ws_url


def test_it_goes_long_when_the_fast_average_crosses_above_and_short_below():
    strategy = Crossover(fast=2, slow=4, quantity=10)
    prices = [10, 10, 10, 10, 12, 14, 9, 6, 6]
    trades = [strategy.on_price(seq, p) for seq, p in enumerate(prices)]
    assert trades[:4] == [None] * 4  # the slow average is not full yet, and nothing crossed
    assert trades[4] == Trade(4, 10, 12)  # fast (10+12)/2 > slow 42/4
    assert trades[5:7] == [None, None]  # still above: (14+9)/2 > 45/4
    assert trades[7] == Trade(7, -20, 6)  # below: (9+6)/2 < 41/4
    assert strategy.position == -10
    assert strategy.cash == -10 * 12 + 20 * 6
    assert strategy.pnl(6) == -60  # bought 10 at 12, sold them at 6; the short is flat


def test_bad_windows_are_refused():
    with pytest.raises(ValueError, match="need 1 <= fast < slow, got fast=5 slow=5"):
        Crossover(5, 5)


async def test_it_trades_a_live_symbol_and_reports_position_and_pnl(server):
    out = io.StringIO()
    strategy = await wait_for(run(ws_url(server), "BOLT", fast=2, slow=5, count=40, every=10,
                                  out=out), 10)
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("done after 40 ticks: ")
    assert len(lines) >= 1 + 3  # status every 10 ticks, plus trades
    assert sum(t.quantity for t in strategy.trades) == strategy.position
    assert strategy.cash == pytest.approx(-sum(t.quantity * t.price for t in strategy.trades))
    assert f"position {strategy.position:+g}" in lines[-1]
