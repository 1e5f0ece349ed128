"""A third party's symbols on a gateway's hub: ticks on the bus for a symbol the market does
not define are served as they come, with ``seq``, conflation and resume like simulated ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamer import hub as hub_module
from streamer.bus import BusTick
from streamer.config import ServerConfig
from streamer.hub import MIN_OUTSIDE_INTERVAL, OUTSIDE_MODEL, Hub
from streamer.session import Session
from tests.conftest import small_market
from tests.streamer.drive import new_session, sent

NOW = 1_764_412_345.25
MARKET = small_market(NOW)
T0 = 1_764_400_000.0
CLOCK = 1_764_412_000.125
"""The publisher's clock at seq 0: its times are its own, not ``t0 + seq * interval``."""


def tick(seq: int, price: float | None = None, *, symbol: str = "EXT", t0: float | None = T0,
         interval: float | None = 0.5, vol: float | None = None) -> BusTick:
    """Tick ``seq`` of a third party's symbol, half a second apart."""
    return BusTick(symbol, seq, 100.0 + seq if price is None else price, at(seq), vol, t0,
                   interval)


def at(seq: int) -> float:
    return CLOCK + 0.5 * seq


def fed_hub(ring: int = 100) -> Hub:
    return Hub(MARKET, NOW, ring=ring, fed=True)


def everything(session: Session) -> list[dict[str, Any]]:
    """Every event the session has to send now (a replay comes a piece per frame)."""
    out = []
    while batch := sent(session):
        out += batch
    return out


def subscribe(hub: Hub, op: str, config: ServerConfig | None = None) -> Session:
    session = new_session(hub, config or ServerConfig(), NOW)
    session.receive(op, NOW)
    return session


def kinds(out: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(e["type"], e.get("seq")) for e in out]


def test_a_third_partys_symbol_is_listed_and_served_as_the_bus_carries_it() -> None:
    hub = fed_hub()
    hub.feed([tick(7, vol=0.25)])
    session = subscribe(hub, '{"op": "subscribe", "symbol": "EXT"}')
    [ack] = sent(session)
    assert ack["type"] == "subscribed" and ack["symbol"] == "EXT"
    assert (ack["seq"], ack["price"], ack["time"], ack["t0"], ack["vol"]) == (
        7, 107.0, at(7), T0, 0.25)
    assert ack["params"] == {"model": OUTSIDE_MODEL, "interval": 0.5, "seed": None,
                             "periods": None}
    hub.feed([tick(8), tick(9, 99.5)])
    assert [(e["seq"], e["price"], e["time"], "vol" in e) for e in sent(session)] == [
        (8, 108.0, at(8), False), (9, 99.5, at(9), False)]

    session.receive('{"op": "symbols", "id": 1}', NOW)
    [listing] = sent(session)
    entry = listing["symbols"][-1]
    assert (entry["symbol"], entry["seq"], entry["price"]) == ("EXT", 9, 99.5)
    assert len(listing["symbols"]) == len(MARKET.symbols) + 1


def test_without_an_interval_a_symbol_is_served_from_its_second_tick() -> None:
    hub = fed_hub()
    hub.feed([tick(3, interval=None)])
    assert hub.symbol("EXT") is None
    hub.feed([tick(5, interval=None)])  # a second apart, two seqs apart
    stream = hub.symbol("EXT")
    assert stream is not None and stream.interval == 0.5
    assert hub.oldest_kept(stream) == 5  # 4 never came: the ring starts after the hole
    session = subscribe(hub, '{"op": "subscribe", "symbol": "EXT", "fromSeq": 3}')
    assert kinds(everything(session)) == [("subscribed", 5), ("lagging", 5), ("tick", 5)]


def test_a_skip_in_the_publishers_seq_is_announced_before_the_next_tick() -> None:
    hub = fed_hub()
    hub.feed([tick(1)])
    session = subscribe(hub, '{"op": "subscribe", "symbol": "EXT"}')
    sent(session)
    hub.feed([tick(2), tick(6), tick(7)])
    out = sent(session)
    assert kinds(out) == [("tick", 2), ("lagging", 6), ("tick", 6), ("tick", 7)]
    assert out[1]["skipped"] == 3


