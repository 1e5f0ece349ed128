"""The server's events (wire/events.py): encoding, the hot path's tick texts, and reading.

Every event the server sends is built by a class here; a client reads it back with
``events.read``, which refuses a missing or mistyped field by name.
"""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest

from wire import events
from wire.errors import CommandError, EventError

PARAMS = {"model": "gbm", "startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0,
          "interval": 0.5, "seed": 42, "periods": None}

#: One instance of every event, with the JSON object the protocol says it is.
EXAMPLES = [
    (events.Subscribed(1, 2, None, 0, 70.0, 1764412345.5, 1764412345.5, PARAMS),
     {"type": "subscribed", "id": 1, "sub": 2, "symbol": None, "seq": 0, "price": 70.0,
      "time": 1764412345.5, "t0": 1764412345.5, "params": PARAMS}),
    (events.Unsubscribed(3, 1), {"type": "unsubscribed", "id": 3, "sub": 1}),
    (events.Subscriptions(4, [events.SubscriptionEntry(1, None, 17, PARAMS)]),
     {"type": "subscriptions", "id": 4, "subs": [{"sub": 1, "symbol": None, "seq": 17,
                                                   "params": PARAMS}]}),
    (events.Symbols(6, [events.SymbolEntry("ACME", 1.0, PARAMS, 5, 71.5, 3.5)]),
     {"type": "symbols", "id": 6, "symbols": [{"symbol": "ACME", "t0": 1.0, "params": PARAMS,
                                               "seq": 5, "price": 71.5, "time": 3.5}]}),
    (events.Pong("p", 1.5), {"type": "pong", "id": "p", "time": 1.5}),
    (events.Tick(1, 1, 70.53, 1764412346.0),
     {"type": "tick", "sub": 1, "seq": 1, "price": 70.53, "time": 1764412346.0}),
    (events.End(1, 99), {"type": "end", "sub": 1, "seq": 99}),
    (events.End(1, 99, "overflow"), {"type": "end", "sub": 1, "seq": 99, "reason": "overflow"}),
    (events.Lagging(1, 12, 40), {"type": "lagging", "sub": 1, "skipped": 12, "seq": 40}),
    (events.Replayed(1, 5021), {"type": "replayed", "sub": 1, "seq": 5021}),
    (events.Error(7, "invalid_params", "sigma", "sigma must be a finite number >= 0, got -1.0"),
     {"type": "error", "id": 7, "code": "invalid_params", "field": "sigma",
      "message": "sigma must be a finite number >= 0, got -1.0"}),
]


@pytest.mark.parametrize(("event", "wire"), EXAMPLES)
def test_every_event_encodes_as_the_protocol_says_type_first(event, wire):
    text = event.encode()
    assert orjson.loads(text) == wire
    assert list(orjson.loads(text)) == list(wire)  # field order too


@pytest.mark.parametrize(("event", "wire"), EXAMPLES)
def test_what_the_server_encodes_a_client_reads_back(event, wire):
    assert events.read(orjson.loads(event.encode())) == event


@pytest.mark.parametrize(("event", "wire"), EXAMPLES)
def test_an_encoded_events_type_is_read_from_its_text(event, wire):
    assert events.type_of(event.encode()) == wire["type"]


def test_a_hot_path_ticks_type_is_read_from_its_text():
    texts = events.ticks([events.tick_head(3)], np.array([5]), np.array([1.5]), np.array([2.0]))
    assert [events.type_of(t) for t in texts] == ["tick"]


def test_every_event_type_has_an_example():
    assert {type(event) for event, _ in EXAMPLES} == set(events.EVENTS.values())


def test_an_error_event_is_made_from_a_command_error():
    exc = CommandError("invalid_params", "sigma must be >= 0", "sigma", 7)
    assert events.Error.of(exc) == events.Error(7, "invalid_params", "sigma", "sigma must be >= 0")


def test_command_error_refuses_a_code_outside_the_protocol():
    with pytest.raises(ValueError, match="unknown error code 'oops'"):
        CommandError("oops", "message")


