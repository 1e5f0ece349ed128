"""The paths themselves, pinned: the first 5,000 prices (and volatilities) of one stream of
each model, and of a correlated group, hashed. A change to the arithmetic of a model, to the
order of its draws, or to numpy's generator algorithms (which a numpy feature release may
change) changes every path a user has recorded; this test says so before a release does.
Changing a path on purpose means changing these digests in the same commit, and saying so."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from simulation import GBMParams, HestonParams, MertonParams, ModelParams, OUParams
from simulation.kernels import cholesky
from simulation.walk import GroupWalk, path_and_vols

SEED = 20261201
GOLDEN: list[tuple[ModelParams, str, float]] = [
    (GBMParams(70.0, 0.05, 0.3, 1.0),
     "af08d6c6e53d77a978a81de869b877a63ae448e73d8d35c36ad168ec67536165", 253.62991044850196),
    (MertonParams(70.0, 0.05, 0.2, 1.0, 20.0, -0.05, 0.1),
     "9b831a98a8fc8f96fe3bda82423347b493e6079833682816ce68c934932c3771", 151.89956310489555),
    (HestonParams(70.0, 0.05, 1.0, 0.04, 2.0, 0.05, 0.6, -0.7),
     "ee94df953abe3830553a5f3e311048a6e3517c6287dca03059f027903c3b2c8d", 97.85871288300693),
    (OUParams(70.0, 0.3, 1.0, 5.0, 80.0),
     "ed64af62b9383c27e96b99271b6a5d6457c4f1dc55f572f3e6f69ae7fb42c02a", 90.13672909193158),
]


@pytest.mark.parametrize(("params", "digest", "last"), GOLDEN, ids=lambda x: getattr(x, "name", ""))
def test_the_first_prices_of_each_model_are_the_recorded_ones(params: ModelParams, digest: str,
                                                              last: float) -> None:
    prices, vols = path_and_vols(params, SEED, 5000)
    assert float(prices[-1]) == last  # readable first: which price moved
    data = prices.tobytes() + (b"" if vols is None else vols.tobytes())
    assert hashlib.sha256(data).hexdigest() == digest, (
        f"{params.name}'s path changed (numpy {np.__version__}): the model's arithmetic, the "
        "order of its draws or numpy's generator algorithms differ from when it was recorded")


def test_a_correlated_groups_first_prices_are_the_recorded_ones() -> None:
    lower = cholesky([[1.0, 0.8], [0.8, 1.0]])
    assert lower is not None
    params = GOLDEN[0][0]
    a, b = GroupWalk([(params, 1), (params, 2)], lower).paths(5000)
    assert hashlib.sha256(a.tobytes() + b.tobytes()).hexdigest() == (
        "eae9e20d2d1692ef041139190429a610acd5887155b7e170bd3df265a4f34cf5")
