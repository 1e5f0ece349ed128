"""The Merton, Heston and OU models: their statistics across many seeded paths, at several step
sizes and horizons, against exact formulas and reference option prices.

Every sample is a few thousand streams with consecutive seeds, stepped together by a
:class:`~simulation.StreamBank` (the server's door; a test below checks that its prices are the
batch door's, :func:`~simulation.path_and_vols`), so every test is deterministic. Bounds are
``BOUND`` standard errors. As in ``test_gbm.py``, each test names the bugs it exists to catch
and checks, before it looks at the sample, that each bug's value lies more than ``2 * BOUND``
standard errors away, so that a weakened test fails loudly instead of passing quietly.

Units: rates and volatilities are annual, ``delta`` is in trading days and ``dt = delta / 252``
years. Option prices are risk-neutral with ``mu`` as the rate (no dividend): the models'
``E[S_T] = S_0 e^(mu T)`` makes ``mu`` the rate a martingale measure needs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import QuantLib as ql  # type: ignore[import-untyped]
from scipy import stats

from simulation import HestonParams, MertonParams, OUParams, StreamBank, path_and_vols
from simulation.kernels import KERNELS
from simulation.params import ModelParams

#: Standard errors an estimate may stray from its expectation.
BOUND = 6.0
#: Paths of each Merton and Heston sample, and of each OU sample.
PATHS = 6000
OU_PATHS = 4000


def assert_estimate(estimate: float, expected: float, se: float,
                    wrong: dict[str, float]) -> None:
    """``estimate`` is within BOUND standard errors of ``expected``, and every value in
    ``wrong`` (what the estimate converges to under a known bug) is beyond 2 * BOUND."""
    assert se > 0.0 and math.isfinite(se), f"no spread in the sample (se={se!r}): paths alike?"
    for bug, value in wrong.items():
        assert abs(value - expected) > 2 * BOUND * se, f"too weak to catch: {bug}"
    assert abs(estimate - expected) <= BOUND * se, (
        f"{estimate!r} is {abs(estimate - expected) / se:.1f} standard errors from {expected!r}"
    )


def mean_se(x: np.ndarray) -> float:
    """The standard error of ``x.mean()``, from the sample."""
    return float(x.std(ddof=1)) / math.sqrt(len(x))


def variance_se(x: np.ndarray) -> float:
    """The standard error of ``x.var(ddof=1)``, from the sample's fourth central moment."""
    d2 = (x - x.mean()) ** 2
    return float(d2.std(ddof=1)) / math.sqrt(len(x))


# --- samples ------------------------------------------------------------------------------------

@dataclass
class Sample:
    """``S[n]`` (and ``v[n]``, Heston) of every path at each horizon ``n``."""

    prices: dict[int, np.ndarray] = field(default_factory=dict)
    variances: dict[int, np.ndarray] = field(default_factory=dict)
    zero_variances: int = 0
    """Steps, over all paths, that ended with ``v == 0`` (only QE's exponential branch can)."""
    steps: int = 0


def simulate(params: ModelParams, first_seed: int, paths: int,
             horizons: tuple[int, ...]) -> Sample:
    """Streams ``first_seed``, ``first_seed + 1``, ... of ``params``, stepped together."""
    bank = StreamBank(capacity=paths)
    slots = np.array([bank.add(params, first_seed + i)[0] for i in range(paths)])
    sample = Sample()
    heston = isinstance(params, HestonParams)
    for n in range(1, max(horizons) + 1):
        prices = bank.step(slots).copy()
        if heston:
            vols = bank.vol[slots]
            sample.zero_variances += int(np.count_nonzero(vols == 0.0))
            sample.steps += len(vols)
        if n in horizons:
            sample.prices[n] = prices
            if heston:
                sample.variances[n] = vols * vols
    return sample


def days_of(params: ModelParams, n: int) -> int:
    """The horizon of ``n`` steps in whole trading days (QuantLib's maturity date)."""
    days = n * params.delta
    assert abs(days - round(days)) < 1e-9, "choose horizons of whole days"
    return round(days)


# --- option prices ----------------------------------------------------------------------------

def norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def black_scholes_call(s: float, k: float, t: float, r: float, sigma: float) -> float:
    root = sigma * math.sqrt(t)
    d1 = (math.log(s / k) + (r + sigma * sigma / 2) * t) / root
    return s * norm_cdf(d1) - k * math.exp(-r * t) * norm_cdf(d1 - root)


def merton_call(s: float, k: float, t: float, r: float, sigma: float, lam: float, m: float,
                sd: float) -> float:
    """Merton (1976): Black-Scholes prices weighted by the Poisson law of the number of
    jumps, under the jump rate ``lam (1 + kappa)``, ``kappa = E[e^J] - 1``."""
    kappa = math.expm1(m + sd * sd / 2)
    rate = lam * (1 + kappa) * t
    total, n, weights = 0.0, 0, 0.0
    while n < rate + 40 * math.sqrt(rate) + 40:  # the Poisson tail beyond is below 1e-300
        weight = (math.exp(-rate + n * math.log(rate) - math.lgamma(n + 1)) if rate
                  else float(n == 0))
        total += weight * black_scholes_call(
            s, k, t, r - lam * kappa + n * math.log1p(kappa) / t,
            math.sqrt(sigma * sigma + n * sd * sd / t))
        weights += weight
        n += 1
    assert abs(weights - 1.0) < 1e-12
    return total


#: QuantLib's clock: every calendar day a business day, 252 of them a year, so ``days`` days
#: are exactly ``days / 252`` years, as in our models.
TODAY = ql.Date(2, 1, 2024)
DAY_COUNT = ql.Business252(ql.NullCalendar())


def _ql_curves(r: float) -> tuple[object, object]:
    ql.Settings.instance().evaluationDate = TODAY
    return (ql.YieldTermStructureHandle(ql.FlatForward(TODAY, r, DAY_COUNT)),
            ql.YieldTermStructureHandle(ql.FlatForward(TODAY, 0.0, DAY_COUNT)))


def _ql_call(k: float, days: int, engine: object) -> float:
    option = ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Call, k),
                              ql.EuropeanExercise(TODAY + days))
    option.setPricingEngine(engine)
    return float(option.NPV())


def quantlib_heston_call(p: HestonParams, k: float, days: int, **change: float) -> float:
    """QuantLib's semi-analytic Heston price (rate ``mu``), with some parameters changed."""
    p = replace(p, **change)
    rates, dividends = _ql_curves(p.mu)
    process = ql.HestonProcess(rates, dividends, ql.QuoteHandle(ql.SimpleQuote(p.start_price)),
                               p.v0, p.kappa, p.theta, p.xi, p.rho)
    return _ql_call(k, days, ql.AnalyticHestonEngine(ql.HestonModel(process)))


def quantlib_merton_call(p: MertonParams, k: float, days: int) -> float:
    """QuantLib's Merton price. Its Python build wraps ``Merton76Process`` but not the
    ``JumpDiffusionEngine`` that prices it, so this is the Bates model (Heston plus Merton's
    jumps, same jump parameters) with a constant variance: ``v0 = theta = sigma^2`` and a
    vanishing vol of vol."""
    rates, dividends = _ql_curves(p.mu)
    v = p.sigma * p.sigma
    process = ql.BatesProcess(rates, dividends, ql.QuoteHandle(ql.SimpleQuote(p.start_price)),
                              v, 1.0, v, 1e-4, 0.0, p.jump_rate, p.jump_mean, p.jump_std)
    return _ql_call(k, days, ql.BatesEngine(ql.BatesModel(process)))


def test_our_black_scholes_and_merton_prices_agree_with_quantlib() -> None:
    p = MertonParams(100.0, 0.05, 0.2, 1.0, 100.0, -0.05, 0.03)
    for days, k in [(1, 100.0), (63, 95.0), (250, 120.0)]:
        assert merton_call(100.0, k, days / 252, 0.05, 0.2, 100.0, -0.05, 0.03) == (
            pytest.approx(quantlib_merton_call(p, k, days), rel=1e-6))
        assert merton_call(100.0, k, days / 252, 0.05, 0.2, 0.0, -0.05, 0.03) == (
            pytest.approx(black_scholes_call(100.0, k, days / 252, 0.05, 0.2), rel=1e-12))
        assert black_scholes_call(100.0, k, days / 252, 0.05, 0.2) == pytest.approx(
            quantlib_heston_call(HestonParams(100.0, 0.05, 1.0, 0.04, 1.0, 0.04, 1e-3, 0.0),
                                 k, days), rel=1e-6)


