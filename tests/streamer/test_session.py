"""The per-connection state machine (streamer/session.py), driven by plain function calls.

A :class:`Client` wraps a Session: it feeds a message and a chosen ``now`` to
``session.receive`` and decodes ``session.data_to_send()`` the way a client reads a frame.
Ticks are produced by calling ``hub.advance(now)`` by hand. No network, no sleeping.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulation import GBMParams, HestonParams, MertonParams, OUParams, path, path_and_vols
from streamer import schedule
from streamer.config import CATCHUP_STEPS_PER_OP, ServerConfig
from streamer.hub import Hub
from streamer.session import Session
from tests.conftest import small_market, spec_of
from tests.streamer.drive import new_session, sent
from wire.names import PICKED_SEED_BOUND

NOW = 1_764_412_345.25
MARKET = small_market(NOW)
ACME = spec_of(MARKET, "ACME")
SYMBOL_T0 = ACME.t0
ACME_SEQ = schedule.current_seq(ACME.t0, ACME.interval, NOW)  # 105
DEFAULT = GBMParams(70.0, 0.05, 0.3, 1.0)


def make_hub(config: ServerConfig, now: float = NOW) -> Hub:
    """A hub as the server builds it: the ring covers the largest history and replay."""
    return Hub(small_market(now), now, ring=max(config.max_history, config.max_replay))


class Client:
    """One connection's session; every call returns the events of one frame."""

    def __init__(self, hub: Hub, config: ServerConfig) -> None:
        self.session = new_session(hub, config)

    def send(self, message: dict[str, Any] | str, now: float = NOW) -> list[dict[str, Any]]:
        text = message if isinstance(message, str) else json.dumps(message)
        self.session.receive(text, now)
        return self.frame()

    def frame(self) -> list[dict[str, Any]]:
        """The events gathered since the last call, decoded as a client decodes a frame."""
        return sent(self.session)

    def subscribe(self, now: float = NOW, **fields: Any) -> dict[str, Any]:
        events = self.send({"op": "subscribe", **fields}, now)
        assert events[0]["type"] == "subscribed", events
        return events[0]


@pytest.fixture
def config() -> ServerConfig:
    return ServerConfig()


@pytest.fixture
def hub(config: ServerConfig) -> Hub:
    return make_hub(config)


@pytest.fixture
def client(hub: Hub, config: ServerConfig) -> Client:
    return Client(hub, config)


