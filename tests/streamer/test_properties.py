"""Property-based tests of the parser and the session: no input makes an exception escape, and
every reply is a valid protocol event."""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.config import ServerConfig
from streamer.hub import Hub
from streamer.session import Session
from tests.conftest import small_market
from tests.streamer.drive import new_session
from tests.streamer.protocol_check import event_problems
from wire import commands
from wire.errors import CommandError

NOW = time.time()
HUB = Hub(small_market(NOW), NOW, ring=1000)
CONFIG = ServerConfig(max_subscriptions=8, max_catchup=10_000, max_replay=1000,
                      max_history=100)

FIELDS = ["op", "id", "symbol", "startPrice", "mu", "sigma", "delta", "interval", "seed",
          "periods", "history", "fromSeq", "t0", "sub", "model", "fromTime", "pace"]
OPS = ["subscribe", "unsubscribe", "list", "symbols", "ping"]
scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=80)
           | st.sampled_from([*OPS, "ACME", "BOLT", "SLOW", "gbm", "asap", "live"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
operations = st.fixed_dictionaries(
    {"op": st.sampled_from(OPS)},
    optional={name: scalars for name in FIELDS if name != "op"})


def encode(value: object) -> str:
    return json.dumps(value, allow_nan=True)  # NaN and Infinity on purpose


def replies(session: Session) -> list[dict[str, Any]]:
    data = session.data_to_send()
    events: list[dict[str, Any]] = orjson.loads(data) if data else []
    return events


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_parse_raises_only_protocol_errors(raw):
    try:
        commands.parse(raw)
    except CommandError as exc:
        assert exc.code in ("bad_json", "bad_request", "invalid_params")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(operations.map(encode), json_values.map(encode), st.text(max_size=200)))
def test_any_message_gets_exactly_valid_events_and_never_raises(raw):
    session = new_session(HUB, CONFIG, NOW)
    try:
        session.receive(raw, NOW)
        events = replies(session)
        assert events, "every message is answered"
        for event in events:
            assert event_problems(event) == []
        assert events[0]["type"] != "tick"
    finally:
        session.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(operations.map(encode), st.floats(0, 0.5)), max_size=25))
def test_a_session_keeps_its_books_whatever_it_is_sent(script):
    hub = Hub(small_market(NOW), NOW, ring=1000)
    session = new_session(hub, CONFIG, NOW)
    now = NOW
    for raw, pause in script:
        now += pause
        session.receive(raw, now)
        for peer in hub.advance(now):
            assert peer is session
        for event in replies(session):
            assert event_problems(event) == []
        assert hub.subscriptions == len(session.subs) <= CONFIG.max_subscriptions
    session.close()
    assert hub.subscriptions == 0
    assert hub.streams == len(hub.symbols)  # every private stream was closed