# --- Merton ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MertonCase:
    id: str
    params: MertonParams
    first_seed: int
    horizons: tuple[int, ...]


# Many small jumps (100 a year, each -5 % +- 3 %): the compensator, lambda * k = -4.8 a year,
# is far above the noise within a day, and jumps carry 9/10 of the variance.
MERTON_JUMPS = {"jump_rate": 100.0, "jump_mean": -0.05, "jump_std": 0.03}
MERTON_CASES = [
    MertonCase("minutes", MertonParams(100.0, 0.05, 0.2, 1 / 390, **MERTON_JUMPS), 1_000_000,
               (130, 390)),
    MertonCase("days", MertonParams(100.0, 0.05, 0.2, 1.0, **MERTON_JUMPS), 2_000_000,
               (1, 21, 252)),
    MertonCase("weeks", MertonParams(100.0, 0.05, 0.2, 5.0, **MERTON_JUMPS), 3_000_000,
               (1, 50)),
]
MERTON_HORIZONS = [pytest.param(case, n, id=f"{case.id}-n={n}")
                   for case in MERTON_CASES for n in case.horizons]
MERTON_ENDS = [pytest.param(case, id=case.id) for case in MERTON_CASES]


@functools.cache
def merton_sample(case: MertonCase) -> Sample:
    return simulate(case.params, case.first_seed, PATHS, case.horizons)


def merton_k(p: MertonParams) -> float:
    return math.expm1(p.jump_mean + p.jump_std**2 / 2)


def merton_log_cumulants(p: MertonParams, t: float, compensated: bool = True,
                         ) -> tuple[float, float, float]:
    """Mean, variance and fourth cumulant of ``ln(S_t / S_0)``: a Brownian motion plus a
    compound Poisson sum of normal jumps."""
    lam, m, s = p.jump_rate, p.jump_mean, p.jump_std
    drift = p.mu - p.sigma**2 / 2 - (lam * merton_k(p) if compensated else 0.0)
    return ((drift + lam * m) * t, (p.sigma**2 + lam * (m * m + s * s)) * t,
            lam * t * (m**4 + 6 * m * m * s * s + 3 * s**4))


@pytest.mark.parametrize(("case", "n"), MERTON_HORIZONS)
def test_merton_log_return_has_the_compensated_mean(case: MertonCase, n: int) -> None:
    p = case.params
    x = np.log(merton_sample(case).prices[n] / p.start_price)
    t = n * p.dt
    mean, variance, _ = merton_log_cumulants(p, t)
    lam, m = p.jump_rate, p.jump_mean

    assert_estimate(float(x.mean()), mean, math.sqrt(variance / len(x)), wrong={
        "compensator missing": merton_log_cumulants(p, t, compensated=False)[0],
        "compensator of the wrong sign": mean + 2 * lam * merton_k(p) * t,
        "jump mean left out": mean - lam * m * t,
        "dt is delta": mean * 252,
    })


@pytest.mark.parametrize(("case", "n"), MERTON_HORIZONS)
def test_merton_log_return_has_the_diffusion_plus_jump_variance(case: MertonCase, n: int,
                                                                ) -> None:
    p = case.params
    x = np.log(merton_sample(case).prices[n] / p.start_price)
    t = n * p.dt
    _, variance, k4 = merton_log_cumulants(p, t)
    lam, m, s = p.jump_rate, p.jump_mean, p.jump_std
    se = math.sqrt(k4 / len(x) + 2 * variance**2 / (len(x) - 1))  # of a sample variance
    wrong = {
        "jump variance without m**2": variance - lam * m * m * t,
        "jump_std used as a variance": variance + lam * (s - s * s) * t,
        "dt is delta": variance * 252,
    }
    if n > 1:
        wrong["one jump every step, not a Poisson number"] = p.sigma**2 * t + n * s * s

    assert_estimate(float(x.var(ddof=1)), variance, se, wrong)