# --- reading -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "message"), [
    ([1], "an event must be a JSON object, got [1]"),
    ({"sub": 1}, "an event without a type: {'sub': 1}"),
    ({"type": "tick", "sub": 1, "seq": 1, "price": 1.0},
     "Tick without time: {'type': 'tick', 'sub': 1, 'seq': 1, 'price': 1.0}"),
    ({"type": "tick", "sub": 1, "seq": "1", "price": 1.0, "time": 2.0},
     "Tick with a mistyped seq: {'type': 'tick', 'sub': 1, 'seq': '1', 'price': 1.0, 'time': 2.0}"),
    ({"type": "tick", "sub": True, "seq": 1, "price": 1.0, "time": 2.0},
     "Tick with a mistyped sub: {'type': 'tick', 'sub': True, 'seq': 1, 'price': 1.0, 'time': 2.0}"),
    ({"type": "symbols", "id": 1, "symbols": [{"symbol": "A"}]},
     "Symbols with a mistyped symbols: {'type': 'symbols', 'id': 1, 'symbols': [{'symbol': 'A'}]}"),
    ({"type": "pong", "id": [1], "time": 1.0},
     "Pong with a mistyped id: {'type': 'pong', 'id': [1], 'time': 1.0}"),
])
def test_a_malformed_event_is_refused_naming_what_is_wrong(data, message):
    with pytest.raises(EventError) as info:
        events.read(data)
    assert str(info.value) == message


def test_an_integer_where_a_float_is_due_is_read():
    assert events.read({"type": "pong", "id": 1, "time": 2}) == events.Pong(1, 2)


def test_an_event_of_an_unknown_type_is_kept_whole_for_forward_compatibility():
    data = {"type": "halted", "sub": 1, "until": 9.5}
    assert events.read(data) == events.Unknown("halted", data)


def test_decode_refuses_a_frame_that_is_not_a_json_array():
    with pytest.raises(EventError, match="a frame must be a JSON array of events"):
        events.decode(b'{"type": "pong"}')
    with pytest.raises(EventError, match="frame is not valid JSON"):
        events.decode(b"[")


# --- the hot path's tick texts -------------------------------------------------------------------


def tick_text(sub: int, seq: int, price: float, time: float) -> str:
    [body] = events.tick_bodies(np.array([seq]), np.array([price]), np.array([time]))
    return events.tick_head(sub) + body


@pytest.mark.parametrize(("sub", "seq", "price", "time"), [
    (3, 17, 70.53, 1764412346.5), (1, 0, 0.1 + 0.2, 1764412345.000001), (12, 10**9, 1e-300, 0.5),
    (1, 1, 1.7976931348623157e308, 1.0), (1, 1, 5e-324, 1.0),
])
def test_a_tick_text_is_exactly_the_encoded_tick_event(sub, seq, price, time):
    assert tick_text(sub, seq, price, time) == events.Tick(sub, seq, price, time).encode()


def test_whole_tick_texts_match_head_plus_body():
    seqs, prices, times = np.array([1, 2]), np.array([70.0, 70.5]), np.array([2.0, 2.5])
    assert events.ticks([events.tick_head(4), events.tick_head(9)], seqs, prices, times) == [
        events.Tick(4, 1, 70.0, 2.0).encode(), events.Tick(9, 2, 70.5, 2.5).encode()]


@pytest.mark.parametrize("price", [
    0.1 + 0.2, 1e-300, 70.0, 1 / 3, 123456.78901234567, 2.2250738585072014e-308,
    1.7976931348623157e308, 5e-324,
])
def test_a_tick_price_round_trips_bit_for_bit(price):
    decoded = orjson.loads(tick_text(1, 1, price, 1.0))["price"]
    assert decoded.hex() == price.hex()


def test_a_tick_price_round_trips_through_the_standard_library_too():
    assert json.loads(tick_text(1, 1, 0.1 + 0.2, 1.0))["price"] == 0.30000000000000004


@pytest.mark.parametrize("time", [1764412345.123456, 1764412345.000001, 1764412345.0, 0.5])
def test_a_tick_time_round_trips_with_microseconds(time):
    assert orjson.loads(tick_text(1, 1, 1.0, time))["time"] == time


def test_a_tick_price_is_a_json_number_not_a_string():
    [body] = events.tick_bodies(np.array([4]), np.array([0.1 + 0.2]), np.array([1764412345.5]))
    assert body == '"seq":4,"price":0.30000000000000004,"time":1764412345.5}'


def test_a_frame_is_a_json_array_of_its_events_in_order():
    parts = [events.Pong(5, 1.5).encode(), tick_text(1, 1, 70.0, 2.0), events.End(1, 1).encode()]
    assert orjson.loads(events.payload(parts)) == [
        {"type": "pong", "id": 5, "time": 1.5},
        {"type": "tick", "sub": 1, "seq": 1, "price": 70.0, "time": 2.0},
        {"type": "end", "sub": 1, "seq": 1},
    ]


def test_a_frame_is_utf8_bytes():
    data = events.payload([events.Error(None, "unknown_symbol", "symbol",
                                        "unknown symbol 'É'").encode()])
    assert isinstance(data, bytes)
    assert orjson.loads(data)[0]["message"] == "unknown symbol 'É'"
