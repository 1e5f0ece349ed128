"""The reconnect backoff: exponential, bounded, jittered, checked."""

from __future__ import annotations

import random

import pytest

from clients.errors import ArgumentError
from clients.feed import Backoff


def test_delays_grow_by_the_factor_up_to_the_maximum_with_at_most_the_jitter_taken_off():
    backoff = Backoff(initial=0.1, maximum=2.0, factor=2.0, jitter=0.5)
    rng = random.Random(1)
    for attempt in range(40):
        ceiling = min(2.0, 0.1 * 2.0 ** attempt)
        for _ in range(20):
            assert ceiling * 0.5 <= backoff.delay(attempt, rng) <= ceiling


def test_without_jitter_the_delays_are_exact():
    backoff = Backoff(initial=0.25, maximum=1.0, factor=2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(5)] == [0.25, 0.5, 1.0, 1.0, 1.0]


def test_jitter_spreads_the_clients_of_a_restarted_server():
    backoff = Backoff(initial=1.0, maximum=1.0, jitter=0.5)
    rng = random.Random(2)
    delays = {round(backoff.delay(0, rng), 3) for _ in range(100)}
    assert len(delays) > 50


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"initial": -1.0}, "initial"), ({"maximum": float("inf")}, "maximum"),
    ({"initial": 2.0, "maximum": 1.0}, "maximum"), ({"factor": 0.5}, "factor"),
    ({"jitter": 1.5}, "jitter"), ({"max_attempts": 0}, "max_attempts"),
])
def test_a_bad_setting_is_refused_naming_it(kwargs, argument):
    with pytest.raises(ArgumentError) as caught:
        Backoff(**kwargs)
    assert caught.value.argument == argument
