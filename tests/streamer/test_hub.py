"""The hub (streamer/hub.py): every stream, stepped together, and who gets which tick.

Driven by hand: ``hub.advance(now)`` with chosen instants, and a minimal peer that only
collects what the hub gives it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pytest

from simulation import GBMParams, path
from streamer import schedule
from streamer.bus import BusTick
from streamer.config import ServerConfig
from streamer.hub import MAX_ROUNDS, MAX_STEPS, Hub, Stream
from tests.conftest import small_market, spec_of
from tests.streamer.drive import new_session, sent
from wire.events import Lagging, payload

NOW = 1_764_412_345.25
MARKET = small_market(NOW)
T0 = schedule.aligned_t0(NOW, 0.1)
PARAMS = GBMParams(42.0, 0.1, 0.45, 0.5)


class Peer:
    """A connection as the hub sees it: it keeps what it is given, in order."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.ended: list[int] = []

    def deliver(self, sub: int, seq: int, text: str) -> bool:
        self.parts.append(text)
        return len(self.parts) == 1

    def deliver_ticks(self, texts: Sequence[str], subs: np.ndarray, seqs: np.ndarray) -> bool:
        assert len(texts) == len(subs) == len(seqs)
        empty = not self.parts
        self.parts.extend(texts)
        return empty

    def deliver_end(self, sub: int, text: str) -> bool:
        self.ended.append(sub)
        return self.deliver(sub, -1, text)

    def deliver_gap(self, sub: int, skipped: int, seq: int) -> bool:
        return self.deliver(sub, seq, Lagging(sub, skipped, seq).encode())

    def events(self) -> list[dict[str, Any]]:
        events = json.loads(payload(self.parts)) if self.parts else []
        self.parts.clear()
        return events


def new_hub(ring: int = 1_000) -> Hub:
    return Hub(MARKET, NOW, ring=ring)


def symbol(hub: Hub, name: str) -> Stream:
    """The stream of a symbol of MARKET, which every hub here opens."""
    stream = hub.symbol(name)
    assert stream is not None, name
    return stream


def open_private(hub: Hub, params: GBMParams = PARAMS, seed: int = 42, interval: float = 0.1,
                 periods: int | None = None) -> Stream:
    stream, _ = hub.open_private(params, seed, T0, interval, periods, 0)
    return stream


def watch(hub: Hub, stream: Stream, sub: int = 1) -> Peer:
    peer = Peer()
    hub.attach(stream, peer, sub)
    return peer


def follow(hub: Hub, peer: Peer, until: float, step: float = 0.1) -> list[dict[str, Any]]:
    """Advance the hub one instant of ``step`` at a time up to ``until``; collect ticks."""
    events = []
    k = 1
    while (now := schedule.instant(T0, step, k)) <= until:
        hub.advance(now)
        events += peer.events()
        k += 1
    return events


# --- determinism: a stream's prices are its own -------------------------------------------------


def prices_alone(ticks: int) -> list[float]:
    hub = new_hub()
    peer = watch(hub, open_private(hub))
    got = follow(hub, peer, schedule.instant(T0, 0.1, ticks))
    assert [e["seq"] for e in got] == list(range(1, ticks + 1))
    return [e["price"] for e in got]


def test_a_stream_alone_follows_simulation_path():
    assert prices_alone(300) == path(PARAMS, 42, 301)[1:].tolist()


def test_a_streams_prices_do_not_depend_on_neighbours_with_the_same_schedule():
    hub = new_hub()
    for seed in range(5):  # steps in the same vectorised calls as the watched stream
        open_private(hub, GBMParams(10.0 + seed, 0.2, 0.9, 2.0), seed=seed)
    peer = watch(hub, open_private(hub))
    for seed in range(5, 8):
        open_private(hub, GBMParams(5.0, -0.1, 0.1, 1.0), seed=seed)
    got = follow(hub, peer, schedule.instant(T0, 0.1, 300))
    assert [e["price"] for e in got] == prices_alone(300)


def test_a_streams_prices_do_not_depend_on_neighbours_with_other_schedules():
    hub = new_hub()
    open_private(hub, seed=42, interval=0.05)  # the same seed and params, twice as fast
    open_private(hub, GBMParams(3.0, 0.0, 2.0, 10.0), seed=7, interval=0.03)
    peer = watch(hub, open_private(hub))
    got = follow(hub, peer, schedule.instant(T0, 0.1, 300), step=0.01)
    assert [e["price"] for e in got] == prices_alone(300)


