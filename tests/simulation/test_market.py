"""Markets: the demo market, market files (TOML and JSON), and the start of a session."""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulation.errors import MarketError, SimulationError
from simulation.market import (
    SESSION_SECONDS,
    SYMBOL_PATTERN,
    Market,
    SymbolSpec,
    demo_market,
    load_market,
    realtime_market,
    session_start,
)
from simulation.params import GBMParams, HestonParams, OUParams

NOW = datetime(2025, 11, 29, 10, 32, 25, 500_000, tzinfo=UTC).timestamp()
DAY_START = datetime(2025, 11, 29, tzinfo=UTC).timestamp()

TOML_MARKET = """\
t0 = 1764374400.0
[symbols.ACME]
startPrice = 70.0
mu = 0.05
sigma = 0.3
delta = 1.0
interval = 0.1
seed = 1

[symbols."BOLT.X"]
startPrice = 12.5
mu = -0.12
sigma = 0.55
delta = 0.5
interval = 0.05
seed = 2
t0 = 1764400000.5
"""

ACME = {"startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0, "interval": 0.1, "seed": 1}

EXPECTED = Market((
    SymbolSpec("ACME", GBMParams(70.0, 0.05, 0.3, 1.0), 0.1, 1, 1764374400.0),
    SymbolSpec("BOLT.X", GBMParams(12.5, -0.12, 0.55, 0.5), 0.05, 2, 1764400000.5),
))


def write(tmp_path: Path, name: str, text: str) -> Path:
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    return file


def write_json(tmp_path: Path, data: object) -> Path:
    return write(tmp_path, "market.json", json.dumps(data))


def load_error(file: Path) -> str:
    with pytest.raises(MarketError) as caught:
        load_market(file, NOW)
    return str(caught.value)


def symbol_error(tmp_path: Path, name: str, fields: Mapping[str, object]) -> str:
    """The message for a market whose only symbol is ``name`` with ``fields``, and its file."""
    return load_error(write_json(tmp_path, {"symbols": {name: fields}}))


# --- session_start --------------------------------------------------------------------------------

def test_session_start_is_the_start_of_the_utc_day() -> None:
    assert session_start(NOW) == DAY_START == 1764374400.0


def test_session_start_of_midnight_is_that_midnight() -> None:
    assert session_start(DAY_START) == DAY_START


@given(st.floats(min_value=0.0, max_value=4e9))
def test_session_start_is_a_whole_day_at_or_before_now(now: float) -> None:
    start = session_start(now)

    assert start % SESSION_SECONDS == 0
    assert start <= now < start + SESSION_SECONDS


# --- the demo market ---------------------------------------------------------------------------

def test_the_demo_market_has_at_least_eight_unique_symbols() -> None:
    names = [spec.symbol for spec in demo_market(NOW).symbols]

    assert len(names) >= 8
    assert len(set(names)) == len(names)


def test_demo_symbols_are_valid_symbol_names() -> None:
    assert all(SYMBOL_PATTERN.fullmatch(spec.symbol) for spec in demo_market(NOW).symbols)


def test_demo_symbols_have_varied_params() -> None:
    specs = demo_market(NOW).symbols

    for field in ("start_price", "mu", "sigma"):
        assert len({getattr(spec.params, field, None) for spec in specs}) >= 6, field


def test_the_demo_market_shows_every_model() -> None:
    models = {spec.symbol: spec.params.name for spec in demo_market(NOW).symbols}

    assert {models["JUMP"], models["VOLT"], models["MEAN"]} == {"merton", "heston", "ou"}
    assert list(models)[:8] == ["ACME", "BOLT", "CRUX", "DYNA", "EVER", "FLUX", "GLOW", "HALO"]
    assert {models[name] for name in list(models)[:8]} == {"gbm"}  # version 1's, unchanged


def test_the_realtime_market_runs_a_trading_day_per_six_and_a_half_hours() -> None:
    for spec in realtime_market(NOW).symbols:
        assert spec.params.delta == pytest.approx(spec.interval / 23_400, rel=1e-15)
    assert [s.symbol for s in realtime_market(NOW).symbols] == [
        s.symbol for s in demo_market(NOW).symbols]


def test_demo_symbols_tick_at_varied_rates_from_1_to_50_hz() -> None:
    intervals = [spec.interval for spec in demo_market(NOW).symbols]

    assert len(set(intervals)) >= 4
    assert (min(intervals), max(intervals)) == (0.02, 1.0)


def test_demo_symbols_have_distinct_seeds() -> None:
    seeds = [spec.seed for spec in demo_market(NOW).symbols]

    assert len(set(seeds)) == len(seeds)


def test_the_demo_market_starts_at_the_start_of_the_utc_day() -> None:
    assert {spec.t0 for spec in demo_market(NOW).symbols} == {DAY_START}


def test_the_demo_market_is_the_same_all_day() -> None:
    assert demo_market(DAY_START) == demo_market(NOW) == demo_market(DAY_START + 86_399.9)


def test_get_returns_a_symbols_spec() -> None:
    market = demo_market(NOW)

    assert market.get("ACME") == market.symbols[0]


def test_get_returns_none_for_an_unknown_symbol() -> None:
    assert demo_market(NOW).get("NOPE") is None


def test_a_market_rejects_duplicate_symbols() -> None:
    spec = EXPECTED.symbols[0]

    with pytest.raises(MarketError, match=r"^symbols must be unique, got \['ACME', 'ACME'\]$"):
        Market((spec, spec))


def test_market_error_is_a_value_error_and_a_simulation_error() -> None:
    assert issubclass(MarketError, ValueError)
    assert issubclass(MarketError, SimulationError)


# --- reading a market file -----------------------------------------------------------------------

def test_a_toml_file_in_the_documented_format_is_read(tmp_path: Path) -> None:
    assert load_market(write(tmp_path, "market.toml", TOML_MARKET), NOW) == EXPECTED


def test_a_json_file_of_the_same_market_is_read(tmp_path: Path) -> None:
    data = tomllib.loads(TOML_MARKET)

    assert load_market(write_json(tmp_path, data), NOW) == EXPECTED


def test_a_path_may_be_given_as_a_string(tmp_path: Path) -> None:
    assert load_market(str(write(tmp_path, "market.toml", TOML_MARKET)), NOW) == EXPECTED


def test_the_extension_is_matched_without_regard_to_case(tmp_path: Path) -> None:
    assert load_market(write(tmp_path, "MARKET.TOML", TOML_MARKET), NOW) == EXPECTED


def test_symbols_keep_the_order_of_the_file(tmp_path: Path) -> None:
    names = ["ZULU", "ALPHA", "MIKE"]
    market = load_market(write_json(tmp_path, {"symbols": dict.fromkeys(names, ACME)}), NOW)

    assert [spec.symbol for spec in market.symbols] == names


def test_without_t0_a_symbol_starts_at_the_start_of_the_utc_day(tmp_path: Path) -> None:
    market = load_market(write_json(tmp_path, {"symbols": {"ACME": ACME}}), NOW)

    assert market.symbols[0].t0 == DAY_START


def test_a_symbols_t0_overrides_the_markets(tmp_path: Path) -> None:
    data = {"t0": 1_000.0, "symbols": {"ACME": ACME, "BOLT": {**ACME, "t0": 2_000.0}}}

    market = load_market(write_json(tmp_path, data), NOW)

    assert [spec.t0 for spec in market.symbols] == [1_000.0, 2_000.0]


def test_t0_may_be_now(tmp_path: Path) -> None:
    market = load_market(write_json(tmp_path, {"t0": NOW, "symbols": {"ACME": ACME}}), NOW)

    assert market.symbols[0].t0 == NOW


def test_integers_are_accepted_for_numbers(tmp_path: Path) -> None:
    fields = {"startPrice": 70, "mu": 0, "sigma": 1, "delta": 1, "interval": 1, "seed": 1}

    spec = load_market(write_json(tmp_path, {"t0": 0, "symbols": {"ACME": fields}}), NOW).symbols[0]

    assert spec == SymbolSpec("ACME", GBMParams(70.0, 0.0, 1.0, 1.0), 1.0, 1, 0.0)


def test_a_json_seed_may_use_all_64_bits(tmp_path: Path) -> None:
    market = load_market(write_json(tmp_path, {"symbols": {"ACME": {**ACME, "seed": 2**64 - 1}}}),
                         NOW)

    assert market.symbols[0].seed == 2**64 - 1


@pytest.mark.parametrize("name", ["A", "7", "ACME", "BRK.B", "EUR_USD-1", "A" * 16])
def test_a_symbol_is_1_to_16_capitals_digits_dots_underscores_or_dashes(
    tmp_path: Path, name: str
) -> None:
    market = load_market(write_json(tmp_path, {"symbols": {name: ACME}}), NOW)

    assert market.symbols[0].symbol == name


# --- what is wrong with a market file, and where ------------------------------------------------

def test_an_unknown_field_is_named_with_its_symbol(tmp_path: Path) -> None:
    message = symbol_error(tmp_path, "ACME", {**ACME, "colour": "red"})

    assert message == (f"{tmp_path / 'market.json'}: symbol 'ACME': unknown fields ['colour'], "
                       "missing fields [] (model gbm)")


def test_a_symbol_of_each_model_is_read_with_its_own_fields(tmp_path: Path) -> None:
    heston = {"model": "heston", "startPrice": 150.0, "mu": 0.06, "delta": 0.01, "v0": 0.09,
              "kappa": 3.0, "theta": 0.09, "xi": 0.9, "rho": -0.7, "interval": 0.1, "seed": 4}
    ou = {"model": "ou", "startPrice": 50.0, "sigma": 0.3, "delta": 0.01, "kappa": 40.0,
          "level": 55.0, "interval": 0.2, "seed": 5}
    file = write(tmp_path, "market.json", json.dumps({"symbols": {"VOLT": heston, "MEAN": ou}}))

    volt, mean = load_market(file, NOW).symbols

    assert volt.params == HestonParams(150.0, 0.06, 0.01, 0.09, 3.0, 0.09, 0.9, -0.7)
    assert mean.params == OUParams(50.0, 0.3, 0.01, 40.0, 55.0)


@pytest.mark.parametrize(("fields", "message"), [
    ({**ACME, "model": "heston"}, "unknown fields ['sigma'], missing fields ['kappa', 'rho', "
     "'theta', 'v0', 'xi'] (model heston)"),
    ({**ACME, "jumpRate": 3.0}, "unknown fields ['jumpRate'], missing fields [] (model gbm)"),
    ({**ACME, "model": "vasicek"}, "model must be one of gbm, merton, heston, ou, got 'vasicek'"),
    ({**ACME, "model": ["gbm"]}, "model must be one of gbm, merton, heston, ou, got ['gbm']"),
])
def test_a_field_of_another_model_or_an_unknown_model_is_named(
        tmp_path: Path, fields: dict[str, object], message: str) -> None:
    assert symbol_error(tmp_path, "ACME", fields) == (
        f"{tmp_path / 'market.json'}: symbol 'ACME': {message}")


def test_a_missing_field_is_named_with_its_symbol(tmp_path: Path) -> None:
    fields = {k: v for k, v in ACME.items() if k != "seed"}

    message = symbol_error(tmp_path, "ACME", fields)

    assert message == (f"{tmp_path / 'market.json'}: symbol 'ACME': unknown fields [], "
                       "missing fields ['seed'] (model gbm)")


@pytest.mark.parametrize("name", ["acme", "", "A" * 17, "-ACME", ".ACME", "AC ME", "ÄCME",
                                  "ACME\n"])
def test_a_bad_symbol_name_is_rejected(tmp_path: Path, name: str) -> None:
    message = symbol_error(tmp_path, name, ACME)

    assert message == (f"{tmp_path / 'market.json'}: symbol {name!r}: a symbol is 1-16 of "
                       "A-Z 0-9 . _ - starting with a letter or digit")


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("sigma", -1.0, "sigma must be a finite number >= 0 and <= 10, got -1.0"),
        ("startPrice", "70", "startPrice must be a finite number > 0 and <= 1e+09, got '70'"),
        ("delta", 0, "delta must be a finite number >= 1e-09 and <= 2520, got 0"),
        ("interval", 0.0, "interval must be a finite number > 0 and <= 3600, got 0.0"),
        ("interval", 3601, "interval must be a finite number > 0 and <= 3600, got 3601"),
        ("interval", True, "interval must be a finite number > 0 and <= 3600, got True"),
        ("seed", -1, "seed must be an integer from 0 to 2**64-1, got -1"),
        ("seed", 1.5, "seed must be an integer from 0 to 2**64-1, got 1.5"),
    ],
)
def test_a_bad_value_is_named_with_its_symbol(
    tmp_path: Path, field: str, value: object, reason: str
) -> None:
    message = symbol_error(tmp_path, "ACME", {**ACME, field: value})

    assert message == f"{tmp_path / 'market.json'}: symbol 'ACME': {reason}"


