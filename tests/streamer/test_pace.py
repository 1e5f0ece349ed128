"""Replay pacing: ``pace: "asap"`` replays any length of history, from ``fromSeq`` or
``fromTime``, as the client reads, then says ``replayed``; and the errors that name a wrong
``pace`` or ``fromTime``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from simulation import path
from simulation.market import demo_market
from streamer import schedule
from streamer.config import ServerConfig
from streamer.hub import Hub
from tests.streamer.test_session import ACME, ACME_SEQ, NOW, Client, error, make_hub

SMALL = replace(ServerConfig(), max_history=10, max_replay=10)
"""A server that keeps ten ticks of a symbol: any longer replay is made again."""


def replay(client: Client, **fields: Any) -> list[dict[str, Any]]:
    """Every event of a subscribe up to its ``replayed`` (the replay comes a piece a frame)."""
    out = client.send({"op": "subscribe", **fields})
    while not any(e["type"] in ("replayed", "error") for e in out):
        more = client.frame()
        assert more, out[-3:]
        out += more
    return out


def assert_the_path(ticks: list[dict[str, Any]], first: int, last: int) -> None:
    prices = path(ACME.params, ACME.seed, last + 1)
    assert [t["seq"] for t in ticks] == list(range(first, last + 1))
    assert [t["price"] for t in ticks] == prices[first:].tolist()
    assert [t["time"] for t in ticks] == [schedule.instant(ACME.t0, ACME.interval, k)
                                          for k in range(first, last + 1)]


@pytest.mark.parametrize("first", [0, 37])
def test_asap_replays_a_symbol_from_before_its_ring_then_says_replayed(first: int) -> None:
    hub = make_hub(SMALL)
    client = Client(hub, SMALL)
    out = replay(client, symbol="ACME", fromSeq=first, pace="asap")
    assert out[0]["type"] == "subscribed" and out[0]["seq"] == ACME_SEQ
    assert out[-1] == {"type": "replayed", "sub": 1, "seq": ACME_SEQ}
    assert_the_path(out[1:-1], first, ACME_SEQ)
    hub.advance(schedule.instant(ACME.t0, ACME.interval, ACME_SEQ + 1))  # then live
    assert [(e["type"], e["seq"]) for e in client.frame()] == [("tick", ACME_SEQ + 1)]


def test_a_live_replay_that_long_is_still_refused_naming_the_limit() -> None:
    client = Client(make_hub(SMALL), SMALL)
    got = error(client.send({"op": "subscribe", "symbol": "ACME", "fromSeq": 0}))
    assert (got["code"], got["field"]) == ("limit_exceeded", "fromSeq")
    assert 'pace "asap" has none' in got["message"]


def test_from_time_starts_at_the_first_tick_at_or_after_it() -> None:
    client = Client(make_hub(SMALL), SMALL)
    at_40 = schedule.instant(ACME.t0, ACME.interval, 40)
    out = replay(client, symbol="ACME", fromTime=at_40 - 0.001, pace="asap")
    assert out[1]["seq"] == 40 and out[1]["time"] == at_40
    assert_the_path(out[1:-1], 40, ACME_SEQ)
    again = replay(client, symbol="ACME", fromTime=at_40, pace="asap")
    assert again[1]["seq"] == 40
    near = Client(make_hub(SMALL), SMALL).send(  # within the ring: no pace needed
        {"op": "subscribe", "symbol": "ACME",
         "fromTime": schedule.instant(ACME.t0, ACME.interval, ACME_SEQ - 2)})
    assert [e.get("seq") for e in near] == [ACME_SEQ, ACME_SEQ - 2, ACME_SEQ - 1, ACME_SEQ]
    assert not any(e["type"] == "replayed" for e in near)  # pace "live": as in version 1


def test_asap_replays_a_private_stream_past_the_replay_limit() -> None:
    client = Client(make_hub(SMALL), SMALL)
    fields = {"seed": 1, "interval": 1.0, "t0": NOW - 20.25}
    out = replay(client, **fields, fromSeq=0, pace="asap")
    ticks = [e for e in out if e["type"] == "tick"]
    assert [t["seq"] for t in ticks] == list(range(21))
    assert out[-1] == {"type": "replayed", "sub": 1, "seq": 20}


def test_asap_with_nothing_to_replay_says_replayed_at_once() -> None:
    client = Client(make_hub(SMALL), SMALL)
    out = client.send({"op": "subscribe", "symbol": "ACME", "fromSeq": ACME_SEQ + 1,
                       "pace": "asap"})
    assert [e["type"] for e in out] == ["subscribed", "replayed"]
    assert out[1]["seq"] == ACME_SEQ


def test_a_grouped_symbol_replays_as_far_as_the_server_keeps_it() -> None:
    hub = Hub(demo_market(NOW), NOW, ring=10)
    client = Client(hub, SMALL)
    got = error(client.send({"op": "subscribe", "symbol": "OIL", "fromSeq": 0,
                             "pace": "asap"}))
    assert (got["code"], got["field"]) == ("limit_exceeded", "fromSeq")
    assert "correlated group" in got["message"]


@pytest.mark.parametrize(("fields", "field", "says"), [
    ({"symbol": "ACME", "pace": "asap"}, "pace", "give fromSeq or fromTime"),
    ({"symbol": "ACME", "fromSeq": 1, "pace": "fast"}, "pace", 'one of "live", "asap"'),
    ({"symbol": "ACME", "fromSeq": 1, "pace": 1}, "pace", "got 1"),
    ({"symbol": "ACME", "fromSeq": 1, "fromTime": NOW}, "fromTime", "one of them"),
    ({"symbol": "ACME", "history": 3, "fromTime": NOW}, "fromTime", "one of them"),
    ({"symbol": "ACME", "fromTime": NOW + 60}, "fromTime", "ahead of the stream"),
    ({"symbol": "ACME", "fromTime": -1.0}, "fromTime", "epoch seconds"),
    ({"symbol": "ACME", "fromTime": "soon"}, "fromTime", "fromTime"),
    ({"seed": 1, "fromTime": NOW}, "fromTime", "needs the seed and t0"),
])
def test_a_wrong_pace_or_from_time_is_an_error_naming_it(fields: dict[str, Any], field: str,
                                                          says: str) -> None:
    got = error(Client(make_hub(SMALL), SMALL).send({"op": "subscribe", "id": 9, **fields}))
    assert got["field"] == field and says in got["message"], got
    assert got["id"] == 9