def test_a_streams_prices_do_not_depend_on_neighbours_coming_and_going():
    hub = new_hub()
    early = [open_private(hub, seed=s) for s in range(10)]
    for stream in early[::2]:  # free slots below, so the watched stream lands in a reused one
        hub.detach(stream, Peer(), 1)
    peer = watch(hub, open_private(hub))
    got = follow(hub, peer, schedule.instant(T0, 0.1, 150))
    later = [open_private(hub, seed=s) for s in range(100, 200)]  # makes the bank grow
    got += follow_from(hub, peer, 151, 300)
    for stream in later:
        hub.detach(stream, Peer(), 1)
    got += follow_from(hub, peer, 301, 400)
    assert [e["seq"] for e in got] == list(range(1, 401))
    assert [e["price"] for e in got] == path(PARAMS, 42, 401)[1:].tolist()


def follow_from(hub: Hub, peer: Peer, first: int, last: int) -> list[dict[str, Any]]:
    events = []
    for k in range(first, last + 1):
        hub.advance(schedule.instant(T0, 0.1, k))
        events += peer.events()
    return events


def test_a_stream_opened_mid_way_starts_at_its_own_seq_on_the_path():
    hub = new_hub()
    stream, cursor = hub.open_private(PARAMS, 42, T0, 0.1, None, 250, first=248)
    assert cursor is not None and cursor.take(3)[0].tolist() == path(PARAMS, 42, 251)[248:].tolist()
    assert hub.current(stream) == (250, path(PARAMS, 42, 251)[250],
                                   schedule.instant(T0, 0.1, 250))


def test_a_freed_slot_serves_a_new_stream_from_its_own_start():
    hub = new_hub()
    old = open_private(hub, seed=1)
    old_peer = watch(hub, old)
    follow(hub, old_peer, schedule.instant(T0, 0.1, 70))  # the old stream is mid-block
    hub.detach(old, old_peer, 1)
    params = GBMParams(9.0, 0.3, 0.2, 3.0)
    new, _ = hub.open_private(params, 2, T0, 0.1, None, 70)  # joins the schedule at seq 70
    assert new.slot == old.slot
    peer = watch(hub, new)
    got = follow_from(hub, peer, 71, 300)
    assert [e["seq"] for e in got] == list(range(71, 301))
    assert [e["price"] for e in got] == path(params, 2, 301)[71:].tolist()


# --- opening and closing ------------------------------------------------------------------------


def test_a_hub_starts_with_one_stream_per_symbol():
    hub = new_hub()
    assert hub.streams == len(MARKET.symbols)
    assert [s.symbol for s in hub.symbols] == ["ACME", "BOLT", "SLOW"]


def test_closing_a_private_stream_frees_it():
    hub = new_hub()
    stream = open_private(hub)
    peer = watch(hub, stream)
    assert (hub.streams, hub.subscriptions) == (4, 1)
    hub.detach(stream, peer, 1)
    assert (hub.streams, hub.subscriptions, len(hub.bank)) == (3, 0, 3)


def test_a_private_stream_takes_exactly_one_subscriber():
    hub = new_hub()
    stream = open_private(hub)
    watch(hub, stream, 1)
    with pytest.raises(ValueError, match="a private stream has one subscriber"):
        hub.attach(stream, Peer(), 2)


def test_a_closed_private_stream_is_never_stepped_again():
    hub = new_hub()
    stream = open_private(hub)
    peer = watch(hub, stream)
    hub.detach(stream, peer, 1)
    stepped = hub.ticks_stepped
    symbols_due = sum(
        schedule.current_seq(s.t0, s.interval, T0 + 1) - hub.current(s)[0] for s in hub.symbols)
    hub.advance(T0 + 1)
    assert hub.ticks_stepped - stepped == symbols_due


def test_detaching_the_last_subscriber_of_a_symbol_keeps_the_symbol():
    hub = new_hub()
    acme = symbol(hub, "ACME")
    peer = watch(hub, acme)
    hub.detach(acme, peer, 1)
    assert hub.streams == 3 and hub.symbol("ACME") is acme


def test_detaching_twice_counts_the_subscription_once():
    hub = new_hub()
    acme = symbol(hub, "ACME")
    peer = watch(hub, acme)
    hub.detach(acme, peer, 1)
    hub.detach(acme, peer, 1)
    assert hub.subscriptions == 0


