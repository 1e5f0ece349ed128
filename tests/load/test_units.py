"""Durations as people type them."""

from __future__ import annotations

import pytest

from clients.load.errors import SpecError
from clients.load.units import format_duration, parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("50ms", 0.05), ("1s", 1.0), ("250us", 0.00025), ("250µs", 0.00025), ("2m", 120.0),
    ("1h", 3600.0), ("1.5s", 1.5), ("100ns", 1e-7), (" 10 ms ", 0.01), ("2", 2.0),
    ("0", 0.0), ("1e3ms", 1.0),
])
def test_a_duration_with_or_without_a_unit_is_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_a_bare_number_is_refused_where_a_unit_is_required() -> None:
    with pytest.raises(SpecError, match=r"max-p99 needs a unit .* got '50'"):
        parse_duration("50", name="max-p99", unit_required=True)


@pytest.mark.parametrize("text, message", [
    ("fast", "duration must be a duration such as 50ms, 1s or 250us, got 'fast'"),
    ("-5ms", "duration must be a duration such as 50ms, 1s or 250us, got '-5ms'"),
    ("5 days", "duration has an unknown unit 'days' (use ns, us, ms, s, m or h), got '5 days'"),
    ("5d", "duration has an unknown unit 'd' (use ns, us, ms, s, m or h), got '5d'"),
])
def test_what_is_not_a_duration_is_refused_with_the_value(text: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("seconds, text", [
    (None, "-"), (0.0, "0"), (0.000812, "812us"), (0.0123, "12.3ms"), (0.25, "250ms"),
    (1.25, "1.25s"), (250.0, "250s"),
])
def test_durations_print_short(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text