def test_a_symbol_that_is_not_a_table_is_rejected(tmp_path: Path) -> None:
    message = load_error(write_json(tmp_path, {"symbols": {"ACME": 70.0}}))

    assert message == f"{tmp_path / 'market.json'}: symbol 'ACME': expected a table of parameters"


def test_a_market_t0_in_the_future_is_rejected(tmp_path: Path) -> None:
    message = load_error(write_json(tmp_path, {"t0": NOW + 60, "symbols": {"ACME": ACME}}))

    assert message == (f"{tmp_path / 'market.json'}: t0 must be epoch seconds not in the future, "
                       f"got {NOW + 60!r}")


def test_a_symbol_t0_in_the_future_is_named_with_its_symbol(tmp_path: Path) -> None:
    message = symbol_error(tmp_path, "ACME", {**ACME, "t0": NOW + 60})

    assert message == (f"{tmp_path / 'market.json'}: symbol 'ACME': t0 must be epoch seconds "
                       f"not in the future, got {NOW + 60!r}")


@pytest.mark.parametrize(("t0", "shown"), [(-1.0, "-1.0"), ("0", "'0'"), (True, "True")])
def test_a_t0_that_is_not_epoch_seconds_is_rejected(tmp_path: Path, t0: object, shown: str) -> None:
    message = symbol_error(tmp_path, "ACME", {**ACME, "t0": t0})

    assert message == (f"{tmp_path / 'market.json'}: symbol 'ACME': t0 must be epoch seconds "
                       f"not in the future, got {shown}")


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    file = tmp_path / "nope.toml"

    assert load_error(file) == f"cannot read market file {str(file)!r}: No such file or directory"