# --- symbols ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ACME", "BOLT", "SLOW"])
def test_a_symbol_starts_at_its_current_seq_on_its_path(name):
    spec = spec_of(MARKET, name)
    stream = symbol(new_hub(), name)
    seq = schedule.current_seq(spec.t0, spec.interval, NOW)
    assert new_hub().current(stream) == (
        seq, path(spec.params, spec.seed, seq + 1)[seq], schedule.instant(spec.t0, spec.interval,
                                                                          seq))


@pytest.mark.parametrize("name", ["ACME", "BOLT", "SLOW"])
def test_symbols_keep_ticking_without_subscribers(name):
    hub = new_hub()
    spec = spec_of(MARKET, name)
    later = NOW + 3.0
    assert hub.advance(later) == []  # nobody to tell
    assert hub.current(symbol(hub, name))[0] == schedule.current_seq(spec.t0, spec.interval,
                                                                    later)


def test_a_symbol_subscribed_later_continues_where_the_unwatched_symbol_went():
    hub = new_hub()
    spec = spec_of(MARKET, "BOLT")
    hub.advance(NOW + 2.0)
    peer = watch(hub, symbol(hub, "BOLT"))
    seq = hub.current(symbol(hub, "BOLT"))[0]
    hub.advance(schedule.instant(spec.t0, spec.interval, seq + 1))
    [tick] = peer.events()
    assert (tick["seq"], tick["price"]) == (seq + 1, path(spec.params, spec.seed, seq + 2)[-1])


@pytest.mark.parametrize("name", ["ACME", "BOLT", "SLOW"])
def test_a_symbols_ring_replays_its_path_right_after_start(name):
    hub = new_hub()
    spec = spec_of(MARKET, name)
    seq = hub.current(symbol(hub, name))[0]
    assert hub.recent(symbol(hub, name), 0).tolist() == path(spec.params, spec.seed,
                                                            seq + 1).tolist()


def test_a_symbols_ring_replays_its_path_after_wrapping_around():
    hub = new_hub(ring=16)
    spec = spec_of(MARKET, "BOLT")
    hub.advance(NOW + 3.0)  # 150 ticks: the ring of 16 wrapped many times
    seq = hub.current(symbol(hub, "BOLT"))[0]
    assert hub.recent(symbol(hub, "BOLT"), seq - 15).tolist() == path(
        spec.params, spec.seed, seq + 1)[seq - 15:].tolist()


def test_a_symbols_ring_refuses_ticks_it_no_longer_keeps():
    hub = new_hub(ring=16)
    hub.advance(NOW + 3.0)
    stream = symbol(hub, "BOLT")
    seq = hub.current(stream)[0]
    with pytest.raises(ValueError, match=f"ticks {seq - 16}..{seq} of BOLT are not kept"):
        hub.recent(stream, seq - 16)


def test_recent_from_one_past_the_current_tick_is_empty():
    hub = new_hub()
    stream = symbol(hub, "ACME")
    assert hub.recent(stream, hub.current(stream)[0] + 1).tolist() == []


# --- the schedule and fan-out -------------------------------------------------------------------


def test_next_due_is_the_earliest_next_instant_of_any_stream():
    hub = new_hub()
    expected = min(schedule.instant(s.t0, s.interval, hub.current(s)[0] + 1) for s in hub.symbols)
    assert hub.next_due() == expected


def test_next_due_includes_a_faster_private_stream():
    hub = new_hub()
    stream, _ = hub.open_private(PARAMS, 1, NOW, 0.001, None, 0)
    assert hub.next_due() == schedule.instant(NOW, 0.001, 1)
    assert hub.current(stream)[0] == 0


def test_every_subscriber_of_a_symbol_gets_the_same_tick_under_its_own_sub():
    hub = new_hub()
    stream = hub.symbol("ACME")
    assert stream is not None
    a, b = watch(hub, stream, 3), watch(hub, stream, 8)
    hub.advance(stream.t0 + (hub.current(stream)[0] + 1) * stream.interval)
    [ta], [tb] = a.events(), b.events()
    assert (ta["sub"], tb["sub"]) == (3, 8)
    assert {**ta, "sub": 0} == {**tb, "sub": 0}


def test_advance_reports_each_peer_with_parts_once():
    hub = new_hub()
    peer = Peer()
    for sub, seed in enumerate(range(5), start=1):
        hub.attach(open_private(hub, seed=seed), peer, sub)
    assert hub.advance(schedule.instant(T0, 0.1, 3)) == [peer]
    assert len(peer.events()) == 15


