"""A market: named symbols, each a stream of one model with fixed parameters, seed, interval and
``t0``.

Everyone who watches a symbol sees the same prices, and so does every process started with
the same market, because a symbol's tick ``seq = k`` is fully fixed by its parameters, its seed
and its ``t0`` (tick ``k`` is due at ``t0 + k * interval``).

A market comes from :func:`demo_market` or from a file (:func:`load_market`), TOML or JSON::

    t0 = 1764374400.0          # optional: the instant of seq 0 for every symbol
    [symbols.ACME]
    # model = "gbm"            # optional: gbm (the default), merton, heston or ou
    startPrice = 70.0          # and every other field of the model
    mu = 0.05
    sigma = 0.3
    delta = 1.0
    interval = 0.1             # wall-clock seconds between ticks
    seed = 1
    # t0 = ...                 # optional, overrides the market's t0 for this symbol

When no ``t0`` is given, it is the start of the current UTC day (:func:`session_start`): every
process started on the same day agrees on every tick, which is what lets a client resume a
symbol across a server restart.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from simulation.errors import MarketError, ParamError
from simulation.kernels import cholesky
from simulation.params import (
    GBMParams,
    HestonParams,
    MertonParams,
    ModelParams,
    OUParams,
    model_params,
)
from wire.names import MODEL_PARAMS
from wire.values import check_number, check_seed, show

SESSION_SECONDS = 86_400
SYMBOL_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,15}")
INTERVAL_MAX = 3600.0


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One symbol of a market."""

    symbol: str
    params: ModelParams
    interval: float
    seed: int
    t0: float


@dataclass(frozen=True, slots=True)
class Group:
    """Symbols whose price shocks are correlated by ``correlation`` (validated: symmetric,
    unit diagonal, positive definite); ``lower`` is its Cholesky factor."""

    name: str
    symbols: tuple[str, ...]
    correlation: tuple[tuple[float, ...], ...]
    lower: tuple[tuple[float, ...], ...]


@dataclass(frozen=True, slots=True)
class Market:
    """The symbols of a market, in the order they were defined, and its correlated groups."""

    symbols: tuple[SymbolSpec, ...]
    groups: tuple[Group, ...] = ()

    def __post_init__(self) -> None:
        names = [spec.symbol for spec in self.symbols]
        if len(set(names)) != len(names):
            raise MarketError(f"symbols must be unique, got {names}")

    def group_of(self, symbol: str) -> Group | None:
        for group in self.groups:
            if symbol in group.symbols:
                return group
        return None

    def get(self, symbol: str) -> SymbolSpec | None:
        for spec in self.symbols:
            if spec.symbol == symbol:
                return spec
        return None


def session_start(now: float) -> float:
    """The start of the UTC day that contains ``now``: the default ``t0`` of a market."""
    return float(math.floor(now / SESSION_SECONDS) * SESSION_SECONDS)


#: Demo symbols run one trading day every ten wall-clock minutes (``delta = interval / 600``
#: trading days a tick): fast enough that a chart moves visibly, slow enough that a whole day
#: of it (144 trading days) keeps prices in a realistic range.
DEMO_SECONDS_PER_TRADING_DAY = 600.0
#: The real-time market runs one trading day of model time per 6.5 hours of wall time (the
#: length of an exchange's session), around the clock.
REALTIME_SECONDS_PER_TRADING_DAY = 6.5 * 3600

# symbol, startPrice, mu, sigma, interval (s), seed
_DEMO = (
    ("ACME", 70.0, 0.05, 0.30, 0.1, 1),
    ("BOLT", 12.5, 0.12, 0.55, 0.05, 2),
    ("CRUX", 240.0, 0.03, 0.18, 0.25, 3),
    ("DYNA", 3.2, -0.02, 0.80, 0.02, 4),
    ("EVER", 101.0, 0.07, 0.12, 1.0, 5),
    ("FLUX", 45.0, 0.20, 0.65, 0.1, 6),
    ("GLOW", 880.0, 0.04, 0.25, 0.5, 7),
    ("HALO", 18.0, 0.00, 0.40, 0.2, 8),
)


