"""Parameters of each price model, validated, in the original service's units.

Rates and volatilities are annual; ``delta`` is the model time of one step in trading days,
and a year has :data:`TRADING_DAYS_PER_YEAR` of them, so one step is ``dt = delta / 252``
years. Every field has bounds (the ``*_MAX``/``*_LIMIT`` constants and :data:`BOUNDS`); a value
outside them is a :class:`~simulation.errors.ParamError` naming the field by its wire name.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from simulation.errors import ParamError
from wire.names import MODEL_DEFAULTS, MODEL_PARAMS, PICKED_SEED_BOUND, STREAM_DEFAULTS
from wire.values import check_number

TRADING_DAYS_PER_YEAR = 252

#: Inclusive bounds of each parameter: wide enough for any market a user means, narrow enough
#: that one step's exp() stays finite. A long path can still leave double precision at the
#: extremes (``mu=10, sigma=0, delta=1`` reaches ``inf`` after about 18,000 steps; a large
#: ``sigma`` decays to 0.0): ``/gbm`` refuses such a path, and a stream that overflows ends.
START_PRICE_MAX = 1e9
MU_LIMIT = 10.0
SIGMA_MAX = 10.0
DELTA_MAX = 2520.0  # ten trading years per step
DELTA_MIN = 1e-9  # about 23 microseconds of a 6.5-hour trading day: dt stays far from 0

#: ``(low, high, low_open)`` of every field, by wire name (``startPrice`` and the rest).
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "startPrice": (0.0, START_PRICE_MAX, True),
    "mu": (-MU_LIMIT, MU_LIMIT, False),
    "sigma": (0.0, SIGMA_MAX, False),
    "delta": (DELTA_MIN, DELTA_MAX, False),
    "jumpRate": (0.0, 1000.0, False),  # jumps a year
    "jumpMean": (-2.0, 2.0, False),  # of the log jump size
    "jumpStd": (0.0, 2.0, False),
    "v0": (0.0, 4.0, False),  # variance: a volatility of up to 200 %
    "kappa": (1e-3, 1000.0, False),  # speed of mean reversion, a year
    "theta": (1e-6, 4.0, False),
    "xi": (1e-3, 5.0, False),  # volatility of the variance
    "rho": (-1.0, 1.0, False),
    "level": (0.0, START_PRICE_MAX, True),  # long-run price
}


def pick_seed() -> int:
    """A fresh seed from the operating system's entropy, below :data:`PICKED_SEED_BOUND`.

    Only a seed is drawn here; every price still comes from the generator that seed names.
    """
    return secrets.randbelow(PICKED_SEED_BOUND)


class _Model:
    """What every model's parameters share: a start price, a step of ``delta`` trading days,
    and checks of every field against :data:`BOUNDS` (by the field's wire name)."""

    __slots__ = ()
    name: ClassVar[str]
    wire: ClassVar[tuple[str, ...]]
    """The model's fields by wire name, in the protocol's order (the dataclass's order)."""
    start_price: float
    delta: float

    def __post_init__(self) -> None:
        for f, wire in zip(fields(self), self.wire):  # type: ignore[arg-type]
            low, high, low_open = BOUNDS[wire]
            object.__setattr__(self, f.name, check_number(
                wire, getattr(self, f.name), low=low, high=high, low_open=low_open,
                error=ParamError))

    @property
    def dt(self) -> float:
        """Model time of one step, in years."""
        return self.delta / TRADING_DAYS_PER_YEAR

    def values(self) -> dict[str, float]:
        """The fields by wire name, as an ack reports them."""
        return {wire: getattr(self, f.name)
                for f, wire in zip(fields(self), self.wire)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class GBMParams(_Model):
    """Geometric Brownian motion (protocol version 1).

    >>> GBMParams(start_price=70.0, mu=0.05, sigma=0.3, delta=1.0).dt
    0.003968253968253968
    """

    name = "gbm"
    wire = MODEL_PARAMS[name]
    start_price: float
    mu: float
    sigma: float
    delta: float

    @property
    def drift(self) -> float:
        """The deterministic part of one log-step: ``(mu - sigma**2 / 2) * dt``."""
        return (self.mu - self.sigma * self.sigma / 2) * self.dt

    @property
    def vol(self) -> float:
        """The scale of one log-step's random part: ``sigma * sqrt(dt)``."""
        return self.sigma * math.sqrt(self.dt)


@dataclass(frozen=True, slots=True)
class MertonParams(_Model):
    """GBM plus jumps: ``jump_rate`` a year (Poisson), each a normal log move of mean
    ``jump_mean`` and standard deviation ``jump_std``; the drift is compensated so that
    ``E[S(t + dt) / S(t)] = exp(mu dt)``."""

    name = "merton"
    wire = MODEL_PARAMS[name]
    start_price: float
    mu: float
    sigma: float
    delta: float
    jump_rate: float
    jump_mean: float
    jump_std: float


@dataclass(frozen=True, slots=True)
class HestonParams(_Model):
    """Stochastic variance: ``dv = kappa (theta - v) dt + xi sqrt(v) dW``, starting at ``v0``,
    its shocks correlated ``rho`` with the price's."""

    name = "heston"
    wire = MODEL_PARAMS[name]
    start_price: float
    mu: float
    delta: float
    v0: float
    kappa: float
    theta: float
    xi: float
    rho: float


@dataclass(frozen=True, slots=True)
class OUParams(_Model):
    """A mean-reverting log price (Ornstein-Uhlenbeck): it is pulled towards ``ln(level)`` at
    speed ``kappa`` a year, with volatility ``sigma``."""

    name = "ou"
    wire = MODEL_PARAMS[name]
    start_price: float
    sigma: float
    delta: float
    kappa: float
    level: float


ModelParams = GBMParams | MertonParams | HestonParams | OUParams

#: Each model's parameter class, by its wire name.
MODELS: dict[str, type[Any]] = {m.name: m for m in (GBMParams, MertonParams, HestonParams,
                                                     OUParams)}


def model_params(model: str, given: dict[str, Any]) -> ModelParams:
    """The parameters of ``model`` from the fields ``given`` by wire name, the protocol's
    defaults for the others (:data:`~wire.names.STREAM_DEFAULTS`; an ``ou`` stream's
    ``level`` is its ``startPrice``); raises :class:`ParamError` naming the first field out of
    its bounds."""
    values = {**STREAM_DEFAULTS, **MODEL_DEFAULTS.get(model, {}), **given}
    values.setdefault("level", values["startPrice"])
    cls = MODELS[model]
    params: ModelParams = cls(*(values[name] for name in cls.wire))
    return params