def test_a_gap_longer_than_max_rounds_is_caught_up_by_the_next_advances_without_gap():
    hub = new_hub()
    stream, _ = hub.open_private(PARAMS, 42, T0, 0.001, None, 0)
    peer = watch(hub, stream)
    late = T0 + 2.5  # 2,500 instants due at once
    seqs: list[int] = []
    for _ in range(4):
        hub.advance(late)
        seqs += [e["seq"] for e in peer.events()]
    assert MAX_ROUNDS < 2_500
    assert seqs == list(range(1, 2_501))


def test_one_advance_does_a_bounded_number_of_steps_and_the_next_ones_go_on_without_gap():
    hub = new_hub()
    streams = [hub.open_private(PARAMS, seed, T0, 0.001, None, 0)[0] for seed in range(200)]
    peer = Peer()
    for sub, stream in enumerate(streams, 1):
        hub.attach(stream, peer, sub)
    late = T0 + 1.0  # 1,000 instants of 200 streams due at once: 200,000 steps
    counts = []
    while hub.next_due() <= late:
        before = hub.ticks_stepped
        hub.advance(late)
        counts.append(hub.ticks_stepped - before)
    assert max(counts) <= MAX_STEPS + hub.streams  # the round that passes it is finished
    assert len(counts) >= 200_000 // (MAX_STEPS + hub.streams)
    by_sub: dict[int, list[int]] = {}
    for event in peer.events():
        by_sub.setdefault(event["sub"], []).append(event["seq"])
    assert all(seqs == list(range(1, 1_001)) for seqs in by_sub.values())


def test_the_hub_counts_the_ticks_a_second_its_subscriptions_receive():
    hub = new_hub()
    acme = hub.symbol("ACME")
    assert acme is not None
    private = open_private(hub, interval=0.01)
    peer = Peer()
    hub.attach(acme, peer, 1)
    hub.attach(private, peer, 2)
    assert hub.tick_rate == pytest.approx(1 / acme.interval + 100)
    hub.detach(private, peer, 2)
    hub.detach(acme, peer, 1)
    assert hub.tick_rate == pytest.approx(0.0)


def test_a_finite_stream_sends_end_and_tells_the_peer():
    hub = new_hub()
    stream = open_private(hub, periods=3)
    peer = watch(hub, stream, 5)
    hub.advance(schedule.instant(T0, 0.1, 2))
    assert [(e["type"], e["seq"]) for e in peer.events()] == [("tick", 1), ("tick", 2),
                                                               ("end", 2)]
    assert peer.ended == [5]
    assert hub.streams == 3


def test_ticks_of_interleaved_private_streams_reach_exactly_their_own_connections():
    now = 1_800_000_000.0
    hub = Hub(small_market(now), now, ring=100)
    sessions = [new_session(hub, ServerConfig(), now) for _ in range(3)]
    for k in range(30):  # streams opened in turn by the three connections
        sessions[k % 3].receive(orjson.dumps({"op": "subscribe", "seed": k, "interval": 0.1,
                                              "sigma": 0.2}).decode(), now)
    for session in sessions:
        sent(session)  # the acks
    for step in range(1, 4):
        hub.advance(now + 0.1 * step)
    for index, session in enumerate(sessions):
        by_sub: dict[int, list[float]] = {}
        for event in sent(session):
            by_sub.setdefault(event["sub"], []).append(event["price"])
        assert sorted(by_sub) == list(range(1, 11))
        for sub, prices in by_sub.items():
            seed = (sub - 1) * 3 + index
            assert prices == path(GBMParams(70.0, 0.05, 0.2, 1.0), seed, 4)[1:].tolist()


# --- correlated groups, and a symbol out of range at the start ----------------------------------

def test_a_groups_symbols_tick_bit_for_bit_as_the_group_walks():
    from simulation import Market, SymbolSpec
    from simulation.kernels import cholesky
    from simulation.market import Group
    from simulation.walk import GroupWalk
    matrix = ((1.0, 0.7), (0.7, 1.0))
    lower = tuple(tuple(row) for row in cholesky(matrix) or ())
    t0 = NOW - 30.0  # 300 ticks old at the start: a chunk boundary is crossed live
    specs = (SymbolSpec("A", GBMParams(70.0, 0.05, 0.3, 1.0), 0.1, 1, t0),
             SymbolSpec("B", GBMParams(20.0, 0.0, 0.5, 1.0), 0.1, 2, t0),
             SymbolSpec("C", GBMParams(9.0, 0.0, 0.5, 1.0), 0.1, 3, t0))
    hub = Hub(Market(specs, (Group("G", ("A", "B"), matrix, lower),)), NOW, ring=50)
    expected = GroupWalk([(s.params, s.seed) for s in specs[:2]], lower).paths(500)
    a, b = hub.symbol("A"), hub.symbol("B")
    assert a is not None and b is not None
    seq = hub.current(a)[0]
    assert hub.recent(a, seq - 49).tolist() == expected[0][seq - 49:seq + 1].tolist()
    for k in range(seq + 1, 500):
        hub.advance(schedule.instant(t0, 0.1, k))
        assert (hub.current(a)[1], hub.current(b)[1]) == (expected[0][k], expected[1][k])
    c = hub.symbol("C")
    assert c is not None and hub.current(c)[1] == path(specs[2].params, 3, 500)[499]  # alone


