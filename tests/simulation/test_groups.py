"""Correlated groups: the market file's validation, the correlation of the members' shocks
against the matrix, and the bank stepping a group bit for bit as its walk does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simulation import StreamBank
from simulation.errors import MarketError
from simulation.kernels import cholesky
from simulation.market import demo_market, load_market
from simulation.params import GBMParams, HestonParams, MertonParams, ModelParams, OUParams
from simulation.walk import GroupWalk, generator

NOW = 1_764_412_345.25
MATRIX = [[1.0, 0.8, 0.6], [0.8, 1.0, 0.5], [0.6, 0.5, 1.0]]


def symbol(**extra: object) -> dict[str, object]:
    return {"startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0, "interval": 0.1,
            "seed": 1, **extra}


def market(tmp_path: Path, groups: object, **symbols: dict[str, object]) -> Path:
    table = symbols or {"A": symbol(seed=1), "B": symbol(seed=2), "C": symbol(seed=3)}
    file = tmp_path / "market.json"
    file.write_text(json.dumps({"symbols": table, "groups": groups}))
    return file


def test_a_group_of_the_file_is_read_with_its_cholesky_factor(tmp_path: Path) -> None:
    [group] = load_market(market(tmp_path, {"G": {"symbols": ["A", "B", "C"],
                                                  "correlation": MATRIX}}), NOW).groups
    lower = np.array(group.lower)
    assert (group.name, group.symbols) == ("G", ("A", "B", "C"))
    assert np.allclose(lower @ lower.T, MATRIX, atol=1e-15)
    assert np.array_equal(lower, np.tril(lower))


@pytest.mark.parametrize(("group", "message"), [
    ({"symbols": ["A", "B"], "correlation": [[1, 0.5], [0.4, 1]]},
     "correlation must be symmetric; [1][0] is 0.4 but [0][1] is 0.5"),
    ({"symbols": ["A", "B"], "correlation": [[1, 0.5], [0.5, 0.9]]},
     "correlation[1][1] must be 1, got 0.9"),
    ({"symbols": ["A", "B"], "correlation": [[1, 1.0], [1.0, 1]]},
     "correlation[1][0] must be between -1 and 1 (exclusive), got 1.0"),
    ({"symbols": ["A", "B", "C"], "correlation": [[1, 0.9, -0.9], [0.9, 1, 0.9],
                                                   [-0.9, 0.9, 1]]},
     "correlation is not positive definite (no set of symbols can have these pairwise "
     "correlations together)"),
    ({"symbols": ["A", "B"], "correlation": [[1, 0.5]]},
     "correlation must be a 2 x 2 matrix of numbers, one row per symbol in the group's order"),
    ({"symbols": ["A", "B"], "correlation": [[1, "x"], ["x", 1]]},
     "correlation must be a 2 x 2 matrix of numbers, one row per symbol in the group's order"),
    ({"symbols": ["A", "Z"], "correlation": [[1, 0.5], [0.5, 1]]},
     "'Z' is not a symbol of the market"),
    ({"symbols": ["A"], "correlation": [[1]]},
     "symbols must list two or more distinct symbols, got ['A']"),
    ({"symbols": ["A", "B"]}, "expected exactly 'symbols' (a list of the market's symbols) and "
     "'correlation' (a matrix, one row per symbol)"),
])
def test_a_bad_group_is_refused_naming_what_is_wrong(tmp_path: Path, group: object,
                                                    message: str) -> None:
    with pytest.raises(MarketError) as caught:
        load_market(market(tmp_path, {"G": group}), NOW)
    assert str(caught.value) == f"{tmp_path / 'market.json'}: group 'G': {message}"


def test_a_groups_symbols_share_model_interval_and_t0(tmp_path: Path) -> None:
    file = market(tmp_path, {"G": {"symbols": ["A", "B"], "correlation": [[1, 0.5], [0.5, 1]]}},
                  A=symbol(), B=symbol(seed=2, interval=0.2))
    with pytest.raises(MarketError, match="B and A differ in model, interval or t0"):
        load_market(file, NOW)


def test_a_symbol_is_in_one_group_at_most(tmp_path: Path) -> None:
    two = {"symbols": ["A", "B"], "correlation": [[1, 0.5], [0.5, 1]]}
    with pytest.raises(MarketError, match="group 'H': A is in group G too"):
        load_market(market(tmp_path, {"G": two, "H": {**two, "symbols": ["A", "C"]}}), NOW)


# --- the statistics of a group's shocks ---------------------------------------------------------

@pytest.mark.parametrize("delta", [1 / 390, 1.0, 5.0])
def test_the_sample_correlation_of_the_shocks_is_the_matrix(delta: float) -> None:
    # GBM's log return is drift + vol * Z exactly: the shocks are recovered from the prices
    members = [(GBMParams(70.0, 0.05, 0.3, delta), 11), (GBMParams(20.0, -0.1, 0.6, delta), 12),
               (GBMParams(5.0, 0.0, 0.1, delta), 13)]
    lower = cholesky(MATRIX)
    assert lower is not None
    n = 60_000
    prices = GroupWalk(members, lower).paths(n + 1)
    shocks = [(np.diff(np.log(p)) - m.drift) / m.vol for (m, _), p in zip(members, prices)]
    sample = np.corrcoef(shocks)
    for i in range(3):
        assert abs(np.mean(shocks[i])) < 6 / np.sqrt(n)
        assert abs(np.std(shocks[i]) - 1) < 6 / np.sqrt(2 * n)
        for j in range(i):
            rho = MATRIX[i][j]
            se = (1 - rho * rho) / np.sqrt(n)
            assert rho - 12 * se > 0.0  # unmixed shocks (correlation 0) would fail here
            assert abs(sample[i][j] - rho) < 6 * se, (i, j, sample[i][j])


def test_the_first_member_draws_exactly_what_it_would_alone() -> None:
    members = [(GBMParams(70.0, 0.05, 0.3, 1.0), 11), (GBMParams(20.0, -0.1, 0.6, 1.0), 12)]
    lower = cholesky([[1.0, 0.3], [0.3, 1.0]])
    assert lower is not None
    prices = GroupWalk(members, lower).paths(50)[0]
    params = members[0][0]
    z = generator(11).standard_normal(49)
    assert np.diff(np.log(prices)) == pytest.approx(params.drift + params.vol * z, rel=1e-9)


# --- the bank steps a group as its walk does ----------------------------------------------------

GROUPS: list[list[tuple[ModelParams, int]]] = [
    [(GBMParams(70.0, 0.05, 0.3, 1.0), 1), (GBMParams(50.0, 0.0, 0.4, 1.0), 2),
     (GBMParams(20.0, 0.1, 0.2, 1.0), 3)],
    [(MertonParams(70.0, 0.05, 0.2, 1.0, 30.0, -0.02, 0.05), s) for s in (4, 5, 6)],
    [(HestonParams(70.0, 0.05, 1.0, 0.04, 2.0, 0.04, 0.5, -0.7), s) for s in (7, 8, 9)],
    [(OUParams(70.0, 0.3, 1.0, 5.0, 60.0), s) for s in (10, 11, 12)],
]


@pytest.mark.parametrize("members", GROUPS, ids=lambda m: m[0][0].name)
@pytest.mark.parametrize("start", [0, 5, 128, 200])
def test_the_bank_steps_a_group_bit_for_bit_as_its_walk(members: list[tuple[ModelParams, int]],
                                                       start: int) -> None:
    lower = cholesky(MATRIX)
    assert lower is not None
    expected = GroupWalk(members, lower).paths(450)
    walk = GroupWalk(members, lower)
    walk.take(start)
    bank = StreamBank()
    alone = bank.add(GBMParams(1.0, 0.0, 0.1, 1.0), 99, 0)[0]  # a stream outside the group
    slots = bank.add_group(walk)
    for k in range(start + 1, 450):
        bank.step(np.array([alone, *slots]))
        assert [bank.price[s] for s in slots] == [e[k] for e in expected], k


def test_the_demo_market_has_a_correlated_group() -> None:
    [group] = demo_market(NOW).groups
    assert group.symbols == ("OIL", "GAS", "COAL") and group.correlation[0][1] == 0.8


def test_a_member_that_leaves_the_range_stops_but_the_others_keep_their_path() -> None:
    # the first member overflows at step 7; the bank stops stepping it (as the hub does) and
    # the others go on, through several new chunks, exactly as the group's walk goes on
    members = [(GBMParams(1e9, 10.0, 0.0, 2520.0), 1), (GBMParams(50.0, 0.0, 0.4, 1.0), 2),
               (GBMParams(20.0, 0.1, 0.2, 1.0), 3)]
    lower = cholesky(MATRIX)
    assert lower is not None
    with np.errstate(over="ignore"):
        expected = GroupWalk(members, lower).paths(600)
    bank = StreamBank()
    first, *others = bank.add_group(GroupWalk(members, lower))
    with np.errstate(over="ignore"):
        for k in range(1, 600):
            bank.step(np.array(([first] if k <= 7 else []) + others))
            assert [bank.price[s] for s in others] == [e[k] for e in expected[1:]], k
    assert bank.price[first] == np.inf


def test_a_heston_groups_volatilities_are_its_walks() -> None:
    members = GROUPS[2]
    lower = cholesky(MATRIX)
    assert lower is not None
    prices, vols = GroupWalk(members, lower).paths_and_vols(300)
    assert vols is not None
    bank = StreamBank()
    slots = bank.add_group(GroupWalk(members, lower))
    for k in range(1, 300):
        bank.step(np.array(slots))
        assert [bank.vol[s] for s in slots] == [v[k] for v in vols], k
        assert [bank.price[s] for s in slots] == [p[k] for p in prices], k