@pytest.mark.parametrize(("case", "n"), MERTON_HORIZONS)
def test_merton_expected_price_is_start_price_times_exp_mu_t(case: MertonCase, n: int) -> None:
    p = case.params
    ratio = merton_sample(case).prices[n] / p.start_price
    t = n * p.dt
    lam, m, s, k = p.jump_rate, p.jump_mean, p.jump_std, merton_k(p)
    # E[(S_t / S_0)^2] = exp(t (2 mu + sigma^2 + lam (E[e^2J] - 1 - 2 k)))
    second = math.exp(t * (2 * p.mu + p.sigma**2 + lam * (math.expm1(2 * m + 2 * s * s) - 2 * k)))
    expected = math.exp(p.mu * t)
    sd = math.sqrt(second - expected**2)

    assert_estimate(float(ratio.mean()), expected, sd / math.sqrt(len(ratio)), wrong={
        "compensator missing": math.exp((p.mu + lam * k) * t),
        "compensator of the wrong sign": math.exp((p.mu + 2 * lam * k) * t),
        "dt is delta": math.exp(p.mu * t * 252),
    })


@pytest.mark.parametrize("case", MERTON_ENDS)
def test_merton_call_price_matches_the_merton_series_and_quantlib(case: MertonCase) -> None:
    p = case.params
    n = max(case.horizons)
    t = n * p.dt
    strike = round(p.start_price * math.exp(p.mu * t), 2)  # at the money forward
    payoffs = math.exp(-p.mu * t) * np.maximum(merton_sample(case).prices[n] - strike, 0.0)
    args = (p.sigma, p.jump_rate, p.jump_mean, p.jump_std)
    series = merton_call(p.start_price, strike, t, p.mu, *args)
    shift = math.exp(p.jump_rate * merton_k(p) * t)  # S_t without the compensator: S_t * shift
    wrong = {
        "compensator missing": shift * merton_call(p.start_price, strike / shift, t, p.mu, *args),
        "jumps ignored (Black-Scholes at sigma)": black_scholes_call(
            p.start_price, strike, t, p.mu, p.sigma),
    }

    assert series == pytest.approx(quantlib_merton_call(p, strike, days_of(p, n)), rel=1e-6)
    assert_estimate(float(payoffs.mean()), series, mean_se(payoffs), wrong)


# --- Heston -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HestonCase:
    id: str
    params: HestonParams
    first_seed: int
    horizons: tuple[int, ...]
    strike: float
    """Of the call, at the last horizon: out of the money, where the skew and the vol of
    vol show."""
    xi_shows: bool = True
    """The call's price tells ``xi`` from ``xi**2`` beyond the noise (a one-day option does
    not: there the ``xi**2`` bug is the variance test's to catch)."""


# All start at v0 = 0.09 (a 30 % volatility), above theta, so mean reversion shows in E[v];
# rho = -0.9 gives a steep skew. QE's discretisation bias is small at these steps (a day at
# most, or five days with a slow kappa): with 40,000 paths of other seeds each call came
# within 0.8 of this test's standard errors of QuantLib's price (within 2 of their own).
HESTON_CASES = [
    # minute bars over a day: fast mean reversion (a half-life of 3.5 days), a high vol of vol
    HestonCase("minutes", HestonParams(100.0, 0.1, 1 / 390, 0.09, 50.0, 0.05, 2.0, -0.9),
               4_000_000, (260, 390), 103.0, xi_shows=False),
    HestonCase("days", HestonParams(100.0, 0.1, 1.0, 0.09, 3.0, 0.05, 0.5, -0.9),
               5_000_000, (21, 126), 125.0),
    HestonCase("weeks", HestonParams(100.0, 0.1, 5.0, 0.09, 2.0, 0.04, 0.35, -0.9),
               6_000_000, (10, 50), 140.0),
    # 2 kappa theta = 0.12 < xi**2 = 0.36: v reaches 0, the QE exponential branch is used
    HestonCase("feller-fails", HestonParams(100.0, 0.1, 5.0, 0.09, 1.5, 0.04, 0.6, -0.9),
               7_000_000, (10, 30), 120.0),
]
HESTON_HORIZONS = [pytest.param(case, n, id=f"{case.id}-n={n}")
                   for case in HESTON_CASES for n in case.horizons]
