"""streamer.bus: the payload, the message id and the market's definition as the bus carries
them; a third party's malformed message is refused with a message naming what is wrong."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import orjson
import pytest

from simulation import HestonParams, MarketError
from simulation.market import demo_market
from streamer import bus


def test_a_tick_reads_back_bit_for_bit() -> None:
    price, at, vol = 70.12345678901234, 1764547200.123456, 0.21234567890123457
    data = bus.encode_tick("VOLT", 41, price, at, 1764547200.0, vol)
    tick = bus.decode_tick("ticks.VOLT", data)
    assert tick == bus.BusTick("VOLT", 41, price, at, vol, 1764547200.0)
    third = bus.decode_tick("ticks.EXT", b'{"seq": 3, "price": 2.5, "time": 9.0, "interval": 0.25}')
    assert (third.t0, third.interval) == (None, 0.25)
    assert bus.decode_tick("ticks.ACME", bus.encode_tick("ACME", 0, 1.5, 2.0, 2.0)).vol is None


def test_the_message_id_names_symbol_epoch_and_seq() -> None:
    assert bus.msg_id("ACME", 1764547200.0, 12) == "ACME:1764547200.0:12"
    assert bus.subject("BRK.B") == "ticks.BRK.B"
    assert bus.symbol_of("ticks.BRK.B") == "BRK.B"


@pytest.mark.parametrize(("subject", "payload", "named"), [
    ("ticks.ACME", b"not json", "not JSON"),
    ("ticks.ACME", b"[1, 2]", "JSON object"),
    ("ticks.ACME", b'{"price": 1.0, "time": 1.0}', "seq"),
    ("ticks.ACME", b'{"seq": -1, "price": 1.0, "time": 1.0}', "seq"),
    ("ticks.ACME", b'{"seq": true, "price": 1.0, "time": 1.0}', "seq"),
    ("ticks.ACME", b'{"seq": 1, "price": 0, "time": 1.0}', "price must be positive"),
    ("ticks.ACME", b'{"seq": 1, "price": "1", "time": 1.0}', "price"),
    ("ticks.ACME", b'{"seq": 1, "price": 1.0}', "time"),
    ("ticks.ACME", b'{"seq": 1, "price": 1.0, "time": 1.0, "vol": null}', "vol"),
    ("ticks.ACME", b'{"seq": 1, "price": 1.0, "time": 1.0, "symbol": "BOLT"}', "BOLT"),
    ("ticks.ACME", b'{"seq": 1, "price": 1.0, "time": 1.0, "t0": "now"}', "t0"),
    ("ticks.ACME", b'{"seq": 1, "price": 1.0, "time": 1.0, "interval": 0}', "interval must be pos"),
    ("ticks.acme", b'{"seq": 1, "price": 1.0, "time": 1.0}', "ticks.acme"),
    ("prices.ACME", b'{"seq": 1, "price": 1.0, "time": 1.0}', "prices.ACME"),
])
def test_a_malformed_message_is_refused_naming_the_fault(subject: str, payload: bytes,
                                                         named: str) -> None:
    with pytest.raises(bus.BusError, match=named):
        bus.decode_tick(subject, payload)


def test_a_third_partys_minimal_payload_is_a_tick() -> None:
    tick = bus.decode_tick("ticks.OWN", orjson.dumps({"seq": 3, "price": 12, "time": 5}))
    assert (tick.symbol, tick.seq, tick.price, tick.time) == ("OWN", 3, 12.0, 5.0)


def test_the_market_travels_whole_and_a_difference_is_named() -> None:
    now = time.time()
    market = demo_market(now)
    assert bus.decode_market(bus.encode_market(market), now) == market
    assert bus.difference(market, market) is None
    volt = market.get("VOLT")
    assert volt is not None and isinstance(volt.params, HestonParams)
    changed = replace(market, symbols=tuple(
        replace(spec, seed=99) if spec.symbol == "VOLT" else spec for spec in market.symbols))
    assert "VOLT" in (bus.difference(changed, market) or "")
    fewer = replace(market, symbols=market.symbols[1:], groups=())
    assert "ACME" in (bus.difference(market, fewer) or "")
    with pytest.raises(MarketError, match="the market on the bus"):
        bus.decode_market(b'{"symbols": {}}', now)


def test_many_ticks_encode_as_one_at_a_time_does_byte_for_byte() -> None:
    rng = np.random.default_rng(5)
    n = 500
    prices = np.exp(rng.normal(0.0, 20.0, n))  # tiny to huge, every exponent's shortest text
    times = 1764547200.0 + rng.random(n) * 1e6
    vols = np.where(rng.random(n) < 0.5, np.nan, rng.random(n))
    seqs = rng.integers(0, 10**12, n)
    symbols = [f"S{i}" for i in range(n)]
    t0s = [1764547200.0, 1e21, 0.1] * (n // 3) + [5.0] * (n % 3)
    many = bus.encode_ticks(symbols, t0s, seqs, prices, times, vols)
    one = [bus.encode_tick(s, int(k), float(p), float(t), t0, None if v != v else float(v))
           for s, k, p, t, t0, v in zip(symbols, seqs, prices, times, t0s, vols)]
    assert many == one
    assert bus.encode_ticks(symbols[:3], t0s[:3], seqs[:3], prices[:3], times[:3], None) == [
        bus.encode_tick(s, int(k), float(p), float(t), t0)
        for s, k, p, t, t0 in zip(symbols[:3], seqs[:3], prices[:3], times[:3], t0s[:3])]
