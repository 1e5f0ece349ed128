"""The wire format (streamer/messages.py): parsing client operations, encoding server events.

Parsing checks shapes and types; ranges are the session's job, so values such as NaN, Infinity
or 2**70 must get through parse() untouched and come back from the session as invalid_params
naming their field.
"""

from __future__ import annotations

import json
import math

import orjson
import pytest

from streamer import messages
from streamer.config import ServerConfig
from streamer.errors import ProtocolError
from streamer.hub import Hub
from streamer.messages import ListSubscriptions, ListSymbols, Ping, Subscribe, Unsubscribe
from streamer.session import Session
from tests.conftest import small_market

NOW = 1_764_412_345.25


def parse_error(raw: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        messages.parse(raw)
    return info.value


# --- parse(): one test per op -------------------------------------------------------------------


def test_parse_subscribe_private_keeps_every_field():
    raw = ('{"op": "subscribe", "id": 1, "startPrice": 70.0, "mu": 0.05, "sigma": 0.3, '
           '"delta": 1.0, "interval": 0.5, "seed": 42, "periods": 100, "history": 10}')
    assert messages.parse(raw) == Subscribe(
        id=1, symbol=None,
        model=(("startPrice", 70.0), ("mu", 0.05), ("sigma", 0.3), ("delta", 1.0)),
        interval=0.5, seed=42, periods=100, history=10, from_seq=None, t0=None)


def test_parse_subscribe_resume_reads_from_seq_and_t0():
    raw = '{"op": "subscribe", "id": "r", "seed": 7, "t0": 1764412345.5, "fromSeq": 12}'
    assert messages.parse(raw) == Subscribe(id="r", seed=7, t0=1764412345.5, from_seq=12)


def test_parse_subscribe_symbol():
    assert messages.parse('{"op": "subscribe", "id": 2, "symbol": "ACME"}') == Subscribe(
        id=2, symbol="ACME")


def test_parse_subscribe_treats_null_periods_as_absent():
    assert messages.parse('{"op": "subscribe", "periods": null}') == Subscribe(id=None)


@pytest.mark.parametrize("field", ["startPrice", "mu", "sigma", "delta", "interval", "seed",
                                   "history", "fromSeq", "t0", "symbol"])
def test_parse_subscribe_treats_any_null_field_as_absent(field):
    assert messages.parse(f'{{"op": "subscribe", "{field}": null}}') == Subscribe(id=None)


def test_parse_subscribe_accepts_the_model_echoed_from_an_ack():
    assert messages.parse('{"op": "subscribe", "model": "gbm"}') == Subscribe(id=None)


def test_parse_subscribe_refuses_another_model():
    error = parse_error('{"op": "subscribe", "id": 4, "model": "heston"}')
    assert (error.code, error.field, error.id, error.message) == (
        "invalid_params", "model", 4, 'model must be "gbm", got \'heston\'')


def test_parse_unsubscribe():
    assert messages.parse('{"op": "unsubscribe", "id": 3, "sub": 1}') == Unsubscribe(3, 1)


def test_parse_list():
    assert messages.parse('{"op": "list", "id": 4}') == ListSubscriptions(4)


def test_parse_symbols():
    assert messages.parse('{"op": "symbols", "id": 6}') == ListSymbols(6)


def test_parse_ping():
    assert messages.parse('{"op": "ping", "id": 5}') == Ping(5)


def test_parse_without_id_gives_id_none():
    assert messages.parse('{"op": "ping"}') == Ping(None)


def test_parse_accepts_a_string_id_of_exactly_64_characters():
    assert messages.parse(json.dumps({"op": "ping", "id": "x" * 64})) == Ping("x" * 64)


def test_parse_accepts_bytes():
    assert messages.parse(b'{"op": "ping", "id": 1}') == Ping(1)


# --- parse(): bad_json and bad_request ----------------------------------------------------------


def test_text_that_is_not_json_is_bad_json():
    exc = parse_error("not json")
    assert (exc.code, exc.field, exc.id, exc.message) == (
        "bad_json", None, None, "message is not valid JSON: Expecting value")


def test_truncated_json_is_bad_json():
    exc = parse_error('{"op": "ping"')
    assert exc.code == "bad_json"
    assert exc.message.startswith("message is not valid JSON: ")


@pytest.mark.parametrize(("raw", "kind"), [
    ("[1, 2]", "an array"),
    ('"subscribe"', "a string"),
    ("42", "a number"),
    ("null", "null"),
    ("true", "a boolean"),
])
def test_a_message_that_is_not_an_object_is_bad_request(raw, kind):
    exc = parse_error(raw)
    assert (exc.code, exc.field, exc.id, exc.message) == (
        "bad_request", None, None, f"a message must be a JSON object, got {kind}")


def test_a_message_without_op_is_bad_request_naming_op():
    exc = parse_error('{"id": 3}')
    assert (exc.code, exc.field, exc.id, exc.message) == ("bad_request", "op", 3,
                                                          "missing field op")


def test_an_unknown_op_is_bad_request_listing_the_ops():
    exc = parse_error('{"op": "sub", "id": "a"}')
    assert (exc.code, exc.field, exc.id, exc.message) == (
        "bad_request", "op", "a",
        "unknown op 'sub'; expected one of subscribe, unsubscribe, list, symbols, ping")


def test_an_op_that_is_not_a_string_is_bad_request():
    exc = parse_error('{"op": 5}')
    assert (exc.code, exc.field) == ("bad_request", "op")
    assert exc.message == "unknown op 5; expected one of subscribe, unsubscribe, list, symbols, ping"


def test_an_unknown_field_is_bad_request_naming_it():
    exc = parse_error('{"op": "ping", "id": 1, "foo": 1}')
    assert (exc.code, exc.field, exc.id, exc.message) == (
        "bad_request", "foo", 1, "unknown field 'foo' for op ping")


def test_a_field_of_another_op_is_an_unknown_field():
    exc = parse_error('{"op": "list", "symbol": "ACME"}')
    assert (exc.code, exc.field, exc.message) == (
        "bad_request", "symbol", "unknown field 'symbol' for op list")


@pytest.mark.parametrize(("fields", "field", "message"), [
    ('"sigma": "abc"', "sigma", "sigma must be a number, got 'abc'"),
    ('"mu": [0.1]', "mu", "mu must be a number, got [0.1]"),
    ('"delta": true', "delta", "delta must be a number, got True"),
    ('"interval": "1"', "interval", "interval must be a number, got '1'"),
    ('"t0": {}', "t0", "t0 must be a number, got {}"),
    ('"seed": 4.5', "seed", "seed must be an integer, got 4.5"),
    ('"seed": true', "seed", "seed must be an integer, got True"),
    ('"periods": 10.0', "periods", "periods must be an integer, got 10.0"),
    ('"history": "5"', "history", "history must be an integer, got '5'"),
    ('"fromSeq": 1.5', "fromSeq", "fromSeq must be an integer, got 1.5"),
    ('"symbol": 5', "symbol", "symbol must be a string, got 5"),
])
def test_a_mistyped_subscribe_field_is_bad_request_naming_it(fields, field, message):
    exc = parse_error(f'{{"op": "subscribe", "id": 8, {fields}}}')
    assert (exc.code, exc.field, exc.id, exc.message) == ("bad_request", field, 8, message)


@pytest.mark.parametrize(("id_json", "shown"), [
    ("[1]", "[1]"),
    ("1.5", "1.5"),
    ("true", "True"),
    ('"' + "x" * 65 + '"', "'" + "x" * 36 + "..."),
])
def test_a_mistyped_id_is_bad_request_naming_id(id_json, shown):
    exc = parse_error(f'{{"op": "ping", "id": {id_json}}}')
    assert (exc.code, exc.field, exc.id) == ("bad_request", "id", None)
    assert exc.message == ("id must be a 64-bit integer or a string of at most 64 characters, "
                           f"got {shown}")


def test_unsubscribe_without_sub_is_bad_request():
    exc = parse_error('{"op": "unsubscribe", "id": 2}')
    assert (exc.code, exc.field, exc.id, exc.message) == ("bad_request", "sub", 2,
                                                          "missing field sub")


def test_unsubscribe_with_a_string_sub_is_bad_request():
    exc = parse_error('{"op": "unsubscribe", "sub": "1"}')
    assert (exc.code, exc.field, exc.message) == ("bad_request", "sub",
                                                  "sub must be an integer, got '1'")


# --- values that only the session can judge pass parse() unchanged ------------------------------


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_parse_passes_non_finite_numbers_through_to_the_session(text):
    cmd = messages.parse(f'{{"op": "subscribe", "sigma": {text}}}')
    assert isinstance(cmd, Subscribe)
    value = dict(cmd.model)["sigma"]
    assert not math.isfinite(value)


def test_parse_keeps_integers_beyond_64_bits_exact():
    cmd = messages.parse(f'{{"op": "subscribe", "seed": {2**70}}}')
    assert isinstance(cmd, Subscribe) and cmd.seed == 2**70


@pytest.fixture
def session() -> Session:
    config = ServerConfig()
    hub = Hub(small_market(NOW), NOW, ring=max(config.max_history, config.max_replay))
    return Session(hub, config)


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
    [error] = json.loads(messages.frame(session.parts))
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
    [error] = json.loads(messages.frame(session.parts))
    assert (error["type"], error["code"], error["field"]) == ("error", "invalid_params", field)


def test_a_huge_from_seq_reaches_the_session_as_invalid_params(session):
    session.receive(f'{{"op": "subscribe", "symbol": "ACME", "fromSeq": {2**80}}}', NOW)
    [error] = json.loads(messages.frame(session.parts))
    assert (error["code"], error["field"]) == ("invalid_params", "fromSeq")


def test_a_nan_t0_reaches_the_session_as_invalid_params(session):
    session.receive('{"op": "subscribe", "seed": 1, "t0": NaN}', NOW)
    [error] = json.loads(messages.frame(session.parts))
    assert (error["code"], error["field"], error["message"]) == (
        "invalid_params", "t0", "t0 must be epoch seconds not in the future, got nan")


# --- encoding -----------------------------------------------------------------------------------


def tick(sub: int, seq: int, price: float, time: float) -> dict:
    [event] = orjson.loads(messages.frame([messages.tick_head(sub) + messages.tick_body(
        seq, price, time)]))
    return event


def test_a_tick_is_the_protocol_tick_event():
    assert tick(3, 17, 70.53, 1764412346.5) == {
        "type": "tick", "sub": 3, "seq": 17, "price": 70.53, "time": 1764412346.5}


@pytest.mark.parametrize("price", [
    0.1 + 0.2, 1e-300, 70.0, 1 / 3, 123456.78901234567, 2.2250738585072014e-308,
    1.7976931348623157e308, 5e-324,
])
def test_a_tick_price_round_trips_bit_for_bit(price):
    decoded = tick(1, 1, price, 1.0)["price"]
    assert decoded.hex() == price.hex()


def test_a_tick_price_round_trips_through_the_standard_library_too():
    assert json.loads(messages.frame([messages.tick_head(1) + messages.tick_body(
        1, 0.1 + 0.2, 1.0)]))[0]["price"] == 0.30000000000000004


@pytest.mark.parametrize("time", [1764412345.123456, 1764412345.000001, 1764412345.0, 0.5])
def test_a_tick_time_round_trips_with_microseconds(time):
    assert tick(1, 1, 1.0, time)["time"] == time


def test_a_tick_price_is_a_json_number_not_a_string():
    body = messages.tick_body(4, 0.1 + 0.2, 1764412345.5)
    assert body == '"seq":4,"price":0.30000000000000004,"time":1764412345.5}'


def test_a_frame_is_a_json_array_of_its_events_in_order():
    parts = [messages.event({"type": "pong", "id": 5, "time": 1.5}),
             messages.tick_head(1) + messages.tick_body(1, 70.0, 2.0),
             messages.event({"type": "end", "sub": 1, "seq": 1})]
    assert orjson.loads(messages.frame(parts)) == [
        {"type": "pong", "id": 5, "time": 1.5},
        {"type": "tick", "sub": 1, "seq": 1, "price": 70.0, "time": 2.0},
        {"type": "end", "sub": 1, "seq": 1},
    ]


def test_a_frame_is_utf8_bytes():
    data = messages.frame([messages.event({"type": "error", "message": "unknown symbol 'É'"})])
    assert isinstance(data, bytes)
    assert orjson.loads(data) == [{"type": "error", "message": "unknown symbol 'É'"}]


def test_an_error_event_carries_id_code_field_and_message():
    exc = ProtocolError("invalid_params", "sigma must be a finite number >= 0, got -1.0",
                        "sigma", 7)
    assert orjson.loads(messages.event(messages.error_event(exc))) == {
        "type": "error", "id": 7, "code": "invalid_params", "field": "sigma",
        "message": "sigma must be a finite number >= 0, got -1.0"}


def test_protocol_error_refuses_a_code_outside_the_protocol():
    with pytest.raises(ValueError, match="unknown error code 'oops'"):
        ProtocolError("oops", "message")