def demo_market(now: float, seconds_per_trading_day: float = DEMO_SECONDS_PER_TRADING_DAY,
                ) -> Market:
    """Eight GBM symbols with varied prices, drifts, volatilities and tick rates (1 to 50 Hz),
    one of each other model: JUMP jumps (Merton), VOLT has a stochastic volatility (Heston),
    MEAN reverts to 50 (OU); and a correlated group, ENERGY: OIL, GAS and COAL.
    ``seconds_per_trading_day`` of wall time make one trading day of model time."""
    t0 = session_start(now)

    def delta(interval: float) -> float:
        return interval / seconds_per_trading_day

    gbm = [SymbolSpec(name, GBMParams(start, mu, sigma, delta(interval)), interval, seed, t0)
           for name, start, mu, sigma, interval, seed in _DEMO]
    others: list[tuple[str, ModelParams, float, int]] = [
        ("JUMP", MertonParams(60.0, 0.08, 0.20, delta(0.1), 25.0, -0.04, 0.06), 0.1, 9),
        ("VOLT", HestonParams(150.0, 0.06, delta(0.5), 0.09, 3.0, 0.09, 0.9, -0.7), 0.5, 10),
        ("MEAN", OUParams(50.0, 0.35, delta(0.2), 40.0, 50.0), 0.2, 11),
        ("OIL", GBMParams(78.0, 0.04, 0.35, delta(0.25)), 0.25, 12),
        ("GAS", GBMParams(3.1, 0.02, 0.50, delta(0.25)), 0.25, 13),
        ("COAL", GBMParams(120.0, 0.01, 0.30, delta(0.25)), 0.25, 14),
    ]
    correlation = ((1.0, 0.8, 0.6), (0.8, 1.0, 0.5), (0.6, 0.5, 1.0))
    lower = cholesky(correlation)
    assert lower is not None  # a constant, positive definite
    energy = Group("ENERGY", ("OIL", "GAS", "COAL"), correlation,
                   tuple(tuple(row) for row in lower))
    return Market((*gbm, *(SymbolSpec(name, params, interval, seed, t0)
                           for name, params, interval, seed in others)), (energy,))


def realtime_market(now: float) -> Market:
    """The demo market's symbols at a realistic pace: one trading day of model time per 6.5
    hours of wall time, so a chart moves as a real one does during a session."""
    return demo_market(now, REALTIME_SECONDS_PER_TRADING_DAY)


#: The markets built in, by the name ``--market`` takes instead of a file.
BUILT_IN = {"demo": demo_market, "realtime": realtime_market}


def market_from_mapping(data: object, now: float, source: str = "market") -> Market:
    """Build a market from parsed TOML/JSON; errors name the symbol and the field."""
    if not isinstance(data, Mapping):
        raise MarketError(f"{source}: expected a table with 'symbols', got {type(data).__name__}")
    unknown = set(data) - {"t0", "symbols", "groups"}
    if unknown:
        raise MarketError(f"{source}: unknown keys {sorted(unknown)}; expected 't0', 'symbols' "
                          "and 'groups'")
    default_t0 = _check_t0(data.get("t0"), source, session_start(now), now)
    table = data.get("symbols")
    if not isinstance(table, Mapping) or not table:
        raise MarketError(f"{source}: 'symbols' must be a non-empty table of symbol -> parameters")
    specs = []
    for name, fields in table.items():
        where = f"{source}: symbol {name!r}"
        if not isinstance(name, str) or not SYMBOL_PATTERN.fullmatch(name):
            raise MarketError(f"{where}: a symbol is 1-16 of A-Z 0-9 . _ - starting with a letter "
                              "or digit")
        if not isinstance(fields, Mapping):
            raise MarketError(f"{where}: expected a table of parameters")
        model = fields.get("model", "gbm")
        if not isinstance(model, str) or model not in MODEL_PARAMS:
            raise MarketError(f"{where}: model must be one of {', '.join(MODEL_PARAMS)}, got "
                              f"{show(model)}")
        own = set(MODEL_PARAMS[model])
        unknown = set(fields) - own - {"model", "interval", "seed", "t0"}
        missing = (own | {"interval", "seed"}) - set(fields)
        if unknown or missing:
            raise MarketError(f"{where}: unknown fields {sorted(unknown)}, missing fields "
                              f"{sorted(missing)} (model {model})")
        try:
            params = model_params(model, {name: fields[name] for name in own})
            interval = check_number("interval", fields["interval"], low=0.0, high=INTERVAL_MAX,
                                    low_open=True, error=ParamError)
            seed = check_seed(fields["seed"], error=ParamError)
        except ParamError as exc:
            raise MarketError(f"{where}: {exc.message}") from None
        t0 = _check_t0(fields.get("t0"), where, default_t0, now)
        specs.append(SymbolSpec(name, params, interval, seed, t0))
    groups = data.get("groups", {})
    if not isinstance(groups, Mapping):
        raise MarketError(f"{source}: 'groups' must be a table of group -> symbols and "
                          "correlation")
    market = Market(tuple(specs))
    for name, fields in groups.items():  # each checked against those before it
        group = _group(market, str(name), fields, f"{source}: group {name!r}")
        market = Market(market.symbols, (*market.groups, group))
    return market


