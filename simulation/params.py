"""Parameters of geometric Brownian motion, validated, in the original service's units.

``mu`` and ``sigma`` are annual; ``delta`` is the model time of one step in trading days, and a
year has :data:`TRADING_DAYS_PER_YEAR` of them, so one step is ``dt = delta / 252`` years.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from simulation.errors import ParamError
from wire.names import PICKED_SEED_BOUND
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


def pick_seed() -> int:
    """A fresh seed from the operating system's entropy, below :data:`PICKED_SEED_BOUND`.

    Only a seed is drawn here; every price still comes from the generator that seed names.
    """
    return secrets.randbelow(PICKED_SEED_BOUND)


@dataclass(frozen=True, slots=True)
class GBMParams:
    """The four numbers that define a GBM price process.

    >>> GBMParams(start_price=70.0, mu=0.05, sigma=0.3, delta=1.0).dt
    0.003968253968253968
    """

    start_price: float
    mu: float
    sigma: float
    delta: float

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "start_price", check_number("startPrice", self.start_price, low=0.0,
                                               high=START_PRICE_MAX, low_open=True,
                                               error=ParamError))
        set_(self, "mu", check_number("mu", self.mu, low=-MU_LIMIT, high=MU_LIMIT,
                                      error=ParamError))
        set_(self, "sigma", check_number("sigma", self.sigma, low=0.0, high=SIGMA_MAX,
                                         error=ParamError))
        set_(self, "delta", check_number("delta", self.delta, low=0.0, high=DELTA_MAX,
                                         low_open=True, error=ParamError))

    @property
    def dt(self) -> float:
        """Model time of one step, in years."""
        return self.delta / TRADING_DAYS_PER_YEAR

    @property
    def drift(self) -> float:
        """The deterministic part of one log-step: ``(mu - sigma**2 / 2) * dt``."""
        return (self.mu - self.sigma**2 / 2) * self.dt

    @property
    def vol(self) -> float:
        """The scale of one log-step's random part: ``sigma * sqrt(dt)``."""
        return self.sigma * math.sqrt(self.dt)