HESTON_ENDS = [pytest.param(case, id=case.id) for case in HESTON_CASES]


@functools.cache
def heston_sample(case: HestonCase) -> Sample:
    return simulate(case.params, case.first_seed, PATHS, case.horizons)


def cir_moments(p: HestonParams, t: float) -> tuple[float, float]:
    """The exact mean and variance of ``v_t`` from ``v_0``. QE matches the conditional mean
    and variance of each step exactly, so its ``v_n`` has these two moments at any ``dt``."""
    e = math.exp(-p.kappa * t)
    mean = p.theta + (p.v0 - p.theta) * e
    variance = (p.v0 * p.xi**2 * e * (1 - e) / p.kappa
                + p.theta * p.xi**2 * (1 - e) ** 2 / (2 * p.kappa))
    return mean, variance


@pytest.mark.parametrize(("case", "n"), HESTON_HORIZONS)
def test_heston_expected_variance_reverts_to_theta(case: HestonCase, n: int) -> None:
    p = case.params
    v = heston_sample(case).variances[n]
    mean, variance = cir_moments(p, n * p.dt)

    assert_estimate(float(v.mean()), mean, math.sqrt(variance / len(v)), wrong={
        "dt is delta": cir_moments(p, n * p.delta)[0],
        "e^-kappa each step (dt missing)": cir_moments(p, float(n))[0],
        "no mean reversion": p.v0,
    })


@pytest.mark.parametrize(("case", "n"), HESTON_HORIZONS)
def test_heston_variance_of_v_is_the_cir_variance(case: HestonCase, n: int) -> None:
    p = case.params
    v = heston_sample(case).variances[n]
    t = n * p.dt
    wrong = {"xi**2 passed as xi": cir_moments(replace(p, xi=p.xi**2), t)[1]}
    if p.kappa * t < 0.26:  # later both are too near the stationary variance
        wrong["dt is delta"] = cir_moments(p, n * p.delta)[1]

    assert_estimate(float(v.var(ddof=1)), cir_moments(p, t)[1], variance_se(v), wrong)


@pytest.mark.parametrize(("case", "n"), HESTON_HORIZONS)
def test_heston_expected_price_is_start_price_times_exp_mu_t(case: HestonCase, n: int) -> None:
    p = case.params
    ratio = heston_sample(case).prices[n] / p.start_price
    t = n * p.dt
    wrong = {"dt is delta": math.exp(p.mu * n * p.delta)}
    if t >= 0.25:  # over a day, mu t is below the noise
        wrong["mu dt left out"] = 1.0

    assert_estimate(float(ratio.mean()), math.exp(p.mu * t), mean_se(ratio), wrong)


@pytest.mark.parametrize("case", HESTON_ENDS)
def test_heston_call_price_matches_quantlib(case: HestonCase) -> None:
    p = case.params
    n = max(case.horizons)
    t, days, k = n * p.dt, days_of(p, n), case.strike
    payoffs = math.exp(-p.mu * t) * np.maximum(heston_sample(case).prices[n] - k, 0.0)
    wrong = {
        "rho ignored": quantlib_heston_call(p, k, days, rho=0.0),
        "variance constant at v0 (Black-Scholes)": black_scholes_call(
            p.start_price, k, t, p.mu, math.sqrt(p.v0)),
    }
    if case.xi_shows:
        wrong["xi**2 passed as xi"] = quantlib_heston_call(p, k, days, xi=p.xi**2)

    assert_estimate(float(payoffs.mean()), quantlib_heston_call(p, k, days), mean_se(payoffs),
                    wrong)


def test_heston_feller_case_uses_the_exponential_branch() -> None:
    case = HESTON_CASES[-1]
    p = case.params
    sample = heston_sample(case)

    assert 2 * p.kappa * p.theta < p.xi**2
    assert sample.zero_variances > 0.01 * sample.steps  # v' = 0 has probability >= 0.2 there
    assert all(v.min() >= 0.0 for v in sample.variances.values())