def test_history_and_from_seq_replay_the_ring() -> None:
    hub = fed_hub(ring=10)
    hub.feed([tick(k) for k in range(30)])
    session = subscribe(hub, '{"op": "subscribe", "symbol": "EXT", "history": 3}')
    out = everything(session)
    assert kinds(out) == [("subscribed", 29), ("tick", 27), ("tick", 28), ("tick", 29)]
    assert [e["time"] for e in out[1:]] == [at(27), at(28), at(29)]
    resumed = subscribe(hub, f'{{"op": "subscribe", "symbol": "EXT", "t0": {T0!r}, '
                             '"fromSeq": 25}')
    assert [e["seq"] for e in everything(resumed)[1:]] == [25, 26, 27, 28, 29]
    too_old = subscribe(hub, '{"op": "subscribe", "symbol": "EXT", "fromSeq": 5}')
    out = everything(too_old)
    assert kinds(out)[:3] == [("subscribed", 29), ("lagging", 20), ("tick", 20)]
    assert out[1]["skipped"] == 15


def test_a_slow_reader_is_conflated_and_told_how_many_ticks_it_missed() -> None:
    hub = fed_hub()
    hub.feed([tick(1)])
    session = subscribe(hub, '{"op": "subscribe", "symbol": "EXT"}')
    sent(session)
    config = session.config
    session.buffered(config.max_send_buffer + 1, NOW)  # behind: conflate from here
    hub.feed([tick(2), tick(3), tick(9), tick(10)])  # 4..8 skipped by the publisher
    assert sent(session) == []
    session.buffered(0, NOW + 0.1)
    assert [(e["type"], e.get("skipped"), e.get("seq")) for e in sent(session)] == [
        ("lagging", 8, 10), ("tick", None, 10)]  # 2, 3 and 9 conflated, 4..8 skipped


def test_out_of_order_ticks_are_refused_and_a_new_t0_ends_the_old_numbering() -> None:
    hub = fed_hub()
    hub.feed([tick(1), tick(2)])
    session = subscribe(hub, '{"op": "subscribe", "symbol": "EXT"}')
    sent(session)
    hub.feed([tick(2, 1.0), tick(1)])  # another tick 2; a copy of tick 1, which is no fault
    assert sent(session) == [] and hub.out_of_order == {"EXT": 1}
    hub.feed([tick(0, 50.0, t0=T0 + 60.0)])  # the publisher started counting again
    assert kinds(sent(session)) == [("end", 2)]
    stream = hub.symbol("EXT")
    assert stream is not None and stream.t0 == T0 + 60.0 and hub.current(stream)[:2] == (0, 50.0)
    hub.feed([tick(3, t0=T0)])  # a late tick of the old numbering starts nothing
    assert hub.symbol("EXT") is stream and hub.out_of_order == {"EXT": 2}
    stale = subscribe(hub, f'{{"op": "subscribe", "symbol": "EXT", "t0": {T0!r}, '
                           '"fromSeq": 3}')
    [error] = sent(stale)
    assert error["code"] == "invalid_params" and error["field"] == "t0"
    assert "its publisher started a new numbering" in error["message"]


def test_a_model_cannot_be_asked_of_a_third_partys_symbol() -> None:
    hub = fed_hub()
    hub.feed([tick(1)])
    session = subscribe(hub, '{"op": "subscribe", "id": 4, "symbol": "EXT", "model": "ou"}')
    [error] = sent(session)
    assert (error["code"], error["field"], error["id"]) == ("invalid_params", "model", 4)
    assert "third party" in error["message"]


