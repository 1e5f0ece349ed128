"""The client's operations (wire/commands.py): parsing, encoding, and the protocol's rules.

Parsing checks shapes and types; ranges are the server's job, so values such as NaN, Infinity
or 2**70 must get through parse() untouched (the session's tests show them refused by name).
"""

from __future__ import annotations

import json
import math

import orjson
import pytest

from wire import commands
from wire.commands import ListSubscriptions, ListSymbols, Ping, StreamSpec, Subscribe, Unsubscribe
from wire.errors import CommandError


def parse_error(raw: str) -> CommandError:
    with pytest.raises(CommandError) as info:
        commands.parse(raw)
    return info.value


# --- parse(): one test per op -------------------------------------------------------------------


def test_parse_subscribe_private_keeps_every_field():
    raw = ('{"op": "subscribe", "id": 1, "startPrice": 70.0, "mu": 0.05, "sigma": 0.3, '
           '"delta": 1.0, "interval": 0.5, "seed": 42, "periods": 100, "history": 10}')
    assert commands.parse(raw) == Subscribe(1, StreamSpec(
        start_price=70.0, mu=0.05, sigma=0.3, delta=1.0, interval=0.5, seed=42, periods=100,
        history=10))


def test_parse_subscribe_resume_reads_from_seq_and_t0():
    raw = '{"op": "subscribe", "id": "r", "seed": 7, "t0": 1764412345.5, "fromSeq": 12}'
    assert commands.parse(raw) == Subscribe("r", StreamSpec(
        seed=7, t0=1764412345.5, from_seq=12))


def test_parse_subscribe_symbol():
    assert commands.parse('{"op": "subscribe", "id": 2, "symbol": "ACME"}') == Subscribe(
        2, StreamSpec("ACME"))


def test_parse_subscribe_treats_null_periods_as_absent():
    assert commands.parse('{"op": "subscribe", "periods": null}') == Subscribe(None, StreamSpec())


@pytest.mark.parametrize("field", ["startPrice", "mu", "sigma", "delta", "interval", "seed",
                                   "history", "fromSeq", "t0", "symbol"])
def test_parse_subscribe_treats_any_null_field_as_absent(field):
    assert commands.parse(f'{{"op": "subscribe", "{field}": null}}') == Subscribe(None, StreamSpec())


def test_parse_subscribe_accepts_the_model_echoed_from_an_ack():
    assert commands.parse('{"op": "subscribe", "model": "gbm"}') == Subscribe(None, StreamSpec())


@pytest.mark.parametrize("model", ["merton", "heston", "ou"])
def test_parse_subscribe_takes_every_model_and_its_fields(model):
    command = commands.parse(f'{{"op": "subscribe", "model": "{model}", "kappa": 3}}')
    assert isinstance(command, Subscribe)
    assert (command.spec.model, command.spec.kappa) == (model, 3)


@pytest.mark.parametrize("model", ['"vasicek"', '"GBM"', "7", "[]"])
def test_parse_subscribe_refuses_an_unknown_model_naming_the_known_ones(model):
    error = parse_error(f'{{"op": "subscribe", "id": 4, "model": {model}}}')
    assert (error.code, error.field, error.id) == ("invalid_params", "model", 4)
    assert error.message.startswith('model must be one of "gbm", "merton", "heston", "ou", got')


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"jumpRate": 3}, "jumpRate", "jumpRate is not a field of model gbm; its fields are "
     "startPrice, mu, sigma, delta"),
    ({"model": "heston", "sigma": 0.2}, "sigma", "sigma is not a field of model heston; its "
     "fields are startPrice, mu, delta, v0, kappa, theta, xi, rho"),
    ({"model": "ou", "mu": 0.1}, "mu", "mu is not a field of model ou; its fields are "
     "startPrice, sigma, delta, kappa, level"),
    ({"symbol": "ACME", "xi": 0.1}, "xi", "xi cannot be combined with symbol: a symbol's "
     "parameters are fixed by the market"),
])
def test_a_field_of_another_model_is_a_conflict_naming_it(fields, field, message):
    command = commands.parse(json.dumps({"op": "subscribe", **fields}))
    assert isinstance(command, Subscribe)
    conflict = command.spec.conflict()
    assert conflict is not None and (conflict.field, conflict.message) == (field, message)


def test_parse_unsubscribe():
    assert commands.parse('{"op": "unsubscribe", "id": 3, "sub": 1}') == Unsubscribe(3, 1)


def test_parse_list():
    assert commands.parse('{"op": "list", "id": 4}') == ListSubscriptions(4)


def test_parse_symbols():
    assert commands.parse('{"op": "symbols", "id": 6}') == ListSymbols(6)


def test_parse_ping():
    assert commands.parse('{"op": "ping", "id": 5}') == Ping(5)


def test_parse_without_id_gives_id_none():
    assert commands.parse('{"op": "ping"}') == Ping(None)