def qe_one_step(p: HestonParams, n: int, seed: int) -> np.ndarray:
    """``n`` draws of the variance one step after ``v0``, through the scheme's own walk."""
    kernel = KERNELS["heston"]
    rng = np.random.default_rng(seed)
    draws = np.empty((n, kernel.kinds, 1))
    draws[:, 0:2, 0] = rng.standard_normal((n, 2))
    draws[:, 2, 0] = rng.random(n)
    consts = [np.full(n, x) for x in kernel.constants(p)]
    _, after = kernel.walk_rows(consts, np.zeros(n), np.full(n, p.v0), draws)
    assert after is not None
    return after[:, 0]


# psi = s^2 / m^2 of the first step: 0.01 (the quadratic branch) and 9.6 (the exponential one)
QE_BRANCHES = [
    pytest.param(HestonParams(100.0, 0.1, 1.0, 0.09, 3.0, 0.05, 0.5, -0.9), id="quadratic"),
    pytest.param(HestonParams(100.0, 0.1, 5.0, 0.001, 1.5, 0.04, 1.2, -0.9), id="exponential"),
]


@pytest.mark.parametrize("p", QE_BRANCHES)
def test_one_qe_step_has_the_exact_conditional_mean_and_variance(p: HestonParams) -> None:
    """QE draws each next variance from a law with the CIR transition's own mean and variance:
    one step shows either branch's distribution, not diluted by the other's."""
    m, s2 = cir_moments(p, p.dt)
    v = qe_one_step(p, 400_000, 11)
    psi = s2 / m**2
    assert (psi < 1.5) == (p.v0 > 0.01)
    q = (psi - 1) / (psi + 1) if psi > 1.5 else 0.0
    wrong_variance = {
        "xi**2 passed as xi": cir_moments(replace(p, xi=p.xi**2), p.dt)[1],
        "dt is delta": cir_moments(p, p.delta)[1],
    }
    if psi > 1.5:  # the branch's exponential replaced by its mean: E[v'^2] halves
        wrong_variance["exponential part at its mean"] = m * m / (1 - q) - m * m

    assert_estimate(float(v.mean()), m, mean_se(v), {"no mean reversion": p.v0})
    assert_estimate(float(v.var(ddof=1)), s2, variance_se(v), wrong_variance)
    if psi > 1.5:
        assert float(np.mean(v == 0.0)) == pytest.approx(q, abs=6 * math.sqrt(q * (1 - q) / len(v)))


# --- OU -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OUCase:
    id: str
    params: OUParams
    first_seed: int
    horizons: tuple[int, ...]


# Each starts 1/6 below its level, and reverts over about the longest horizon.
OU_CASES = [
    OUCase("minutes", OUParams(100.0, 0.3, 1 / 390, 252.0, 120.0), 8_000_000, (39, 390)),
    OUCase("days", OUParams(100.0, 0.3, 1.0, 5.0, 120.0), 9_000_000, (5, 63)),
    OUCase("weeks", OUParams(100.0, 0.3, 5.0, 1.0, 120.0), 10_000_000, (10, 50)),
]
OU_HORIZONS = [pytest.param(case, n, id=f"{case.id}-n={n}")
               for case in OU_CASES for n in case.horizons]
# kappa t = 10: what is left of the start, e^-10 of it, is far below the noise.
OU_STATIONARY = [
    pytest.param(OUCase("days", OUParams(100.0, 0.4, 1.0, 10.0, 80.0), 11_000_000, (252,)),
                 id="days"),
    pytest.param(OUCase("weeks", OUParams(100.0, 0.4, 5.0, 4.0, 80.0), 12_000_000, (126,)),
                 id="weeks"),
]


@functools.cache
def ou_sample(case: OUCase) -> Sample:
    return simulate(case.params, case.first_seed, OU_PATHS, case.horizons)


def ou_moments(p: OUParams, n: int, step: float) -> tuple[float, float]:
    """Mean and variance of ``ln S`` after ``n`` exact steps of ``step`` years from the
    start."""
    level, x0 = math.log(p.level), math.log(p.start_price)
    u = p.kappa * n * step
    return (level + (x0 - level) * math.exp(-u),
            p.sigma**2 * -math.expm1(-2 * u) / (2 * p.kappa))


