"""The run's settings and the default subscribe step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from clients.load.errors import SpecError
from clients.load.spec import LoadSpec, Operation, ProtocolSubscriber

URL = "ws://127.0.0.1:9/ws"


def json_object(op: Operation) -> Mapping[str, Any]:
    """An operation the ProtocolSubscriber made: always an object, never ready-made bytes."""
    assert isinstance(op, Mapping), op
    return op


def test_shared_subscriptions_spread_the_symbols_over_subscriptions_and_connections() -> None:
    subscriber = ProtocolSubscriber(kind="shared", symbols=("ACME", "BOLT", "SLOW"))
    assert [subscriber.subscribe(0, k, 2) for k in range(2)] == [
        {"op": "subscribe", "id": 1, "symbol": "ACME"},
        {"op": "subscribe", "id": 2, "symbol": "BOLT"}]
    assert subscriber.subscribe(1, 0, 2) == {"op": "subscribe", "id": 1, "symbol": "BOLT"}


def test_private_subscriptions_are_distinct_streams_with_the_given_interval_and_params() -> None:
    subscriber = ProtocolSubscriber(kind="private", interval=0.25, seed=100,
                                    params={"sigma": 0.5})
    assert subscriber.subscribe(2, 1, 3) == {"op": "subscribe", "id": 2, "sigma": 0.5,
                                             "interval": 0.25, "seed": 107}
    seeds = {json_object(subscriber.subscribe(i, k, 3))["seed"] for i in range(4) for k in range(3)}
    assert len(seeds) == 12


def test_a_mix_makes_the_first_share_of_each_connection_private() -> None:
    subscriber = ProtocolSubscriber(kind="mix", private_share=0.5)
    ops = [subscriber.subscribe(0, k, 4) for k in range(4)]
    assert ["symbol" in op for op in ops] == [False, False, True, True]


def test_unsubscribe_names_the_servers_subscription_number() -> None:
    assert ProtocolSubscriber().unsubscribe(7) == {"op": "unsubscribe", "id": "u7", "sub": 7}


@pytest.mark.parametrize("fields, message", [
    ({"kind": "both"}, "kind must be one of shared, private, mix, got 'both'"),
    ({"kind": "shared", "symbols": ()}, "a shared load needs at least one symbol"),
    ({"interval": 0.0}, "interval must be a finite number > 0, got 0.0"),
    ({"private_share": 1.5}, "private_share must be between 0 and 1, got 1.5"),
    ({"params": {"symbol": "ACME"}}, "params may not set 'symbol'"),
])
def test_a_bad_subscriber_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        ProtocolSubscriber(**fields)
    assert str(caught.value) == message


@pytest.mark.parametrize("fields, message", [
    ({"url": "http://127.0.0.1/ws"}, "url must be ws://HOST:PORT/PATH or wss://..., "
                                     "got 'http://127.0.0.1/ws'"),
    ({"connections": 0}, "connections must be an integer >= 1, got 0"),
    ({"subscriptions": -1}, "subscriptions must be an integer >= 0, got -1"),
    ({"duration": -1.0}, "duration must be a finite number >= 0, got -1.0"),
    ({"ramp_rate": float("inf")}, "ramp_rate must be a finite number >= 0, got inf"),
    ({"workers": 0}, "workers must be an integer >= 1, got 0"),
    ({"connect_timeout": 0}, "connect_timeout must be a finite number > 0, got 0"),
    ({"subscriber": object()}, "subscriber must have subscribe() and unsubscribe(), got object"),
])
def test_a_bad_spec_is_refused_naming_the_field_and_value(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        LoadSpec(**{"url": URL, **fields})
    assert str(caught.value) == message
    assert caught.value.name == message.split()[0]


def test_connections_go_round_robin_to_at_most_one_worker_each() -> None:
    spec = LoadSpec(URL, connections=5, workers=2, ramp_rate=10.0)
    assert [list(spec.share(w)) for w in range(2)] == [[0, 2, 4], [1, 3]]
    assert LoadSpec(URL, connections=3, workers=8).effective_workers == 3
    assert spec.connection_offset(4) == pytest.approx(0.4)
    assert spec.ramp_seconds == pytest.approx(0.4)
    assert LoadSpec(URL, connections=5, ramp_rate=0).ramp_seconds == 0.0


def test_the_described_spec_hides_a_token_in_the_url() -> None:
    spec = LoadSpec("ws://127.0.0.1:9/ws?token=secret&x=1")
    assert spec.describe()["url"] == "ws://127.0.0.1:9/ws?token=***&x=1"