def test_a_directory_is_reported_as_unreadable(tmp_path: Path) -> None:
    file = tmp_path / "market.toml"
    file.mkdir()

    assert load_error(file) == f"cannot read market file {str(file)!r}: Is a directory"


@pytest.mark.parametrize("name", ["market.yaml", "market", "market.toml.bak"])
def test_a_file_that_is_neither_toml_nor_json_is_rejected(tmp_path: Path, name: str) -> None:
    file = write(tmp_path, name, TOML_MARKET)

    assert load_error(file) == f"market file {str(file)!r} must end in .toml or .json"


def test_invalid_toml_is_reported_with_the_parsers_reason(tmp_path: Path) -> None:
    text = "[symbols.ACME\nmu = 0.05\n"
    with pytest.raises(tomllib.TOMLDecodeError) as parser:
        tomllib.loads(text)
    file = write(tmp_path, "market.toml", text)

    assert load_error(file) == f"market file {str(file)!r} is not valid: {parser.value}"


def test_invalid_json_is_reported_with_the_parsers_reason(tmp_path: Path) -> None:
    text = '{"symbols": {"ACME": }}'
    with pytest.raises(json.JSONDecodeError) as parser:
        json.loads(text)
    file = write(tmp_path, "market.json", text)

    assert load_error(file) == f"market file {str(file)!r} is not valid: {parser.value}"