def test_a_symbol_already_out_of_range_at_the_start_stays_at_its_last_normal_tick():
    from simulation import Market, SymbolSpec
    t0 = NOW - 100.0
    spec = SymbolSpec("DOOM", GBMParams(1e9, 10.0, 0.0, 2520.0), 1.0, 1, t0)  # inf at step 7
    hub = Hub(Market((spec,)), NOW, ring=10)
    stream = hub.symbol("DOOM")
    assert stream is not None
    seq, price, _ = hub.current(stream)
    assert seq == 6 and price == path(spec.params, 1, 7)[6] < float("inf")
    assert hub.finished(stream) and stream.end_reason == "overflow"
    assert hub.recent(stream, 0).tolist() == path(spec.params, 1, 7).tolist()
    session = new_session(hub, ServerConfig(), NOW)
    session.receive('{"op": "subscribe", "symbol": "DOOM", "history": 3}', NOW)
    out = sent(session)
    while (more := sent(session)):  # the history comes as the connection has room
        out += more
    assert [(e["type"], e.get("seq")) for e in out] == [
        ("subscribed", 6), ("tick", 4), ("tick", 5), ("tick", 6), ("end", 6)]
    assert out[-1]["reason"] == "overflow"
    assert all(isinstance(e.get("price", 0.0), float) for e in out)


# --- fed by the bus -----------------------------------------------------------------------------

def test_a_fed_symbol_follows_the_bus_not_the_clock_and_fills_what_it_skipped() -> None:
    hub = Hub(MARKET, NOW, ring=1_000, fed=True)
    acme = symbol(hub, "ACME")
    peer = watch(hub, acme)
    seq = hub.current(acme)[0]
    hub.advance(NOW + 10.0)  # ten seconds of clock: nothing, the bus said nothing
    assert peer.events() == [] and hub.current(acme)[0] == seq

    spec = spec_of(MARKET, "ACME")
    prices = path(spec.params, spec.seed, seq + 4)
    dirty = hub.feed([BusTick("ACME", seq + 3, float(prices[seq + 3]), 0.0)])  # +1 and +2 skipped
    assert dirty == [peer]
    ticks = peer.events()
    assert [t["seq"] for t in ticks] == [seq + 1, seq + 2, seq + 3]
    assert [t["price"] for t in ticks] == prices[seq + 1:seq + 4].tolist()
    assert [t["time"] for t in ticks] == [schedule.instant(acme.t0, acme.interval, k)
                                          for k in range(seq + 1, seq + 4)]
    assert hub.mismatches == 0 and hub.fed_ticks == 1

    hub.feed([BusTick("ACME", seq + 2, float(prices[seq + 2]), 0.0)])  # late, already sent
    assert peer.events() == []
    hub.feed([BusTick("ACME", seq + 3, 1.5, 0.0)])  # not the computed one
    assert hub.mismatches == 1


def test_a_fed_hub_still_computes_private_streams_by_the_clock() -> None:
    hub = Hub(MARKET, NOW, ring=1_000, fed=True)
    stream = open_private(hub)
    peer = watch(hub, stream)
    hub.advance(schedule.instant(T0, 0.1, 3))
    assert [t["seq"] for t in peer.events()] == [1, 2, 3]


def test_a_long_gap_is_stepped_a_bounded_piece_per_call() -> None:
    hub = Hub(MARKET, NOW, ring=100, fed=True)
    bolt = symbol(hub, "BOLT")
    seq = hub.current(bolt)[0]
    far = seq + MAX_ROUNDS + 50
    hub.feed([BusTick("BOLT", far, 1.0, 0.0)])
    assert hub.current(bolt)[0] < far and hub.next_due() == -float("inf")
    hub.advance(NOW)
    assert hub.current(bolt)[0] == far and hub.next_due() != -float("inf")
