"""GBMParams: the domain of every model parameter, and what a rejection says."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulation.errors import ParamError, SimulationError
from simulation.params import TRADING_DAYS_PER_YEAR, GBMParams

VALID = {"start_price": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0}

#: Published name of each field, the keyword GBMParams takes, and the domain its message states.
FIELDS = {
    "startPrice": ("start_price", "a finite number > 0 and <= 1e+09"),
    "mu": ("mu", "a finite number >= -10 and <= 10"),
    "sigma": ("sigma", "a finite number >= 0 and <= 10"),
    "delta": ("delta", "a finite number >= 1e-09 and <= 2520"),
}


def make(field: str, value: object) -> GBMParams:
    """Valid parameters except the one published as ``field``."""
    keyword, _ = FIELDS[field]
    fields: dict[str, Any] = {**VALID, keyword: value}  # any value: GBMParams checks at run time
    return GBMParams(**fields)


def expected_message(field: str, shown: str) -> str:
    return f"{field} must be {FIELDS[field][1]}, got {shown}"


def test_valid_params_keep_their_values() -> None:
    params = GBMParams(start_price=70.0, mu=0.05, sigma=0.3, delta=1.0)

    assert (params.start_price, params.mu, params.sigma, params.delta) == (70.0, 0.05, 0.3, 1.0)


def test_integers_are_accepted_and_stored_as_floats() -> None:
    params = GBMParams(start_price=70, mu=0, sigma=1, delta=5)

    assert [type(v) for v in (params.start_price, params.mu, params.sigma, params.delta)] == [
        float
    ] * 4
    assert params == GBMParams(70.0, 0.0, 1.0, 5.0)


def test_numpy_float64_is_accepted() -> None:
    assert GBMParams(np.float64(70.0), np.float64(0.05), np.float64(0.3), np.float64(1.0)) == (
        GBMParams(70.0, 0.05, 0.3, 1.0)
    )


def test_params_are_frozen() -> None:
    params = GBMParams(**VALID)

    with pytest.raises(dataclasses.FrozenInstanceError):
        params.sigma = 0.5  # type: ignore[misc]


def test_dt_is_delta_in_years_of_252_trading_days() -> None:
    assert TRADING_DAYS_PER_YEAR == 252
    assert GBMParams(70.0, 0.05, 0.3, 5.0).dt == 5.0 / 252


def test_drift_is_mu_minus_half_sigma_squared_times_dt() -> None:
    params = GBMParams(70.0, 0.05, 0.3, 5.0)

    assert params.drift == pytest.approx((0.05 - 0.3**2 / 2) * 5.0 / 252, rel=1e-15)


def test_vol_is_sigma_times_sqrt_dt() -> None:
    params = GBMParams(70.0, 0.05, 0.3, 5.0)

    assert params.vol == pytest.approx(0.3 * math.sqrt(5.0 / 252), rel=1e-15)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("startPrice", 5e-324),
        ("startPrice", 1e9),
        ("mu", -10.0),
        ("mu", 10.0),
        ("sigma", 0.0),
        ("sigma", 10.0),
        ("delta", 1e-9),  # a dt far from 0: smaller is refused
        ("delta", 2520.0),
    ],
)
def test_each_bound_that_is_inclusive_accepts_its_edge(field: str, value: float) -> None:
    keyword, _ = FIELDS[field]

    assert getattr(make(field, value), keyword) == value


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("startPrice", 0.0, "0.0"),
        ("startPrice", -1.0, "-1.0"),
        ("startPrice", 1e9 * (1 + 2**-52), "1000000000.0000002"),
        ("mu", -10.000001, "-10.000001"),
        ("mu", 10.5, "10.5"),
        ("sigma", -1.0, "-1.0"),
        ("sigma", -5e-324, "-5e-324"),
        ("sigma", 10.5, "10.5"),
        ("delta", 0.0, "0.0"),
        ("delta", 5e-324, "5e-324"),  # dt would be 0.0: every step the same
        ("delta", 9.9e-10, "9.9e-10"),
        ("delta", -1.0, "-1.0"),
        ("delta", 2521, "2521"),
    ],
)
def test_a_value_out_of_bounds_is_rejected(field: str, value: float, shown: str) -> None:
    with pytest.raises(ParamError) as caught:
        make(field, value)

    assert str(caught.value) == expected_message(field, shown)


def test_a_negative_sigma_is_rejected_with_the_documented_message() -> None:
    with pytest.raises(ParamError) as caught:
        GBMParams(70.0, 0.05, -1.0, 1.0)

    assert str(caught.value) == "sigma must be a finite number >= 0 and <= 10, got -1.0"


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(("value", "shown"), [(True, "True"), (False, "False")])
def test_a_bool_is_rejected(field: str, value: bool, shown: str) -> None:
    with pytest.raises(ParamError) as caught:
        make(field, value)

    assert str(caught.value) == expected_message(field, shown)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    ("value", "shown"), [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")]
)
def test_nan_and_infinity_are_rejected(field: str, value: float, shown: str) -> None:
    with pytest.raises(ParamError) as caught:
        make(field, value)

    assert str(caught.value) == expected_message(field, shown)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    ("value", "shown"), [("0.3", "'0.3'"), (None, "None"), ([1.0], "[1.0]"), (1j, "1j")]
)
def test_a_value_that_is_not_a_real_number_is_rejected(
    field: str, value: object, shown: str
) -> None:
    with pytest.raises(ParamError) as caught:
        make(field, value)

    assert str(caught.value) == expected_message(field, shown)


def test_an_integer_too_large_for_a_float_is_rejected() -> None:
    with pytest.raises(ParamError) as caught:
        make("startPrice", 10**400)

    assert str(caught.value) == expected_message("startPrice", "1" + "0" * 36 + "...")


def test_a_long_rejected_value_is_shortened_to_40_characters() -> None:
    with pytest.raises(ParamError) as caught:
        make("mu", "x" * 100)

    assert str(caught.value) == expected_message("mu", "'" + "x" * 36 + "...")


@pytest.mark.parametrize("field", FIELDS)
def test_param_error_carries_the_published_field_name_and_the_value(field: str) -> None:
    with pytest.raises(ParamError) as caught:
        make(field, -11.0)

    assert (caught.value.field, caught.value.value) == (field, -11.0)
    assert caught.value.message == str(caught.value)


def test_param_error_is_a_value_error_and_a_simulation_error() -> None:
    assert issubclass(ParamError, ValueError)
    assert issubclass(ParamError, SimulationError)


@given(
    start_price=st.floats(min_value=0.0, max_value=1e9, exclude_min=True),
    mu=st.floats(min_value=-10.0, max_value=10.0),
    sigma=st.floats(min_value=0.0, max_value=10.0),
    delta=st.floats(min_value=1e-9, max_value=2520.0),
)
def test_every_value_inside_the_bounds_is_accepted_unchanged(
    start_price: float, mu: float, sigma: float, delta: float
) -> None:
    params = GBMParams(start_price, mu, sigma, delta)

    assert (params.start_price, params.mu, params.sigma, params.delta) == (
        start_price, mu, sigma, delta
    )