def test_history_read_from_the_bus_joins_the_ring_below_the_live_ticks() -> None:
    hub = fed_hub(ring=20)
    hub.feed([tick(50), tick(51)])  # live, before the history was read
    assert hub.backfill([tick(k) for k in range(40, 52)]) == 10  # 40..49 joined; 50, 51 there
    stream = hub.symbol("EXT")
    assert stream is not None and hub.oldest_kept(stream) == 40
    assert hub.recent(stream, 40, 51).tolist() == [100.0 + k for k in range(40, 52)]
    assert hub.backfill([tick(k) for k in range(20, 30)]) == 0  # a hole: nothing joins
    assert hub.oldest_kept(stream) == 40


def test_history_alone_starts_a_symbol_no_live_tick_came_for() -> None:
    hub = fed_hub()
    assert hub.backfill([tick(k, interval=None) for k in range(5, 9)]) == 4
    stream = hub.symbol("EXT")
    assert stream is not None and stream.interval == 0.5 and hub.oldest_kept(stream) == 5
    assert hub.out_of_order.total() == 0


def test_the_market_symbols_are_not_taken_over_by_a_third_party() -> None:
    hub = fed_hub()
    acme = hub.symbol("ACME")
    assert acme is not None and acme.outside is None
    seq = hub.current(acme)[0]
    hub.feed([BusTick("ACME", seq + 1, 1.0, 0.0, interval=0.5)])  # wrong price: a mismatch
    assert hub.symbol("ACME") is acme and hub.mismatches == 1 and hub.outside_symbols == 0


def test_a_new_t0_during_a_replay_finishes_the_old_numbering_from_its_own_ring() -> None:
    hub = fed_hub()
    hub.feed([tick(k) for k in range(30)])
    session = subscribe(hub, '{"op": "subscribe", "symbol": "EXT", "history": 30}')
    first = json.loads(session.data_to_send(room=5 * 60))  # room for a few of the replay
    assert 0 < sum(e["type"] == "tick" for e in first) < 30
    hub.feed([tick(k, 500.0 + k, t0=T0 + 60.0) for k in range(10)])  # counting again
    out = everything(session)
    seen = [e for e in out if e["type"] == "tick"]
    assert seen and all(e["price"] == 100.0 + e["seq"] for e in seen)  # the old ticks only
    assert [e["seq"] for e in seen] == list(range(seen[0]["seq"], 30))
    assert kinds(out)[-1] == ("end", 29)


def test_a_live_tick_waiting_for_its_second_is_kept_when_the_history_comes() -> None:
    hub = fed_hub()
    hub.feed([tick(101, interval=None)])  # read live while the history was being read
    assert hub.backfill([tick(k, interval=None) for k in range(91, 101)]) == 10
    stream = hub.symbol("EXT")
    assert stream is not None and hub.current(stream)[0] == 101 and hub.oldest_kept(stream) == 91
    hub.feed([tick(102, interval=None)])
    assert hub.oldest_kept(stream) == 91 and hub.out_of_order.total() == 0


def test_symbols_waiting_for_a_second_tick_give_way_to_newer_ones(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "MAX_OUTSIDE", 3)
    hub = fed_hub()
    hub.feed([tick(0, symbol=f"W{k}", interval=None) for k in range(10)])  # one tick each
    hub.feed([tick(1, symbol="W9", interval=None), tick(1, symbol="W0", interval=None)])
    assert [s.symbol for s in hub.symbols[len(MARKET.symbols):]] == ["W9"]  # W0 gave way
    hub.feed([tick(0, symbol=f"D{k}") for k in range(4)])  # declared: served at once
    assert hub.outside_symbols == 3 and hub.unknown == {"D2": 1, "D3": 1}


def test_two_ticks_sent_together_do_not_make_a_tiny_interval() -> None:
    hub = fed_hub()
    hub.feed([BusTick("EXT", 0, 1.0, CLOCK, t0=T0), BusTick("EXT", 1, 1.0, CLOCK + 1e-6, t0=T0)])
    stream = hub.symbol("EXT")
    assert stream is not None and stream.interval == MIN_OUTSIDE_INTERVAL