def error(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The one event of a frame, which must be an error."""
    assert len(events) == 1 and events[0]["type"] == "error", events
    return events[0]


def ticks(events: list[dict[str, Any]], sub: int | None = None) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "tick" and (sub is None or e["sub"] == sub)]


def run(hub: Hub, client: Client, t0: float, interval: float, seqs: range,
        ) -> list[dict[str, Any]]:
    """Advance the hub to each instant in turn; return every event the client got."""
    events = []
    for k in seqs:
        hub.advance(schedule.instant(t0, interval, k))
        events += client.frame()
    return events


# --- errors: bad_json, bad_request --------------------------------------------------------------


def test_text_that_is_not_json_gets_bad_json(client):
    assert error(client.send("not json")) == {
        "type": "error", "id": None, "code": "bad_json", "field": None,
        "message": "message is not valid JSON: Expecting value"}


@pytest.mark.parametrize(("raw", "field", "message"), [
    ("[1, 2]", None, "a message must be a JSON object, got an array"),
    ('{"id": 1}', "op", "missing field op"),
    ('{"op": "sub", "id": 1}', "op",
     "unknown op 'sub'; expected one of subscribe, unsubscribe, list, symbols, ping"),
    ('{"op": "ping", "id": 1, "foo": 2}', "foo", "unknown field 'foo' for op ping"),
    ('{"op": "subscribe", "id": 1, "sigma": "abc"}', "sigma", "sigma must be a number, got 'abc'"),
])
def test_a_malformed_operation_gets_bad_request(client, raw, field, message):
    got = error(client.send(raw))
    assert (got["code"], got["field"], got["message"]) == ("bad_request", field, message)


def test_a_binary_frame_gets_bad_request(client):
    client.session.receive_binary(b"\x00\x01\x02", NOW)
    assert error(client.frame()) == {
        "type": "error", "id": None, "code": "bad_request", "field": None,
        "message": "binary frames are not accepted (3 bytes); send each JSON message as a "
                   "text frame"}


# --- errors: invalid_params ---------------------------------------------------------------------

SYMBOL_ONLY = "cannot be combined with symbol: a symbol's parameters are fixed by the market"


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"startPrice": 0}, "startPrice", "startPrice must be a finite number > 0 and <= 1e+09, got 0"),
    ({"startPrice": 1e9 + 1}, "startPrice",
     "startPrice must be a finite number > 0 and <= 1e+09, got 1000000001.0"),
    ({"startPrice": float("nan")}, "startPrice",
     "startPrice must be a finite number > 0 and <= 1e+09, got nan"),
    ({"mu": -10.5}, "mu", "mu must be a finite number >= -10 and <= 10, got -10.5"),
    ({"mu": 10.5}, "mu", "mu must be a finite number >= -10 and <= 10, got 10.5"),
    ({"mu": float("nan")}, "mu", "mu must be a finite number >= -10 and <= 10, got nan"),
    ({"sigma": -1.0}, "sigma", "sigma must be a finite number >= 0 and <= 10, got -1.0"),
    ({"sigma": 10.5}, "sigma", "sigma must be a finite number >= 0 and <= 10, got 10.5"),
    ({"sigma": float("nan")}, "sigma", "sigma must be a finite number >= 0 and <= 10, got nan"),
    ({"delta": 0}, "delta", "delta must be a finite number >= 1e-09 and <= 2520, got 0"),
    ({"delta": 2521}, "delta", "delta must be a finite number >= 1e-09 and <= 2520, got 2521"),
    ({"delta": float("nan")}, "delta", "delta must be a finite number >= 1e-09 and <= 2520, got nan"),
    ({"interval": 0.0005}, "interval",
     "interval must be a number of seconds from 0.001 to 3600, got 0.0005"),
    ({"interval": 3601}, "interval",
     "interval must be a number of seconds from 0.001 to 3600, got 3601"),
    ({"interval": float("nan")}, "interval",
     "interval must be a number of seconds from 0.001 to 3600, got nan"),
    ({"seed": -1}, "seed", "seed must be an integer from 0 to 2**64-1, got -1"),
    ({"seed": 2**64}, "seed", "seed must be an integer from 0 to 2**64-1, got 18446744073709551616"),
    ({"periods": 0}, "periods", "periods must be 1..1000000 or null, got 0"),
    ({"periods": 1_000_001}, "periods", "periods must be 1..1000000 or null, got 1000001"),
    ({"history": -1}, "history", "history must be 0..10000, got -1"),
    ({"history": 10_001}, "history", "history must be 0..10000, got 10001"),
    ({"symbol": "ACME", "fromSeq": -1}, "fromSeq", "fromSeq must be >= 0, got -1"),
    ({"symbol": "ACME", "fromSeq": ACME_SEQ + 2}, "fromSeq",
     f"fromSeq {ACME_SEQ + 2} is ahead of the stream, whose current seq is {ACME_SEQ}"),
    ({"seed": 1, "t0": NOW - 10, "interval": 1.0, "fromSeq": 12}, "fromSeq",
     "fromSeq 12 is ahead of the stream, whose current seq is 10"),
    ({"fromSeq": 0}, "fromSeq",
     "fromSeq resumes a stream, which needs the seed and t0 of its subscribed reply"),
    ({"seed": 1, "fromSeq": 0}, "fromSeq",
     "fromSeq resumes a stream, which needs the seed and t0 of its subscribed reply"),
    ({"t0": NOW - 1, "fromSeq": 0}, "t0", "t0 names a stream only together with its seed"),
    ({"t0": NOW - 1}, "t0", "t0 names a stream only together with its seed"),
    ({"t0": NOW + 1, "seed": 1}, "t0",
     "t0 must be epoch seconds not in the future, got 1764412346.25"),
    ({"t0": -1.0, "seed": 1}, "t0", "t0 must be epoch seconds not in the future, got -1.0"),
    ({"symbol": "ACME", "t0": 5.0}, "t0",
     f"t0 of ACME is {SYMBOL_T0!r}, got 5.0: the market's session changed, so its seq numbers "
     "name other ticks"),
    ({"symbol": "ACME", "startPrice": 70.0}, "startPrice", f"startPrice {SYMBOL_ONLY}"),
    ({"symbol": "ACME", "mu": 0.05}, "mu", f"mu {SYMBOL_ONLY}"),
    ({"symbol": "ACME", "sigma": 0.1}, "sigma", f"sigma {SYMBOL_ONLY}"),
    ({"symbol": "ACME", "delta": 1.0}, "delta", f"delta {SYMBOL_ONLY}"),
    ({"symbol": "ACME", "interval": 1.0}, "interval", f"interval {SYMBOL_ONLY}"),
    ({"symbol": "ACME", "seed": 1}, "seed", f"seed {SYMBOL_ONLY}"),
    ({"symbol": "ACME", "periods": 10}, "periods", f"periods {SYMBOL_ONLY}"),
    ({"symbol": "ACME", "history": 1, "fromSeq": 0}, "history",
     "give history or fromSeq, not both"),
    ({"seed": 1, "t0": NOW - 1, "history": 1, "fromSeq": 0}, "history",
     "give history or fromSeq, not both"),
])
def test_an_out_of_range_subscribe_gets_invalid_params_naming_the_field(
        client, hub, fields, field, message):
    got = error(client.send({"op": "subscribe", "id": 9, **fields}))
    assert got == {"type": "error", "id": 9, "code": "invalid_params", "field": field,
                   "message": message}
    assert client.session.subs == {} and hub.subscriptions == 0


def test_a_refused_private_subscribe_opens_no_stream(client, hub):
    before = hub.streams
    client.send({"op": "subscribe", "seed": 1, "t0": NOW - 10, "interval": 1.0, "fromSeq": 12})
    assert hub.streams == before


# --- errors: unknown_symbol, unknown_subscription -----------------------------------------------


def test_an_unknown_symbol_gets_unknown_symbol(client):
    assert error(client.send({"op": "subscribe", "id": 2, "symbol": "NOPE"})) == {
        "type": "error", "id": 2, "code": "unknown_symbol", "field": "symbol",
        "message": "unknown symbol 'NOPE'; the symbols op lists the market"}


def test_unsubscribing_an_unknown_sub_gets_unknown_subscription(client):
    assert error(client.send({"op": "unsubscribe", "id": 3, "sub": 7})) == {
        "type": "error", "id": 3, "code": "unknown_subscription", "field": "sub",
        "message": "no subscription 7 on this connection"}


def test_unsubscribing_twice_gets_unknown_subscription_the_second_time(client):
    client.subscribe(symbol="ACME")
    client.send({"op": "unsubscribe", "sub": 1})
    assert error(client.send({"op": "unsubscribe", "sub": 1}))["code"] == "unknown_subscription"


# --- errors: limit_exceeded ---------------------------------------------------------------------


def test_a_subscription_beyond_max_subscriptions_gets_limit_exceeded(hub, config):
    client = Client(hub, replace(config, max_subscriptions=2))
    client.subscribe(symbol="ACME")
    client.subscribe(symbol="BOLT")
    assert error(client.send({"op": "subscribe", "id": 3, "symbol": "SLOW"})) == {
        "type": "error", "id": 3, "code": "limit_exceeded", "field": None,
        "message": "a connection may hold at most 2 subscriptions"}
    assert sorted(client.session.subs) == [1, 2]


def test_unsubscribing_makes_room_under_max_subscriptions(hub, config):
    client = Client(hub, replace(config, max_subscriptions=2))
    client.subscribe(symbol="ACME")
    client.subscribe(symbol="BOLT")
    client.send({"op": "unsubscribe", "sub": 1})
    assert client.subscribe(symbol="SLOW")["sub"] == 3


def test_a_message_longer_than_max_message_bytes_gets_limit_exceeded(client, config):
    raw = '{"op": "ping", "id": 1}'.ljust(config.max_message_bytes + 1)
    assert error(client.send(raw)) == {
        "type": "error", "id": None, "code": "limit_exceeded", "field": None,
        "message": "message is 4097 bytes; the limit is 4096"}


def test_a_message_of_exactly_max_message_bytes_is_answered(client, config):
    raw = '{"op": "ping", "id": 1}'.ljust(config.max_message_bytes)
    assert [e["type"] for e in client.send(raw)] == ["pong"]


def test_max_message_bytes_counts_utf8_bytes_not_characters(client, config):
    # 2,049 "é" are 2,049 characters but 4,098 bytes of UTF-8: over the limit in bytes
    # (the unit of the setting, and of the frame on the wire), under it in characters.
    symbol = "é" * ((config.max_message_bytes // 2) + 1)
    raw = json.dumps({"op": "subscribe", "id": 1, "symbol": symbol}, ensure_ascii=False)
    assert len(raw) <= config.max_message_bytes < len(raw.encode())
    got = error(client.send(raw))
    assert (got["code"], got["message"]) == (
        "limit_exceeded",
        f"message is {len(raw.encode())} bytes; the limit is {config.max_message_bytes}")


def test_a_symbol_from_seq_replaying_more_than_max_replay_gets_limit_exceeded(config):
    config = replace(config, max_replay=10)
    client = Client(make_hub(config), config)
    from_seq = ACME_SEQ - 10  # would replay 11 ticks
    assert error(client.send({"op": "subscribe", "id": 4, "symbol": "ACME",
                              "fromSeq": from_seq})) == {
        "type": "error", "id": 4, "code": "limit_exceeded", "field": "fromSeq",
        "message": f'fromSeq {from_seq} would replay 11 ticks; the limit is 10 (pace "asap" '
                   'has none)'}


def test_a_symbol_from_seq_replaying_exactly_max_replay_is_accepted(config):
    config = replace(config, max_replay=10)
    client = Client(make_hub(config), config)
    events = client.send({"op": "subscribe", "symbol": "ACME", "fromSeq": ACME_SEQ - 9})
    assert [e["seq"] for e in ticks(events)] == list(range(ACME_SEQ - 9, ACME_SEQ + 1))


def test_a_private_from_seq_replaying_more_than_max_replay_gets_limit_exceeded(hub, config):
    client = Client(hub, replace(config, max_replay=10))
    got = error(client.send({"op": "subscribe", "id": 4, "seed": 1, "interval": 1.0,
                             "t0": NOW - 20.25, "fromSeq": 0}))
    assert (got["code"], got["field"], got["message"]) == (
        "limit_exceeded", "fromSeq",
        'fromSeq 0 would replay 21 ticks; the limit is 10 (pace "asap" has none)')


def test_a_t0_needing_more_catch_up_than_max_catchup_gets_limit_exceeded(hub, config):
    client = Client(hub, replace(config, max_catchup=100))
    t0 = NOW - 10
    assert error(client.send({"op": "subscribe", "id": 5, "seed": 1, "interval": 0.01,
                              "t0": t0})) == {
        "type": "error", "id": 5, "code": "limit_exceeded", "field": "t0",
        "message": f"resuming from t0 {t0!r} means computing 1000 steps; the limit is 100"}


def busy(session: Session) -> bool:
    """``session.busy``, read afresh (mypy would keep what an earlier assert narrowed it to)."""
    return session.busy


def test_a_far_resume_is_computed_a_piece_per_work_call_then_answered_with_the_paths_price(
        hub, config):
    client = Client(hub, config)
    seq = 2 * CATCHUP_STEPS_PER_OP + 5
    assert client.send({"op": "subscribe", "id": 6, "seed": 3, "interval": 0.001,
                        "t0": NOW - seq / 1000, "fromSeq": seq - 2}) == []
    session = client.session
    assert busy(session) and not session.subs
    assert session.work() is False and client.frame() == []  # 2 of the 3 pieces
    assert session.work() is True and not busy(session)
    events = client.frame()
    expected = path(DEFAULT, 3, seq + 1)
    assert events[0]["type"] == "subscribed" and events[0]["seq"] == seq
    assert events[0]["price"] == expected[seq]
    assert [e["price"] for e in events[1:]] == expected[seq - 2:].tolist()  # the replay
    assert session.work() is True  # nothing pending: nothing done


def test_a_session_closed_during_a_catch_up_drops_it(hub, config):
    client = Client(hub, config)
    client.send({"op": "subscribe", "seed": 3, "t0": NOW - 3 * CATCHUP_STEPS_PER_OP})
    assert busy(client.session)
    client.session.close()
    assert not busy(client.session) and client.session.work() is True
    assert hub.private_streams == 0 and client.frame() == []


def test_a_far_resume_whose_price_overflows_is_invalid_params_once_computed(hub, config):
    client = Client(hub, config)
    assert client.send({"op": "subscribe", "id": 7, "seed": 1, "interval": 1.0, "mu": 10.0,
                        "startPrice": 1e9, "sigma": 0.0, "delta": 2520.0,
                        "t0": NOW - 2 * CATCHUP_STEPS_PER_OP}) == []
    while not client.session.work():
        pass
    got = error(client.frame())
    assert (got["id"], got["code"], got["field"]) == (7, "invalid_params", "t0")
    assert hub.private_streams == 0


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("id_", [17, "req-17", 0, -3, "", "x" * 64])
def test_the_id_is_echoed_in_the_ack(client, id_):
    assert client.subscribe(id=id_, symbol="ACME")["id"] == id_


@pytest.mark.parametrize("id_", [17, "req-17"])
def test_the_id_is_echoed_in_an_error(client, id_):
    assert error(client.send({"op": "subscribe", "id": id_, "symbol": "NOPE"}))["id"] == id_


@pytest.mark.parametrize(("op", "reply"), [("ping", "pong"), ("list", "subscriptions"),
                                           ("symbols", "symbols")])
def test_the_id_is_echoed_in_every_reply(client, op, reply):
    [event] = client.send({"op": op, "id": "abc"})
    assert (event["type"], event["id"]) == (reply, "abc")


def test_an_operation_without_id_is_answered_with_id_null(client):
    [event] = client.send({"op": "ping"})
    assert event["id"] is None


def answer(client: Client, raw: str) -> dict[str, Any]:
    """The one event answering ``raw``; an exception out of the session fails the test."""
    try:
        [event] = client.send(raw)
    except Exception as exc:
        pytest.fail(f"session.receive raised {type(exc).__name__}: {exc}")
    return event


@pytest.mark.parametrize("id_", [2**64, -(2**63) - 1, 10**30])
def test_an_id_beyond_64_bits_is_answered_not_raised(client, id_):
    # orjson cannot encode integers beyond 64 bits: the reply must still be a valid frame,
    # either echoing the id exactly or refusing it as bad_request naming "id".
    event = answer(client, f'{{"op": "ping", "id": {id_}}}')
    assert (event["type"], event["id"]) == ("pong", id_) or (
        event["type"], event["code"], event["field"]) == ("error", "bad_request", "id")


@pytest.mark.parametrize("raw", [r'{"op": "ping", "id": "\ud800"}',
                                 r'{"op": "subscribe", "id": "a\udfffb", "symbol": "NOPE"}'])
def test_a_string_id_with_a_lone_surrogate_is_answered_not_raised(client, raw):
    # JSON text may carry "\ud800"; it is not Unicode, so orjson cannot echo it.
    event = answer(client, raw)
    assert (event["type"], event["code"], event["field"]) == ("error", "bad_request", "id")


def test_an_unknown_field_named_with_a_lone_surrogate_is_answered_not_raised(client):
    event = answer(client, r'{"op": "ping", "id": 1, "\ud800": 1}')
    assert (event["type"], event["id"], event["code"]) == ("error", 1, "bad_request")


# --- the subscribed ack -------------------------------------------------------------------------


def test_a_private_ack_reports_the_current_tick_t0_and_normalised_params(client):
    t0 = schedule.aligned_t0(NOW, 0.5)
    assert client.send({"op": "subscribe", "id": 1, "startPrice": 70.0, "mu": 0.05,
                        "sigma": 0.3, "delta": 1.0, "interval": 0.5, "seed": 42}) == [{
        "type": "subscribed", "id": 1, "sub": 1, "symbol": None, "seq": 0, "price": 70.0,
        "time": t0, "t0": t0,
        "params": {"model": "gbm", "startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0,
                   "interval": 0.5, "seed": 42, "periods": None}}]


def test_a_private_ack_t0_is_aligned_to_the_interval_grid(client):
    ack = client.subscribe(interval=0.1, seed=1)
    assert ack["t0"] == 1_764_412_345.2 and ack["time"] == ack["t0"]


def test_a_private_subscribe_without_fields_gets_the_documented_defaults(client):
    params = client.subscribe()["params"]
    seed = params.pop("seed")
    assert params == {"model": "gbm", "startPrice": 70.0, "mu": 0.05, "sigma": 0.3,
                      "delta": 1.0, "interval": 1.0, "periods": None}
    assert isinstance(seed, int)


def test_server_picked_seeds_are_below_2_to_the_53(client):
    seeds = [client.subscribe()["params"]["seed"] for _ in range(64)]
    assert all(isinstance(s, int) and 0 <= s < PICKED_SEED_BOUND == 2**53 for s in seeds)
    assert len(set(seeds)) > 60  # picked at random, not a constant


def test_integer_parameters_are_reported_as_floats(client):
    ack = client.subscribe(startPrice=70, mu=0, sigma=0, delta=1, interval=1, seed=1)
    params = ack["params"]
    assert [type(params[name]) for name in ("startPrice", "mu", "sigma", "delta", "interval")] \
        == [float] * 5
    assert (type(ack["t0"]), type(ack["time"])) == (float, float)


def test_a_given_seed_is_reported_as_given(client):
    assert client.subscribe(seed=2**64 - 1)["params"]["seed"] == 2**64 - 1


def test_a_symbol_ack_reports_the_symbols_current_tick(client):
    ack = client.subscribe(id=2, symbol="ACME")
    assert ack == {
        "type": "subscribed", "id": 2, "sub": 1, "symbol": "ACME", "seq": ACME_SEQ,
        "price": float(path(ACME.params, ACME.seed, ACME_SEQ + 1)[ACME_SEQ]),
        "time": schedule.instant(ACME.t0, ACME.interval, ACME_SEQ), "t0": ACME.t0,
        "params": {"model": "gbm", "startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0,
                   "interval": 0.05, "seed": 1, "periods": None}}


def test_sub_numbers_count_up_per_connection_and_are_not_reused(client):
    assert client.subscribe(symbol="ACME")["sub"] == 1
    assert client.subscribe(symbol="ACME")["sub"] == 2
    client.send({"op": "unsubscribe", "sub": 2})
    assert client.subscribe(symbol="ACME")["sub"] == 3


def test_sub_numbers_are_per_connection(hub, config):
    assert Client(hub, config).subscribe(symbol="ACME")["sub"] == 1
    assert Client(hub, config).subscribe(symbol="ACME")["sub"] == 1


# --- prices are the simulation's, bit for bit ---------------------------------------------------


def test_private_ticks_equal_simulation_path_bit_for_bit(client, hub):
    params = GBMParams(42.0, 0.1, 0.45, 0.5)
    ack = client.subscribe(startPrice=42.0, mu=0.1, sigma=0.45, delta=0.5, interval=0.1, seed=7)
    got = ticks(run(hub, client, ack["t0"], 0.1, range(1, 51)))
    expected = path(params, 7, 51)
    assert [t["seq"] for t in got] == list(range(1, 51))
    assert [t["price"] for t in got] == expected[1:].tolist()
    assert ack["price"] == expected[0]


MODELS = [
    (MertonParams(70.0, 0.05, 0.3, 1.0, 200.0, -0.02, 0.05),
     {"model": "merton", "jumpRate": 200.0, "jumpMean": -0.02, "jumpStd": 0.05}),
    (HestonParams(70.0, 0.05, 1.0, 0.09, 2.0, 0.09, 0.5, -0.7), {"model": "heston"}),
    (OUParams(70.0, 0.3, 1.0, 5.0, 70.0), {"model": "ou"}),
]


@pytest.mark.parametrize(("params", "fields"), MODELS, ids=lambda x: getattr(x, "name", ""))
def test_every_models_ticks_equal_its_path_bit_for_bit_with_history_and_resume(
        client, hub, params, fields):
    # a stream 200 steps old (t0 in the past): history replays 10, from a cursor mid-chunk
    ack, *replayed = client.send({"op": "subscribe", "interval": 0.1, "seed": 9,
                                  "t0": NOW - 20.0, "history": 10, **fields})
    prices, vols = path_and_vols(params, 9, 260)
    seq = ack["seq"]
    history = ticks(replayed)
    assert [t["seq"] for t in history] == list(range(seq - 9, seq + 1))  # the current one too
    assert (ack["price"], ack.get("vol")) == (history[-1]["price"], history[-1].get("vol"))
    live = ticks(run(hub, client, ack["t0"], 0.1, range(seq + 1, seq + 51)))
    got = [*history, *live]
    assert [t["price"] for t in got] == prices[seq - 9:seq + 51].tolist()
    assert [t.get("vol") for t in got] == (
        [None] * 60 if vols is None else vols[seq - 9:seq + 51].tolist())
    resumed = client.send({"op": "subscribe", **fields, "interval": 0.1, "seed": 9,
                           "t0": ack["t0"], "fromSeq": seq + 3},
                          schedule.instant(ack["t0"], 0.1, seq + 50))
    assert [t["price"] for t in ticks(resumed)] == prices[seq + 3:seq + 51].tolist()


def test_a_symbol_with_a_model_of_another_name_is_invalid_params(client):
    [error] = client.send({"op": "subscribe", "symbol": "ACME", "model": "heston"})
    assert (error["code"], error["field"]) == ("invalid_params", "model")
    assert error["message"] == "ACME is a gbm symbol, got model 'heston'"


def test_tick_time_is_the_scheduled_instant_of_its_seq(client, hub):
    ack = client.subscribe(interval=0.1, seed=7)
    got = ticks(run(hub, client, ack["t0"], 0.1, range(1, 21)))
    assert [t["time"] for t in got] == [schedule.instant(ack["t0"], 0.1, k) for k in range(1, 21)]


def test_a_late_tick_keeps_its_scheduled_time(client, hub):
    ack = client.subscribe(interval=0.1, seed=7)
    hub.advance(schedule.instant(ack["t0"], 0.1, 1) + 0.07)  # 70 ms late
    [tick] = ticks(client.frame())
    assert (tick["seq"], tick["time"]) == (1, schedule.instant(ack["t0"], 0.1, 1))


def test_symbol_ticks_equal_simulation_path_bit_for_bit(client, hub):
    client.subscribe(symbol="ACME")
    got = ticks(run(hub, client, ACME.t0, ACME.interval, range(ACME_SEQ + 1, ACME_SEQ + 41)))
    expected = path(ACME.params, ACME.seed, ACME_SEQ + 41)
    assert [t["seq"] for t in got] == list(range(ACME_SEQ + 1, ACME_SEQ + 41))
    assert [t["price"] for t in got] == expected[ACME_SEQ + 1:].tolist()


def test_a_symbol_tick_is_identical_for_two_sessions(hub, config):
    first, second = Client(hub, config), Client(hub, config)
    first.subscribe(symbol="ACME")
    second.subscribe(symbol="SLOW")
    second.subscribe(symbol="ACME")  # sub 2 here, sub 1 there
    dirty = hub.advance(schedule.instant(ACME.t0, ACME.interval, ACME_SEQ + 1))
    assert set(dirty) == {first.session, second.session}
    [a], [b] = ticks(first.frame()), ticks(second.frame())
    assert (a["sub"], b["sub"]) == (1, 2)
    assert (a["seq"], a["price"], a["time"]) == (b["seq"], b["price"], b["time"])


# --- history and resume -------------------------------------------------------------------------


def test_history_sends_the_last_h_ticks_after_the_ack_in_the_same_frame(client):
    events = client.send({"op": "subscribe", "symbol": "ACME", "history": 5})
    assert [e["type"] for e in events] == ["subscribed"] + ["tick"] * 5
    assert [e["seq"] for e in events[1:]] == list(range(ACME_SEQ - 4, ACME_SEQ + 1))
    expected = path(ACME.params, ACME.seed, ACME_SEQ + 1)
    assert [e["price"] for e in events[1:]] == expected[ACME_SEQ - 4:].tolist()
    assert events[-1]["price"] == events[0]["price"]


def test_history_of_a_resumed_private_stream_equals_the_path(client):
    events = client.send({"op": "subscribe", "seed": 11, "interval": 0.5, "t0": NOW - 10.25,
                          "history": 4})
    ack, history = events[0], events[1:]
    assert ack["seq"] == 20
    assert [(t["sub"], t["seq"]) for t in history] == [(1, k) for k in range(17, 21)]
    assert [t["price"] for t in history] == path(DEFAULT, 11, 21)[17:].tolist()
    assert [t["time"] for t in history] == [
        schedule.instant(NOW - 10.25, 0.5, k) for k in range(17, 21)]


def test_history_longer_than_the_stream_starts_at_seq_zero(client):
    events = client.send({"op": "subscribe", "seed": 11, "interval": 0.5, "t0": NOW - 1.25,
                          "history": 100})
    assert [t["seq"] for t in ticks(events)] == [0, 1, 2]
    assert ticks(events)[0]["price"] == 70.0


def test_history_zero_sends_no_ticks(client):
    assert [e["type"] for e in client.send({"op": "subscribe", "symbol": "ACME",
                                            "history": 0})] == ["subscribed"]


def test_resuming_a_private_stream_replays_from_from_seq_then_continues_without_gap(hub, config):
    first = Client(hub, config)
    ack = first.subscribe(interval=0.5, seed=9)
    t0 = ack["t0"]
    seen = ticks(run(hub, first, t0, 0.5, range(1, 11)))
    first.session.close()  # the connection drops after tick 10

    later = schedule.instant(t0, 0.5, 16) + 0.2
    hub.advance(later)
    second = Client(hub, config)
    events = second.send({"op": "subscribe", "interval": 0.5, "seed": 9, "t0": t0,
                          "fromSeq": 8}, later)
    assert events[0]["seq"] == 16
    replayed = ticks(events)
    live = ticks(run(hub, second, t0, 0.5, range(17, 20)))
    resumed = replayed + live
    assert [t["seq"] for t in resumed] == list(range(8, 20))
    expected = path(DEFAULT, 9, 20)
    assert [t["price"] for t in resumed] == expected[8:].tolist()
    assert [t["price"] for t in seen[7:]] == [t["price"] for t in resumed[:3]]
    assert [t["time"] for t in resumed] == [schedule.instant(t0, 0.5, k) for k in range(8, 20)]


def test_resuming_a_symbol_replays_from_from_seq_then_continues_without_gap(client, hub):
    events = client.send({"op": "subscribe", "symbol": "ACME", "t0": ACME.t0,
                          "fromSeq": ACME_SEQ - 30})
    live = run(hub, client, ACME.t0, ACME.interval, range(ACME_SEQ + 1, ACME_SEQ + 6))
    resumed = ticks(events) + ticks(live)
    assert [t["seq"] for t in resumed] == list(range(ACME_SEQ - 30, ACME_SEQ + 6))
    assert [t["price"] for t in resumed] == path(
        ACME.params, ACME.seed, ACME_SEQ + 6)[ACME_SEQ - 30:].tolist()


def test_from_seq_one_past_the_current_tick_replays_nothing_and_continues_live(client, hub):
    events = client.send({"op": "subscribe", "symbol": "ACME", "fromSeq": ACME_SEQ + 1})
    assert [e["type"] for e in events] == ["subscribed"]
    hub.advance(schedule.instant(ACME.t0, ACME.interval, ACME_SEQ + 1))
    assert [t["seq"] for t in ticks(client.frame())] == [ACME_SEQ + 1]


# --- periods and end ----------------------------------------------------------------------------


def test_a_finite_stream_ends_after_tick_periods_minus_one(client, hub):
    ack = client.subscribe(interval=0.1, seed=3, periods=5)
    events = run(hub, client, ack["t0"], 0.1, range(1, 5))
    assert [(e["type"], e["seq"]) for e in events] == [
        ("tick", 1), ("tick", 2), ("tick", 3), ("tick", 4), ("end", 4)]
    assert events[-1] == {"type": "end", "sub": 1, "seq": 4}


def test_the_end_travels_in_the_frame_of_the_last_tick(client, hub):
    ack = client.subscribe(interval=0.1, seed=3, periods=2)
    hub.advance(schedule.instant(ack["t0"], 0.1, 1))
    assert [e["type"] for e in client.frame()] == ["tick", "end"]


def test_an_ended_subscription_is_gone_from_list(client, hub):
    ack = client.subscribe(interval=0.1, seed=3, periods=3)
    client.subscribe(symbol="SLOW")
    run(hub, client, ack["t0"], 0.1, range(1, 3))
    [reply] = client.send({"op": "list"})
    assert [s["sub"] for s in reply["subs"]] == [2]


def test_an_ended_private_stream_is_closed(client, hub):
    before = hub.streams
    ack = client.subscribe(interval=0.1, seed=3, periods=3)
    assert hub.streams == before + 1
    run(hub, client, ack["t0"], 0.1, range(1, 3))
    assert (hub.streams, hub.subscriptions) == (before, 0)


def test_no_tick_follows_the_end(client, hub):
    ack = client.subscribe(interval=0.1, seed=3, periods=3)
    run(hub, client, ack["t0"], 0.1, range(1, 3))
    assert hub.advance(schedule.instant(ack["t0"], 0.1, 10)) == []
    assert client.frame() == []


def test_a_resumed_finite_stream_already_over_gets_its_ack_and_end_at_once(client, hub):
    events = client.send({"op": "subscribe", "seed": 1, "interval": 0.5, "t0": NOW - 10,
                          "periods": 3})
    assert [(e["type"], e["seq"]) for e in events] == [("subscribed", 2), ("end", 2)]
    assert client.session.subs == {} and hub.subscriptions == 0


def test_a_finite_stream_ends_at_its_last_tick_after_a_long_gap(client, hub):
    ack = client.subscribe(interval=0.1, seed=3, periods=5)
    hub.advance(ack["t0"] + 60)
    events = client.frame()
    assert [(e["type"], e["seq"]) for e in events] == [
        ("tick", 1), ("tick", 2), ("tick", 3), ("tick", 4), ("end", 4)]


def test_a_stream_that_overflows_ends_after_its_last_finite_tick(client, hub):
    ack = client.subscribe(startPrice=1e9, mu=10.0, sigma=0.0, delta=2520.0, interval=0.01,
                           seed=1)  # x e**100 a step: past 1.8e308 at step 7
    hub.advance(ack["t0"] + 0.2)
    events = client.frame()
    assert [(e["type"], e["seq"]) for e in events] == [
        ("tick", 1), ("tick", 2), ("tick", 3), ("tick", 4), ("tick", 5), ("tick", 6),
        ("end", 6)]
    assert events[-1] == {"type": "end", "sub": 1, "seq": 6, "reason": "overflow"}
    assert client.session.subs == {} and hub.subscriptions == 0


def test_a_stream_that_underflows_ends_after_its_last_normal_tick(client, hub):
    ack = client.subscribe(startPrice=1e-300, mu=-10.0, sigma=0.0, delta=2520.0,
                           interval=0.01, seed=1)  # x e**-100 a step: below 2.2e-308 at step 1
    hub.advance(ack["t0"] + 0.2)
    events = client.frame()
    assert events == [{"type": "end", "sub": 1, "seq": 0, "reason": "underflow"}]
    assert client.session.subs == {} and hub.subscriptions == 0


def test_a_far_resume_past_an_underflow_is_invalid_params_naming_it(client):
    events = client.send({"op": "subscribe", "startPrice": 70.0, "mu": 0.0, "sigma": 5.0,
                          "delta": 1.0, "interval": 0.001, "seed": 3, "t0": NOW - 20})
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["field"] == "t0"
    assert "leaves the range of normal doubles at seq 14854 (underflow)" in events[0]["message"]


@pytest.mark.parametrize("extra", [{}, {"history": 3}, {"fromSeq": 95}])
def test_resuming_a_stream_past_its_overflow_never_sends_a_null_price(client, extra):
    # docs/protocol.md, frames: prices are JSON numbers. /gbm answers the same path with 400
    # "the path leaves the range of normal doubles"; the stream must not send price null.
    events = client.send({"op": "subscribe", "startPrice": 1e9, "mu": 10.0, "sigma": 0.0,
                          "delta": 2520.0, "interval": 0.01, "seed": 1, "t0": NOW - 1,
                          **extra})
    priced = [e for e in events if e["type"] in ("subscribed", "tick")]
    assert all(isinstance(e["price"], float) for e in priced), events


# --- unsubscribe, list, symbols, ping -----------------------------------------------------------


def test_unsubscribe_is_acknowledged(client):
    client.subscribe(symbol="ACME")
    assert client.send({"op": "unsubscribe", "id": 3, "sub": 1}) == [
        {"type": "unsubscribed", "id": 3, "sub": 1}]


def test_unsubscribe_stops_the_ticks(client, hub):
    ack = client.subscribe(interval=0.1, seed=1)
    run(hub, client, ack["t0"], 0.1, range(1, 3))
    client.send({"op": "unsubscribe", "sub": 1})
    assert hub.advance(schedule.instant(ack["t0"], 0.1, 10)) == []
    assert client.frame() == []


def test_unsubscribing_one_subscription_keeps_the_others(client, hub):
    client.subscribe(symbol="ACME")
    client.subscribe(symbol="ACME")
    client.send({"op": "unsubscribe", "sub": 1})
    hub.advance(schedule.instant(ACME.t0, ACME.interval, ACME_SEQ + 1))
    assert [t["sub"] for t in ticks(client.frame())] == [2]


def test_list_reports_each_subscription_with_its_seq_and_params(client, hub):
    private = client.subscribe(interval=0.5, seed=4)
    client.subscribe(symbol="ACME")
    hub.advance(schedule.instant(private["t0"], 0.5, 1))
    client.frame()
    now = schedule.instant(private["t0"], 0.5, 1)
    [reply] = client.send({"op": "list", "id": 4}, now)
    assert reply == {"type": "subscriptions", "id": 4, "subs": [
        {"sub": 1, "symbol": None, "seq": 1, "params": private["params"]},
        {"sub": 2, "symbol": "ACME", "seq": schedule.current_seq(ACME.t0, ACME.interval, now),
         "params": {"model": "gbm", "startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0,
                    "interval": 0.05, "seed": 1, "periods": None}},
    ]}


def test_list_without_subscriptions_is_empty(client):
    assert client.send({"op": "list", "id": 4}) == [{"type": "subscriptions", "id": 4,
                                                     "subs": []}]


def test_symbols_lists_the_market_with_t0_and_params(client):
    [reply] = client.send({"op": "symbols", "id": 6})
    assert (reply["type"], reply["id"]) == ("symbols", 6)
    assert [(s["symbol"], s["t0"]) for s in reply["symbols"]] == [
        (spec.symbol, spec.t0) for spec in MARKET.symbols]
    assert [s["params"] for s in reply["symbols"]] == [
        {"model": "gbm", **spec.params.values(), "interval": spec.interval,
         "seed": spec.seed, "periods": None} for spec in MARKET.symbols]
    assert all(list(s["params"])[:5] == ["model", "startPrice", "mu", "sigma", "delta"]
               for s in reply["symbols"])  # version 1's order


def test_ping_gets_pong_with_the_time(client):
    assert client.send({"op": "ping", "id": 5}) == [{"type": "pong", "id": 5, "time": NOW}]


# --- errors do not disturb the rest -------------------------------------------------------------


@pytest.mark.parametrize("bad", ["not json", "[]", '{"op": "nope"}',
                                 '{"op": "subscribe", "sigma": -1}', "x" * 5000,
                                 '{"op": "unsubscribe", "sub": 99}'])
def test_an_error_leaves_other_subscriptions_ticking(client, hub, bad):
    ack = client.subscribe(interval=0.1, seed=1)
    before = ticks(run(hub, client, ack["t0"], 0.1, range(1, 4)))
    assert error(client.send(bad, schedule.instant(ack["t0"], 0.1, 3)))
    after = ticks(run(hub, client, ack["t0"], 0.1, range(4, 7)))
    assert [t["seq"] for t in before + after] == list(range(1, 7))
    assert list(client.session.subs) == [1]


def test_a_binary_frame_leaves_other_subscriptions_ticking(client, hub):
    ack = client.subscribe(interval=0.1, seed=1)
    client.session.receive_binary(b"{}", NOW)
    assert error(client.frame())["code"] == "bad_request"
    assert [t["seq"] for t in ticks(run(hub, client, ack["t0"], 0.1, range(1, 4)))] == [1, 2, 3]


# --- batching: what is due at one instant travels in one frame ----------------------------------


def test_two_streams_with_the_same_interval_tick_in_the_same_advance(client, hub):
    a = client.subscribe(interval=0.1, seed=1)
    b = client.subscribe(interval=0.1, seed=2)
    assert a["t0"] == b["t0"]
    dirty = hub.advance(schedule.instant(a["t0"], 0.1, 1))
    assert dirty == [client.session]
    assert [(e["sub"], e["seq"]) for e in client.frame()] == [(1, 1), (2, 1)]


def test_two_finite_streams_with_the_same_interval_end_in_one_frame(client, hub):
    a = client.subscribe(interval=0.1, seed=1, periods=3)
    client.subscribe(interval=0.1, seed=2, periods=3)
    hub.advance(schedule.instant(a["t0"], 0.1, 1))
    client.frame()
    dirty = hub.advance(schedule.instant(a["t0"], 0.1, 2))
    assert dirty == [client.session]
    assert sorted((e["type"], e["sub"], e["seq"]) for e in client.frame()) == [
        ("end", 1, 2), ("end", 2, 2), ("tick", 1, 2), ("tick", 2, 2)]


def test_ticks_due_after_a_long_gap_arrive_in_one_frame_in_seq_order(client, hub):
    ack = client.subscribe(interval=0.01, seed=5)
    dirty = hub.advance(ack["t0"] + 5.0)
    assert dirty == [client.session]
    got = ticks(client.frame())
    assert [t["seq"] for t in got] == list(range(1, 501))
    assert [t["price"] for t in got] == path(DEFAULT, 5, 501)[1:].tolist()


def test_a_stream_that_is_not_due_sends_nothing(client, hub):
    ack = client.subscribe(interval=0.5, seed=5)
    assert hub.advance(schedule.instant(ack["t0"], 0.5, 1) - 0.01) == []
    assert client.frame() == []


# --- closing ------------------------------------------------------------------------------------


def test_closing_the_session_releases_every_subscription(client, hub):
    streams = hub.streams
    client.subscribe(interval=0.1, seed=1)
    client.subscribe(symbol="ACME")
    client.session.close()
    assert (hub.streams, hub.subscriptions) == (streams, 0)
    hub.advance(NOW + 10)
    assert client.frame() == []


# --- whatever the client sends, the session answers with events ---------------------------------

OPS = ["subscribe", "unsubscribe", "list", "symbols", "ping"]
FIELD_NAMES = ["id", "symbol", "startPrice", "mu", "sigma", "delta", "interval", "seed",
               "periods", "history", "fromSeq", "t0", "sub"]
TEXT = st.text(st.characters(exclude_categories=()), max_size=6)  # lone surrogates included
JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70)
                | st.floats(allow_nan=True, allow_infinity=True)
                | st.sampled_from([0, -1, 1, 2**53, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, NOW,
                                   NOW - 3.0, 1e999, "ACME", "BOLT", "\ud800"])
                | TEXT)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6)
FIELDS = st.dictionaries(st.sampled_from(FIELD_NAMES) | TEXT, JSON_SCALARS | JSON_VALUES,
                         max_size=5)
IDS = st.integers() | st.integers(-2**70, 2**70) | TEXT | JSON_SCALARS
MESSAGES = (st.builds(lambda op, id_, fields: {"op": op, "id": id_, **fields},
                      st.sampled_from(OPS), IDS, FIELDS)
            | st.builds(lambda op, fields: {"op": op, **fields}, st.sampled_from(OPS), FIELDS)
            | FIELDS | JSON_VALUES)


FUZZ_HUB = make_hub(ServerConfig(), NOW)


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          report_multiple_bugs=False,
          suppress_health_check=[HealthCheck.too_slow])
@given(message=MESSAGES)
def test_any_json_message_is_answered_with_events_and_never_raises(message):
    config = ServerConfig(max_catchup=10_000)
    session = new_session(FUZZ_HUB, config)
    raw = json.dumps(message)
    try:
        session.receive(raw, NOW)
        events = sent(session)
    finally:
        session.close()
    assert events and all(e["type"] in ("subscribed", "error", "pong", "subscriptions",
                                        "symbols", "unsubscribed", "tick", "end")
                          for e in events)



def test_a_new_private_stream_starts_at_seq_0_even_a_hair_before_an_instant():
    from streamer import schedule as _schedule
    now = 1_800_000_000.005 - _schedule.DUE_SLACK / 2  # within the slack of the next instant
    hub = Hub(small_market(now), now, ring=100)
    session = new_session(hub, ServerConfig(), now)
    session.receive('{"op": "subscribe", "interval": 0.005, "seed": 7}', now)
    ack = sent(session)[0]
    assert (ack["seq"], ack["price"]) == (0, 70.0)


# --- values that parse() lets through are refused here, by name --------------------------------


@pytest.fixture
def session() -> Session:
    config = ServerConfig()
    return new_session(make_hub(config), config)


@pytest.mark.parametrize(("field", "text", "shown"), [
    ("startPrice", "NaN", "nan"),
    ("mu", "Infinity", "inf"),
    ("sigma", "-Infinity", "-inf"),
    ("delta", "1e999", "inf"),
    ("sigma", "1" + "0" * 60, "1" + "0" * 36 + "..."),
    ("startPrice", "-" + "9" * 30, "-" + "9" * 30),
])
def test_non_finite_or_huge_model_values_reach_the_session_as_invalid_params(
        session, field, text, shown):
    session.receive(f'{{"op": "subscribe", "id": 1, "{field}": {text}}}', NOW)
    [error] = sent(session)
    assert (error["type"], error["code"], error["field"], error["id"]) == (
        "error", "invalid_params", field, 1)
    assert error["message"].startswith(f"{field} must be a finite number ")
    assert error["message"].endswith(f", got {shown}")


@pytest.mark.parametrize(("field", "text"), [
    ("interval", "NaN"),
    ("interval", "Infinity"),
    ("interval", "1e999"),
    ("interval", str(2**80)),
    ("periods", str(2**80)),
    ("history", str(2**80)),
    ("seed", str(2**64)),
    ("seed", str(2**200)),
])
def test_other_out_of_range_values_reach_the_session_as_invalid_params(session, field, text):
    session.receive(f'{{"op": "subscribe", "id": 1, "{field}": {text}}}', NOW)
    [error] = sent(session)
    assert (error["type"], error["code"], error["field"]) == ("error", "invalid_params", field)


def test_a_huge_from_seq_reaches_the_session_as_invalid_params(session):
    session.receive(f'{{"op": "subscribe", "symbol": "ACME", "fromSeq": {2**80}}}', NOW)
    [error] = sent(session)
    assert (error["code"], error["field"]) == ("invalid_params", "fromSeq")


def test_a_nan_t0_reaches_the_session_as_invalid_params(session):
    session.receive('{"op": "subscribe", "seed": 1, "t0": NaN}', NOW)
    [error] = sent(session)
    assert (error["code"], error["field"], error["message"]) == (
        "invalid_params", "t0", "t0 must be epoch seconds not in the future, got nan")


# --- the server's budget ------------------------------------------------------------------------


def test_a_subscribe_past_the_servers_tick_budget_is_limit_exceeded_before_any_work():
    config = ServerConfig(max_ticks_per_second=1_500.0)
    hub = make_hub(config)
    client = Client(hub, config)
    client.subscribe(interval=0.001, seed=1)  # 1,000 a second
    events = client.send({"op": "subscribe", "id": 2, "interval": 0.001, "seed": 2})
    assert error(events) == {
        "type": "error", "id": 2, "code": "limit_exceeded", "field": None,
        "message": "this stream's 1000 ticks a second would take the server past its budget of "
                   "1500 a second (its subscriptions take 1000 now)"}
    assert hub.streams == len(MARKET.symbols) + 1
    client.subscribe(symbol="ACME")  # 20 a second more still fits


def test_a_symbol_counts_against_the_budget_too():
    config = ServerConfig(max_ticks_per_second=25.0)
    client = Client(make_hub(config), config)
    client.subscribe(symbol="ACME")  # 20 a second
    assert error(client.send({"op": "subscribe", "symbol": "ACME"}))["code"] == "limit_exceeded"


def test_a_private_stream_past_the_servers_maximum_is_limit_exceeded():
    config = ServerConfig(max_streams=2)
    hub = make_hub(config)
    client = Client(hub, config)
    client.subscribe(seed=1)
    client.subscribe(seed=2)
    assert error(client.send({"op": "subscribe", "seed": 3}))["message"] == (
        "the server runs its maximum of 2 private streams; try later")


@pytest.mark.parametrize("fields", [{"seed": 1, "t0": 10**400}, {"symbol": "ACME", "t0": 10**400},
                                    {"interval": 10**400}, {"history": 10**400},
                                    {"symbol": "ACME", "fromSeq": 10**400},
                                    {"periods": 10**400}, {"startPrice": -(10**400)}])
def test_an_absurd_number_is_invalid_params_naming_its_field_and_others_go_on(client, fields):
    ack = client.subscribe(interval=0.1, seed=9)
    events = client.send({"op": "subscribe", "id": 5, **fields})
    field = next(name for name in fields if name not in ("seed", "symbol"))
    assert (error(events)["code"], error(events)["field"], error(events)["id"]) == (
        "invalid_params", field, 5)
    assert [s.sub for s in client.session.subs.values()] == [ack["sub"]]
