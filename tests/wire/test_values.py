"""The value checks (wire/values.py) that the simulation, the server and the clients share."""

from __future__ import annotations

import pytest

from simulation.errors import ParamError
from wire.errors import FieldError
from wire.names import SEED_MAX
from wire.values import check_integer, check_number, check_seed, show


@pytest.mark.parametrize(("kwargs", "value", "domain"), [
    ({}, "x", "a finite number"),
    ({"low": 0.0}, -1.0, "a finite number >= 0"),
    ({"low": 0.0, "low_open": True}, 0.0, "a finite number > 0"),
    ({"high": 10.0}, 11, "a finite number <= 10"),
    ({"low": -10.0, "high": 10.0}, float("nan"), "a finite number >= -10 and <= 10"),
    ({"low": 0.0, "high": 1e9, "low_open": True}, True, "a finite number > 0 and <= 1e+09"),
])
def test_check_number_refuses_by_name_with_its_domain(kwargs, value, domain):
    with pytest.raises(FieldError) as info:
        check_number("x", value, **kwargs)
    assert (info.value.field, info.value.value) == ("x", value)
    assert info.value.message == f"x must be {domain}, got {show(value)}"


def test_check_number_refuses_an_integer_beyond_any_double():
    with pytest.raises(FieldError, match="got 1000000000"):
        check_number("x", 10**400)


@pytest.mark.parametrize(("kwargs", "value"), [({}, 3), ({"low": 0.0}, 0), ({"high": 1.0}, 1.0),
                                               ({"low": 0.0, "low_open": True}, 1e-300)])
def test_check_number_returns_a_float_inside_its_bounds(kwargs, value):
    result = check_number("x", value, **kwargs)
    assert result == value and type(result) is float


@pytest.mark.parametrize(("kwargs", "value", "message"), [
    ({"low": 1}, 0, "n must be an integer >= 1, got 0"),
    ({"low": 0, "high": 9}, 10, "n must be an integer from 0 to 9, got 10"),
    ({"high": 9}, 1.0, "n must be an integer <= 9, got 1.0"),
    ({}, True, "n must be an integer, got True"),
    ({"low": 0, "domain": "of steps"}, -1, "n must be an integer of steps, got -1"),
])
def test_check_integer_refuses_by_name(kwargs, value, message):
    with pytest.raises(FieldError) as info:
        check_integer("n", value, **kwargs)
    assert info.value.message == message


@pytest.mark.parametrize("seed", [0, 1, 2**63, 2**64 - 1])
def test_check_seed_accepts_unsigned_64_bit_integers(seed: int) -> None:
    assert SEED_MAX == 2**64 - 1
    assert check_seed(seed) == seed


@pytest.mark.parametrize(
    ("seed", "shown"),
    [(-1, "-1"), (2**64, "18446744073709551616"), (True, "True"), (1.0, "1.0"), ("1", "'1'"),
     (None, "None")],
)
def test_check_seed_rejects_anything_else(seed: object, shown: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_seed(seed)
    assert str(caught.value) == f"seed must be an integer from 0 to 2**64-1, got {shown}"
    assert caught.value.field == "seed"


def test_a_check_raises_the_error_class_it_is_given() -> None:
    with pytest.raises(ParamError) as caught:
        check_seed(-1, field="marketSeed", error=ParamError)
    assert str(caught.value) == "marketSeed must be an integer from 0 to 2**64-1, got -1"
    assert caught.value.field == "marketSeed"


def test_show_shortens_long_values():
    assert show("x" * 100) == "'" + "x" * 36 + "..."
    assert show(1.5) == "1.5"