def test_a_toml_file_that_is_not_utf8_is_reported(tmp_path: Path) -> None:
    raw = b"t0 = 0\n# \xff\n"
    with pytest.raises(UnicodeDecodeError) as codec:
        raw.decode("utf-8")
    file = tmp_path / "market.toml"
    file.write_bytes(raw)

    assert load_error(file) == f"market file {str(file)!r} is not valid: {codec.value}"


def test_a_file_whose_top_level_is_not_a_table_is_rejected(tmp_path: Path) -> None:
    file = write_json(tmp_path, [ACME])

    assert load_error(file) == f"{file}: expected a table with 'symbols', got list"


def test_an_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    file = write_json(tmp_path, {"symbol": {"ACME": ACME}})

    assert load_error(file) == (f"{file}: unknown keys ['symbol']; expected 't0', 'symbols' and "
                                "'groups'")


@pytest.mark.parametrize("data", [{}, {"symbols": {}}, {"symbols": [ACME]}])
def test_a_market_without_symbols_is_rejected(tmp_path: Path, data: object) -> None:
    file = write_json(tmp_path, data)

    assert load_error(file) == (f"{file}: 'symbols' must be a non-empty table of "
                                "symbol -> parameters")


def test_nan_in_a_json_file_is_rejected(tmp_path: Path) -> None:
    file = write_json(tmp_path, {"symbols": {"ACME": {**ACME, "mu": math.nan}}})  # writes NaN

    assert load_error(file) == (f"{file}: symbol 'ACME': mu must be a finite number >= -10 "
                                "and <= 10, got nan")
