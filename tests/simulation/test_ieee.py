"""simulation.ieee: exp and log from IEEE basic operations, checked against 50-digit decimal
references, at the edges of their ranges, and for the same bits however an array is split."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation import ieee


def ulps(got: float, exact: Decimal) -> float:
    """How many units in the last place of the exact value ``got`` is off."""
    return float(abs(Decimal(got) - exact) / Decimal(math.ulp(float(exact))))


def exact_exp(x: float) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 50
        return Decimal(x).exp()


def exact_log(x: float) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 50
        return Decimal(x).ln()


SAMPLE = np.random.default_rng(20261201)
EXP_INPUTS = np.concatenate([SAMPLE.uniform(-708, 709, 4000), SAMPLE.normal(0, 1, 4000),
                             SAMPLE.normal(0, 1e-4, 2000), [0.0, -0.0, 1e-300, -1e-300]])
LOG_INPUTS = np.concatenate([np.exp(SAMPLE.uniform(-708, 709, 4000)),
                             SAMPLE.uniform(0.5, 2.0, 4000), 1 + SAMPLE.normal(0, 1e-6, 2000),
                             1 + SAMPLE.normal(0, 4e-3, 2000),
                             [2.2250738585072014e-308, 1.7976931348623157e308,
                              0.7071067811865475, 0.7071067811865476, 1.4142135623730951]])


def test_exp_is_within_about_half_an_ulp_of_the_exact_value() -> None:
    worst = max(ulps(g, exact_exp(x)) for x, g in zip(EXP_INPUTS.tolist(),
                                                      ieee.exp(EXP_INPUTS).tolist()))
    assert worst < 0.52  # numpy's own kernels claim about 1 to 4


def test_log_is_within_about_one_ulp_of_the_exact_value() -> None:
    worst = max(ulps(g, exact_log(x)) for x, g in zip(LOG_INPUTS.tolist(),
                                                      ieee.log(LOG_INPUTS).tolist()) if x != 1.0)
    assert worst < 1.01


def test_exact_points_are_exact() -> None:
    assert ieee.exp(0.0).tolist() == [1.0]
    assert ieee.log(1.0).tolist() == [0.0]
    assert ieee.log(np.array([2.0**-1000, 2.0**1000])).tolist() == pytest.approx(
        [-1000 * math.log(2), 1000 * math.log(2)], rel=1e-16)


def test_exp_overflows_to_inf_and_underflows_to_zero_quietly() -> None:
    with np.errstate(all="raise"):
        out = ieee.exp(np.array([709.78, 710.0, 1e300, np.inf, -745.2, -1e300, -np.inf]))
    assert out[1:4].tolist() == [math.inf] * 3
    assert out[4:].tolist() == [0.0] * 3
    assert math.isfinite(out[0])


def test_exp_reaches_the_subnormals_on_its_way_to_zero() -> None:
    out = ieee.exp(np.array([-709.0, -720.0, -740.0]))
    assert 0 < out[1] < 2.2250738585072014e-308 and 0 < out[2] < out[1]
    assert out[1] == pytest.approx(math.exp(-720.0), rel=1e-9)


@given(st.integers(1, 3 * 8192 + 17), st.integers(0, 2**32))
@settings(max_examples=30, deadline=None)
def test_an_array_gives_the_same_bits_whole_or_element_by_element(size: int, seed: int) -> None:
    x = np.random.default_rng(seed).normal(0, 50, size)
    whole, pieces = ieee.exp(x), np.concatenate([ieee.exp(v) for v in np.array_split(x, 7)
                                                 if len(v)])
    assert whole.tobytes() == pieces.tobytes()
    y = np.abs(x) + 1e-3
    assert ieee.log(y).tobytes() == np.concatenate([ieee.log(v) for v in y[:50]] + [
        ieee.log(y[50:])]).tobytes()


@given(st.floats(min_value=2.2250738585072014e-308, max_value=1.7976931348623157e308))
@settings(max_examples=300, deadline=None)
def test_log_of_one_float_is_the_array_log_bit_for_bit(x: float) -> None:
    assert ieee.log_float(x) == ieee.log(x)[0]


def test_the_input_is_not_changed_and_a_scalar_gives_one_element() -> None:
    x = np.array([0.5, 1.5])
    before = x.copy()
    ieee.exp(x), ieee.log(x)
    assert np.array_equal(x, before)
    assert ieee.exp(1.0).shape == (1,) and ieee.exp(1.0)[0] == pytest.approx(math.e, rel=1e-16)