@pytest.mark.parametrize(("case", "n"), OU_HORIZONS)
def test_ou_log_price_has_the_exact_transition_mean(case: OUCase, n: int) -> None:
    p = case.params
    x = np.log(ou_sample(case).prices[n])
    mean, variance = ou_moments(p, n, p.dt)

    assert_estimate(float(x.mean()), mean, math.sqrt(variance / len(x)), wrong={
        "e^-kappa each step (dt missing)": ou_moments(p, n, 1.0)[0],
        "dt is delta": ou_moments(p, n, p.delta)[0],
        "no mean reversion": math.log(p.start_price),
    })


@pytest.mark.parametrize(("case", "n"), OU_HORIZONS)
def test_ou_log_price_has_the_exact_transition_variance(case: OUCase, n: int) -> None:
    p = case.params
    x = np.log(ou_sample(case).prices[n])
    _, variance = ou_moments(p, n, p.dt)
    u = p.kappa * n * p.dt
    wrong = {
        "2 kappa is kappa": 2 * variance,
        "sigma where sigma**2 belongs": variance / p.sigma,
    }
    if u < 0.5:  # early on a bug that reverts far too fast is at the stationary variance
        wrong["e^-kappa each step (dt missing)"] = ou_moments(p, n, 1.0)[1]
    else:  # later the pull of the level shows: a random walk's variance grows on
        wrong["no mean reversion"] = p.sigma**2 * n * p.dt

    assert_estimate(float(x.var(ddof=1)), variance, variance * math.sqrt(2 / (len(x) - 1)), wrong)


@pytest.mark.parametrize("case", OU_STATIONARY)
def test_ou_log_price_reaches_the_stationary_law(case: OUCase) -> None:
    p = case.params
    (n,) = case.horizons
    x = np.log(ou_sample(case).prices[n])
    level, variance = math.log(p.level), p.sigma**2 / (2 * p.kappa)
    se = math.sqrt(variance / len(x))

    assert_estimate(float(x.mean()), level, se, wrong={
        "pulled towards the start": math.log(p.start_price),
        "level not relative to the start": level + math.log(p.start_price),
    })
    assert_estimate(float(x.var(ddof=1)), variance, variance * math.sqrt(2 / (len(x) - 1)),
                    wrong={"2 kappa is kappa": 2 * variance,
                           "sigma where sigma**2 belongs": variance / p.sigma})
    assert stats.kstest((x - level) / math.sqrt(variance), "norm").pvalue > 0.001


# --- the samples: the batch door's paths, one per seed -----------------------------------------

Case = MertonCase | HestonCase | OUCase
ONE_OF_EACH = [MERTON_CASES[0], HESTON_CASES[-1], OU_CASES[0]]


def sample_of(case: Case) -> Sample:
    if isinstance(case, MertonCase):
        return merton_sample(case)
    if isinstance(case, HestonCase):
        return heston_sample(case)
    return ou_sample(case)


def case_id(case: Case) -> str:
    return f"{case.params.name}-{case.id}"


@pytest.mark.parametrize("case", ONE_OF_EACH, ids=case_id)
def test_the_sampled_streams_are_the_batch_doors_paths(case: Case) -> None:
    n = max(case.horizons)
    sample = sample_of(case)
    for i in [0, 1, 2, 1000]:
        prices, vols = path_and_vols(case.params, case.first_seed + i, n + 1)
        assert prices[n] == sample.prices[n][i]
        if vols is not None:
            assert vols[n] ** 2 == sample.variances[n][i]


@pytest.mark.parametrize("case", [*MERTON_CASES, *HESTON_CASES, *OU_CASES], ids=case_id)
def test_each_seed_of_a_sample_makes_its_own_path(case: Case) -> None:
    # what the statistics above assume: a mean of one path repeated can land near the
    # expectation by chance, a set of equal prices cannot pass this
    prices = sample_of(case).prices[max(case.horizons)]

    assert len(np.unique(prices)) == len(prices)