def test_parse_accepts_a_string_id_of_exactly_64_characters():
    assert commands.parse(json.dumps({"op": "ping", "id": "x" * 64})) == Ping("x" * 64)


def test_parse_accepts_bytes():
    assert commands.parse(b'{"op": "ping", "id": 1}') == Ping(1)


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
    assert exc.message == ("unknown op 5; expected one of subscribe, unsubscribe, list, symbols, "
                           "ping")


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
    cmd = commands.parse(f'{{"op": "subscribe", "sigma": {text}}}')
    assert isinstance(cmd, Subscribe)
    assert cmd.spec.sigma is not None and not math.isfinite(cmd.spec.sigma)


def test_parse_keeps_integers_beyond_64_bits_exact():
    cmd = commands.parse(f'{{"op": "subscribe", "seed": {2**70}}}')
    assert isinstance(cmd, Subscribe) and cmd.spec.seed == 2**70


# --- encode(): what the clients send ------------------------------------------------------------


def test_encode_writes_wire_names_in_the_protocols_order_and_the_id_last():
    spec = StreamSpec(seed=7, sigma=0.3, start_price=70.0, from_seq=5, t0=1.5)
    assert commands.encode(Subscribe(9, spec)) == (
        b'{"op":"subscribe","startPrice":70.0,"sigma":0.3,"seed":7,"fromSeq":5,"t0":1.5,"id":9}')


def test_encode_leaves_out_absent_fields_and_a_none_id():
    assert orjson.loads(commands.encode(Subscribe(None, StreamSpec("ACME")))) == {
        "op": "subscribe", "symbol": "ACME"}
    assert orjson.loads(commands.encode(Unsubscribe(3, 1))) == {"op": "unsubscribe", "sub": 1,
                                                                 "id": 3}


@pytest.mark.parametrize("command", [
    Subscribe(1, StreamSpec("ACME", history=10)),
    Subscribe("x", StreamSpec(start_price=12.5, mu=-0.1, sigma=0.6, delta=0.5, interval=0.02,
                              seed=2**64 - 1, periods=100)),
    Subscribe(2, StreamSpec(seed=1, t0=1764412345.5, from_seq=12)),
    Unsubscribe(3, 4), ListSubscriptions(5), ListSymbols(6), Ping(7), Ping(None),
])
def test_what_encode_writes_parse_reads_back(command):
    assert commands.parse(commands.encode(command)) == command


# --- the protocol's rules on a stream's fields --------------------------------------------------


@pytest.mark.parametrize(("spec", "field", "message"), [
    (StreamSpec("ACME", history=5, from_seq=1), "history", "give history or fromSeq, not both"),
    (StreamSpec("ACME", sigma=0.2), "sigma",
     "sigma cannot be combined with symbol: a symbol's parameters are fixed by the market"),
    (StreamSpec("ACME", start_price=1.0, periods=3), "startPrice",
     "startPrice cannot be combined with symbol: a symbol's parameters are fixed by the market"),
    (StreamSpec(t0=1.0), "t0", "t0 names a stream only together with its seed"),
    (StreamSpec(seed=1, from_seq=3), "fromSeq",
     "fromSeq resumes a stream, which needs the seed and t0 of its subscribed reply"),
])
def test_a_conflict_names_its_field_and_the_rule(spec, field, message):
    conflict = spec.conflict()
    assert conflict is not None and (conflict.field, conflict.message) == (field, message)


@pytest.mark.parametrize("spec", [StreamSpec(), StreamSpec("ACME", t0=1.0, from_seq=3),
                                  StreamSpec(seed=1, t0=2.0, from_seq=0), StreamSpec(history=3)])
def test_fields_that_go_together_have_no_conflict(spec):
    assert spec.conflict() is None


def test_a_conflict_can_be_worded_with_the_callers_spelling():
    conflict = StreamSpec(seed=1, from_seq=3).conflict(name=lambda f: f.lower())
    assert conflict is not None and conflict.message.startswith("fromseq resumes a stream")


def test_a_resume_repeats_a_private_streams_params_with_t0_and_from_seq():
    params = {"model": "gbm", "startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0,
              "interval": 0.5, "seed": 42, "periods": None}
    resume = StreamSpec(sigma=0.3).resume(None, 1.5, params, 17)
    assert resume == StreamSpec(start_price=70.0, mu=0.05, sigma=0.3, delta=1.0, interval=0.5,
                                seed=42, t0=1.5, from_seq=17)


def test_a_resume_of_a_symbol_names_the_symbol_and_t0():
    assert StreamSpec("ACME", history=5).resume("ACME", 1.5, {}, None) == StreamSpec(
        "ACME", t0=1.5)


def test_describe_names_a_symbol_or_a_private_streams_fields():
    assert StreamSpec("ACME").describe() == "ACME"
    assert StreamSpec(sigma=0.3, seed=7).describe() == "private(seed=7, sigma=0.3)"

