"""The GBM model: its statistics at several step sizes and horizons, its exact formula, and
bit-for-bit reproducibility.

The statistical tests use fixed seeds, so they are deterministic; their bounds are
``BOUND`` standard errors computed from the sample size. Each one also names the bugs it exists
to catch and checks, before looking at the sample, that each bug's value lies more than
``2 * BOUND`` standard errors away, so a weakened bound fails loudly instead of passing quietly.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import simulation.walk
from simulation import ieee
from simulation.kernels import KERNELS
from simulation.params import GBMParams
from simulation.walk import CatchUp, generator, path

#: Standard errors an estimate may stray from its expectation.
BOUND = 6.0

DELTAS = [1.0, 1 / 390, 5.0]


def assert_estimate(estimate: float, expected: float, se: float,
                    wrong: dict[str, float]) -> None:
    """``estimate`` is within BOUND standard errors of ``expected``; every value in ``wrong``
    (what a known bug would make the estimate converge to) is beyond 2 * BOUND."""
    for bug, value in wrong.items():
        assert abs(value - expected) > 2 * BOUND * se, f"too weak to catch: {bug}"
    assert abs(estimate - expected) <= BOUND * se, (
        f"{estimate!r} is {abs(estimate - expected) / se:.1f} standard errors from {expected!r}"
    )


def log_returns(prices: np.ndarray) -> np.ndarray:
    returns: np.ndarray = np.log(prices[1:] / prices[:-1])  # Any for numpy, dtype unknown
    return returns


def dt_of(delta: float) -> float:
    return delta / 252


# --- log-returns of one long path -------------------------------------------------------------

# Detecting a missing sigma**2/2 in the mean of n log-returns needs
# (sigma**2/2) * dt > 12 * sigma * sqrt(dt / n), i.e. sigma * sqrt(n * dt) > 24: a high sigma
# and decades of model time, whatever delta is. mu stays near sigma**2/2 so prices stay finite.
# (A 365-day year shifts this mean by less than a standard error; the variance test catches it.)
MEAN_CASES = [
    pytest.param(mu, sigma, years, delta, id=f"mu={mu}-sigma={sigma}-delta={delta:.4g}")
    for mu, sigma, years in [(10.0, 5.0, 36), (5.0, 4.0, 49)]
    for delta in DELTAS
]


@pytest.mark.parametrize(("mu", "sigma", "years", "delta"), MEAN_CASES)
def test_log_returns_have_mean_mu_minus_half_sigma_squared_times_dt(
    mu: float, sigma: float, years: int, delta: float
) -> None:
    dt = dt_of(delta)
    n = round(years / dt)
    r = log_returns(path(GBMParams(70.0, mu, sigma, delta), 7, n + 1))

    assert_estimate(
        float(r.mean()), (mu - sigma**2 / 2) * dt, sigma * math.sqrt(dt / n),
        wrong={
            "sigma**2/2 missing": mu * dt,
            "sigma**2 not halved": (mu - sigma**2) * dt,
            "dt is delta": (mu - sigma**2 / 2) * delta,
        },
    )


@pytest.mark.parametrize("delta", DELTAS)
def test_log_returns_have_variance_sigma_squared_times_dt(delta: float) -> None:
    mu, sigma, n = 0.05, 0.3, 200_000
    dt = dt_of(delta)
    r = log_returns(path(GBMParams(70.0, mu, sigma, delta), 11, n + 1))
    variance = sigma**2 * dt

    assert_estimate(
        float(r.var(ddof=1)), variance, variance * math.sqrt(2 / (n - 1)),
        wrong={
            "dt is delta": sigma**2 * delta,
            "dt is delta/365": sigma**2 * delta / 365,
            "vol is sigma*dt": (sigma * dt) ** 2,
        },
    )


@pytest.mark.parametrize("delta", DELTAS)
def test_standardised_log_returns_are_standard_normal(delta: float) -> None:
    mu, sigma = 0.05, 0.3
    dt = dt_of(delta)
    r = log_returns(path(GBMParams(70.0, mu, sigma, delta), 3, 20_001))
    z = (r - (mu - sigma**2 / 2) * dt) / (sigma * math.sqrt(dt))

    assert stats.kstest(z, "norm").pvalue > 0.001
    assert stats.normaltest(z).pvalue > 0.001


@pytest.mark.parametrize("delta", DELTAS)
def test_successive_log_returns_are_uncorrelated(delta: float) -> None:
    n = 100_000
    r = log_returns(path(GBMParams(70.0, 0.05, 0.3, delta), 5, n + 1))

    assert_estimate(float(np.corrcoef(r[:-1], r[1:])[0, 1]), 0.0, 1 / math.sqrt(n),
                    wrong={"one draw reused": 1.0})


def test_streams_with_different_seeds_are_uncorrelated() -> None:
    n = 100_000
    params = GBMParams(70.0, 0.05, 0.3, 1.0)
    a, b = log_returns(path(params, 1, n + 1)), log_returns(path(params, 2, n + 1))

    assert_estimate(float(np.corrcoef(a, b)[0, 1]), 0.0, 1 / math.sqrt(n),
                    wrong={"seed ignored": 1.0})


# --- log(S[n] / S[0]) across independent seeds, at several horizons --------------------------

SEEDS = 8000
HORIZONS = [1, 10, 250]
# A high sigma and a strongly negative drift make every drift bug visible even at n = 1.
H_MU, H_SIGMA = 10.0, 6.0


@functools.cache
def horizon_sample(delta: float) -> np.ndarray:
    """Row per seed: S[0], ..., S[max(HORIZONS)]."""
    params = GBMParams(70.0, H_MU, H_SIGMA, delta)
    return np.array([path(params, seed, max(HORIZONS) + 1) for seed in range(SEEDS)])


@pytest.mark.parametrize("delta", [1.0, 5.0])
@pytest.mark.parametrize("n", HORIZONS)
def test_log_price_change_over_n_steps_has_mean_drift_times_n(delta: float, n: int) -> None:
    prices = horizon_sample(delta)
    x = np.log(prices[:, n] / prices[:, 0])
    dt, drift = dt_of(delta), H_MU - H_SIGMA**2 / 2
    wrong = {
        "sigma**2/2 missing": H_MU * n * dt,
        "dt is delta": drift * n * delta,
    }
    if n > 1:
        wrong["drift counted once, not per step"] = drift * dt
        wrong["drift uses elapsed time at every step"] = drift * dt * n * (n + 1) / 2

    assert_estimate(float(x.mean()), drift * n * dt,
                    H_SIGMA * math.sqrt(n * dt / SEEDS), wrong)


@pytest.mark.parametrize("delta", [1.0, 5.0])
@pytest.mark.parametrize("n", HORIZONS)
def test_log_price_change_over_n_steps_has_variance_sigma_squared_times_n_dt(
    delta: float, n: int
) -> None:
    prices = horizon_sample(delta)
    x = np.log(prices[:, n] / prices[:, 0])
    dt = dt_of(delta)
    variance = H_SIGMA**2 * n * dt
    wrong = {
        "dt is delta": H_SIGMA**2 * n * delta,
        "dt is delta/365": H_SIGMA**2 * n * delta / 365,
    }
    if n > 1:
        wrong["one draw for every step"] = H_SIGMA**2 * n**2 * dt
        wrong["variance of one step only"] = H_SIGMA**2 * dt

    assert_estimate(float(x.var(ddof=1)), variance, variance * math.sqrt(2 / (SEEDS - 1)),
                    wrong)


@functools.cache
def mean_price_sample(delta: float, n: int) -> np.ndarray:
    params = GBMParams(100.0, 0.5, 0.5, delta)
    return np.array([path(params, 10_000 + seed, n + 1)[n] for seed in range(SEEDS)])


@pytest.mark.parametrize(("delta", "n"), [(1.0, 250), (5.0, 50)])
def test_expected_price_is_start_price_times_exp_mu_t(delta: float, n: int) -> None:
    s0, mu, sigma = 100.0, 0.5, 0.5
    t = n * dt_of(delta)
    expected = s0 * math.exp(mu * t)
    sd = expected * math.sqrt(math.expm1(sigma**2 * t))  # of one lognormal S[n]

    assert_estimate(
        float(mean_price_sample(delta, n).mean()), expected, sd / math.sqrt(SEEDS),
        wrong={
            "sigma**2/2 missing": s0 * math.exp((mu + sigma**2 / 2) * t),
            "sigma**2 not halved": s0 * math.exp((mu - sigma**2 / 2) * t),
            "dt is delta": s0 * math.exp(mu * n * delta),
        },
    )


# --- the exact formula --------------------------------------------------------------------------

FORMULA_CASES = [
    (GBMParams(70.0, 0.05, 0.3, 1.0), 42),
    (GBMParams(12.5, -0.4, 1.7, 1 / 390), 0),
    (GBMParams(880.0, 2.0, 0.05, 5.0), 2**64 - 1),
]


@pytest.mark.parametrize(("params", "seed"), FORMULA_CASES)
def test_first_price_is_the_start_price_exactly(params: GBMParams, seed: int) -> None:
    assert path(params, seed, 5)[0] == params.start_price


@pytest.mark.parametrize(("params", "seed"), FORMULA_CASES)
def test_second_price_follows_the_exact_step_with_the_first_draw(
    params: GBMParams, seed: int
) -> None:
    s0, mu, sigma = params.start_price, params.mu, params.sigma
    dt = params.delta / 252
    z1 = np.random.Generator(np.random.PCG64(seed)).standard_normal()

    expected = s0 * math.exp((mu - sigma**2 / 2) * dt + sigma * math.sqrt(dt) * z1)

    assert path(params, seed, 2)[1] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("params", "seed"), FORMULA_CASES)
def test_price_k_is_start_price_times_exp_of_the_first_k_increments(
    params: GBMParams, seed: int
) -> None:
    s0, mu, sigma = params.start_price, params.mu, params.sigma
    dt = params.delta / 252
    z = np.random.Generator(np.random.PCG64(seed)).standard_normal(20)
    increments = [(mu - sigma**2 / 2) * dt + sigma * math.sqrt(dt) * zk for zk in z]

    expected = [s0] + [s0 * math.exp(math.fsum(increments[:k])) for k in range(1, 21)]

    assert path(params, seed, 21).tolist() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("params", "seed"), FORMULA_CASES)
def test_each_price_is_the_start_times_exp_of_the_running_sum_of_increments_bit_for_bit(
    params: GBMParams, seed: int
) -> None:
    # the canonical arithmetic: y[k] = y[k-1] + inc[k], left to right; S[k] = S[0] * exp(y[k])
    z = generator(seed).standard_normal(49)
    y = [0.0]
    for zk in z.tolist():
        y.append(y[-1] + (params.drift + params.vol * zk))

    assert np.array_equal(path(params, seed, 50), params.start_price * ieee.exp(np.array(y)))


def test_increments_are_drift_plus_vol_times_z() -> None:
    params = GBMParams(70.0, 0.05, 0.3, 1.0)
    z = np.array([-3.0, -0.5, 0.0, 1.25, 4.0])
    dt = 1.0 / 252
    gbm = KERNELS["gbm"]

    expected = [(0.05 - 0.3**2 / 2) * dt + 0.3 * math.sqrt(dt) * zk for zk in z]

    assert gbm.increments(gbm.constants(params), z[None]).tolist() == pytest.approx(
        expected, rel=1e-15)


def test_sigma_zero_gives_the_deterministic_exponential_curve() -> None:
    params = GBMParams(70.0, 0.05, 0.0, 1.0)
    k = np.arange(1000)

    assert path(params, 1, 1000) == pytest.approx(70.0 * np.exp(0.05 * (1 / 252) * k), rel=1e-12)


def test_sigma_zero_gives_the_same_path_for_every_seed() -> None:
    params = GBMParams(70.0, 0.05, 0.0, 1.0)

    assert np.array_equal(path(params, 1, 1000), path(params, 2, 1000))


def test_a_path_that_overflows_reaches_inf_quietly() -> None:
    # Bounds keep one step finite, not a whole path; callers check finiteness.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prices = path(GBMParams(70.0, 10.0, 0.0, 2520.0), 1, 10)

    assert prices[-1] == math.inf


def test_a_path_that_underflows_reaches_zero_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prices = path(GBMParams(70.0, -10.0, 10.0, 2520.0), 1, 10)

    assert prices[-1] == 0.0


# --- shape of a path ----------------------------------------------------------------------------

def test_a_path_has_periods_float64_prices() -> None:
    prices = path(GBMParams(70.0, 0.05, 0.3, 1.0), 1, 100)

    assert (prices.shape, prices.dtype) == ((100,), np.dtype(np.float64))


def test_one_period_is_just_the_start_price() -> None:
    assert path(GBMParams(70.0, 0.05, 0.3, 1.0), 1, 1).tolist() == [70.0]


@pytest.mark.parametrize("periods", [0, -1])
def test_fewer_than_one_period_is_rejected(periods: int) -> None:
    with pytest.raises(ValueError, match=rf"^periods must be >= 1, got {periods}$"):
        path(GBMParams(70.0, 0.05, 0.3, 1.0), 1, periods)


# --- reproducibility ----------------------------------------------------------------------------

PARAMS = GBMParams(70.0, 0.05, 0.3, 1.0)


def test_the_generator_of_a_seed_is_pcg64_seeded_with_it() -> None:
    ours = generator(2**64 - 1)

    assert isinstance(ours.bit_generator, np.random.PCG64)
    assert np.array_equal(ours.standard_normal(100),
                          np.random.Generator(np.random.PCG64(2**64 - 1)).standard_normal(100))


def test_same_params_and_seed_give_the_same_path_bit_for_bit() -> None:
    assert np.array_equal(path(PARAMS, 42, 10_000), path(PARAMS, 42, 10_000))


def test_different_seeds_share_no_price_after_the_first() -> None:
    a, b = path(PARAMS, 1, 1000), path(PARAMS, 2, 1000)

    assert not np.isin(a[1:], b[1:]).any()


def test_different_params_with_the_same_seed_give_different_paths() -> None:
    other = GBMParams(70.0, 0.05, 0.31, 1.0)

    assert not np.isin(path(PARAMS, 1, 1000)[1:], path(other, 1, 1000)[1:]).any()


@pytest.mark.parametrize("m", [1, 2, 127, 128, 129, 999])
def test_a_shorter_path_is_a_prefix_of_a_longer_one_bit_for_bit(m: int) -> None:
    assert np.array_equal(path(PARAMS, 9, 1000)[:m], path(PARAMS, 9, m))


def test_a_prefix_holds_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulation.walk, "PIECE", 7)
    long = path(PARAMS, 9, 50)

    for m in range(1, 50):
        assert np.array_equal(long[:m], path(PARAMS, 9, m)), m


def test_the_chunk_size_changes_no_price(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = path(PARAMS, 9, 1000)
    monkeypatch.setattr(simulation.walk, "PIECE", 7)

    assert np.array_equal(path(PARAMS, 9, 1000), whole)


# --- a walk done in pieces ------------------------------------------------------------------


@given(seq=st.integers(0, 400), first_back=st.integers(0, 401),
       pieces=st.lists(st.integers(1, 150), min_size=1, max_size=30))
@settings(max_examples=200, deadline=None)
def test_a_catch_up_split_anyhow_reaches_the_paths_price_and_its_cursor_makes_the_stretch(
        seq: int, first_back: int, pieces: list[int]) -> None:
    first = max(seq + 1 - first_back, 0)
    params = GBMParams(70.0, 0.05, 0.3, 1.0)
    expected = path(params, 11, seq + 1)
    walk = CatchUp(params, 11, seq, first)
    for steps in itertools.cycle(pieces):
        if walk.run(steps):
            break
        assert walk.price == expected[walk.done]
    assert (walk.done, walk.price) == (seq, expected[seq])
    if first > seq:
        assert walk.cursor is None
    else:
        assert walk.cursor is not None
        assert walk.cursor.take(seq + 1 - first)[0].tolist() == expected[first:].tolist()


def test_a_catch_up_keeps_to_the_steps_it_is_given() -> None:
    walk = CatchUp(GBMParams(70.0, 0.05, 0.3, 1.0), 3, 1000, 400)
    assert not walk.run(250) and walk.done == 250
    assert not walk.run(250) and walk.done == 500  # across the cursor's step, 399
    assert walk.run(10_000) and walk.done == 1000


@pytest.mark.parametrize(("seq", "first"), [(-1, 0), (5, 7), (5, -1)])
def test_a_catch_up_to_an_impossible_step_is_refused(seq: int, first: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        CatchUp(GBMParams(70.0, 0.05, 0.3, 1.0), 3, seq, first)
