"""A market: named symbols, each a GBM stream with fixed parameters, seed, interval and ``t0``.

Everyone who watches a symbol sees the same prices, and so does every process started with
the same market, because a symbol's tick ``seq = k`` is fully fixed by its parameters, its seed
and its ``t0`` (tick ``k`` is due at ``t0 + k * interval``).

A market comes from :func:`demo_market` or from a file (:func:`load_market`), TOML or JSON::

    t0 = 1764374400.0          # optional: the instant of seq 0 for every symbol
    [symbols.ACME]
    startPrice = 70.0
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
from simulation.params import GBMParams
from wire.values import check_number, check_seed, show

SESSION_SECONDS = 86_400
SYMBOL_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,15}")
INTERVAL_MAX = 3600.0
SYMBOL_FIELDS = {"startPrice", "mu", "sigma", "delta", "interval", "seed", "t0"}


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One symbol of a market."""

    symbol: str
    params: GBMParams
    interval: float
    seed: int
    t0: float


@dataclass(frozen=True, slots=True)
class Market:
    """The symbols of a market, in the order they were defined."""

    symbols: tuple[SymbolSpec, ...]

    def __post_init__(self) -> None:
        names = [spec.symbol for spec in self.symbols]
        if len(set(names)) != len(names):
            raise MarketError(f"symbols must be unique, got {names}")

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


def demo_market(now: float) -> Market:
    """Eight symbols with varied prices, drifts, volatilities and tick rates (1 to 50 Hz)."""
    t0 = session_start(now)
    return Market(tuple(
        SymbolSpec(name, GBMParams(start, mu, sigma, interval / DEMO_SECONDS_PER_TRADING_DAY),
                   interval, seed, t0)
        for name, start, mu, sigma, interval, seed in _DEMO
    ))


def market_from_mapping(data: object, now: float, source: str = "market") -> Market:
    """Build a market from parsed TOML/JSON; errors name the symbol and the field."""
    if not isinstance(data, Mapping):
        raise MarketError(f"{source}: expected a table with 'symbols', got {type(data).__name__}")
    unknown = set(data) - {"t0", "symbols"}
    if unknown:
        raise MarketError(f"{source}: unknown keys {sorted(unknown)}; expected 't0' and 'symbols'")
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
        unknown = set(fields) - SYMBOL_FIELDS
        missing = {"startPrice", "mu", "sigma", "delta", "interval", "seed"} - set(fields)
        if unknown or missing:
            raise MarketError(f"{where}: unknown fields {sorted(unknown)}, missing fields "
                              f"{sorted(missing)}")
        try:
            params = GBMParams(fields["startPrice"], fields["mu"], fields["sigma"],
                               fields["delta"])
            interval = check_number("interval", fields["interval"], low=0.0, high=INTERVAL_MAX,
                                    low_open=True, error=ParamError)
            seed = check_seed(fields["seed"], error=ParamError)
        except ParamError as exc:
            raise MarketError(f"{where}: {exc.message}") from None
        t0 = _check_t0(fields.get("t0"), where, default_t0, now)
        specs.append(SymbolSpec(name, params, interval, seed, t0))
    return Market(tuple(specs))


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