def _group(market: Market, name: str, fields: object, where: str) -> Group:
    """A correlated group of a market file, checked."""
    if not isinstance(fields, Mapping) or set(fields) != {"symbols", "correlation"}:
        raise MarketError(f"{where}: expected exactly 'symbols' (a list of the market's "
                          "symbols) and 'correlation' (a matrix, one row per symbol)")
    symbols, matrix = fields["symbols"], fields["correlation"]
    if (not isinstance(symbols, list) or len(symbols) < 2 or len(set(map(str, symbols)))
            != len(symbols)):
        raise MarketError(f"{where}: symbols must list two or more distinct symbols, got "
                          f"{show(symbols)}")
    specs = []
    for symbol in symbols:
        spec = market.get(symbol) if isinstance(symbol, str) else None
        if spec is None:
            raise MarketError(f"{where}: {show(symbol)} is not a symbol of the market")
        specs.append(spec)
    first = specs[0]
    for spec in specs[1:]:
        if (spec.params.name, spec.interval, spec.t0) != (first.params.name, first.interval,
                                                            first.t0):
            raise MarketError(f"{where}: {spec.symbol} and {first.symbol} differ in model, "
                              "interval or t0; a group's symbols share all three")
    n = len(specs)
    if (not isinstance(matrix, list) or len(matrix) != n
            or not all(isinstance(row, list) and len(row) == n for row in matrix)
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                       and math.isfinite(x) for row in matrix for x in row)):
        raise MarketError(f"{where}: correlation must be a {n} x {n} matrix of numbers, one "
                          "row per symbol in the group's order")
    rows = tuple(tuple(float(x) for x in row) for row in matrix)
    for i in range(n):
        if rows[i][i] != 1.0:
            raise MarketError(f"{where}: correlation[{i}][{i}] must be 1, got {rows[i][i]!r}")
        for j in range(i):
            if rows[i][j] != rows[j][i]:
                raise MarketError(f"{where}: correlation must be symmetric; [{i}][{j}] is "
                                  f"{rows[i][j]!r} but [{j}][{i}] is {rows[j][i]!r}")
            if not -1.0 < rows[i][j] < 1.0:
                raise MarketError(f"{where}: correlation[{i}][{j}] must be between -1 and 1 "
                                  f"(exclusive), got {rows[i][j]!r}")
    lower = cholesky(rows)
    if lower is None:
        raise MarketError(f"{where}: correlation is not positive definite (no set of "
                          "symbols can have these pairwise correlations together)")
    for other in market.groups:
        shared = set(other.symbols) & {spec.symbol for spec in specs}
        if shared:
            raise MarketError(f"{where}: {sorted(shared)[0]} is in group {other.name} too")
    return Group(name, tuple(spec.symbol for spec in specs), rows,
                 tuple(tuple(row) for row in lower))


def market_to_mapping(market: Market) -> dict[str, object]:
    """The mapping :func:`market_from_mapping` reads back into the same market, every field
    explicit (each symbol's model and ``t0``): how a market travels between processes."""
    return {
        "symbols": {spec.symbol: {"model": spec.params.name, **spec.params.values(),
                                  "interval": spec.interval, "seed": spec.seed, "t0": spec.t0}
                    for spec in market.symbols},
        "groups": {group.name: {"symbols": list(group.symbols),
                                "correlation": [list(row) for row in group.correlation]}
                   for group in market.groups},
    }


def load_market(path: str | Path, now: float) -> Market:
    """Read a market from a ``.toml`` or ``.json`` file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MarketError(f"cannot read market file {str(path)!r}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise MarketError(f"market file {str(path)!r} must end in .toml or .json")
    try:
        data = json.loads(raw) if suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MarketError(f"market file {str(path)!r} is not valid: {exc}") from None
    return market_from_mapping(data, now, source=str(path))


def _check_t0(value: object, where: str, default: float, now: float) -> float:
    if value is None:
        return default
    try:
        t0 = check_number("t0", value, low=0.0, high=now + 1.0, error=ParamError)
    except ParamError:
        raise MarketError(f"{where}: t0 must be epoch seconds not in the future, got "
                          f"{show(value)}") from None
    return t0
