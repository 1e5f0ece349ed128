"""The batch doors, a whole price path in one JSON reply. No I/O.

``GET /gbm`` is the original service: same names and meaning as the service this project
grew from (``/gbm?periods=100&startPrice=70.0&mu=0.05&sigma=0.30&delta=1.0`` returns
``{"result": [70.0, ...]}``), plus an optional ``seed``; the reply also carries the ``seed``
used, so a path can be fetched again or followed live as a stream. The original crashed when
any of the five was missing, so all five are required here, and a bad value is a 400 that
names the parameter.

``GET /path?model=heston&periods=...`` is the same for every model. Only ``periods`` is
required: ``model`` defaults to ``gbm`` and the model's fields to the stream's defaults, as
in a ``subscribe``, so the ``params`` of a subscription's ack name its path (its
``interval`` is accepted, and changes nothing: a path is in model time). The reply adds
``"model"``, and for Heston ``"vol"``, each price's volatility.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import numpy as np
import orjson

from simulation import GBMParams, ParamError, path, path_and_vols
from simulation.params import model_params, pick_seed
from simulation.market import Market
from simulation.walk import REMEDY, GroupWalk, first_out_of_range
from wire.names import GBM, MODEL_PARAMS
from wire.values import check_seed, show

REQUIRED = ("periods", "startPrice", "mu", "sigma", "delta")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)",
                     re.IGNORECASE)


class BadQuery(ValueError):
    """A ``/gbm`` query that cannot be answered; the message names the parameter."""


def gbm_reply(query: str, max_periods: int) -> tuple[int, bytes]:
    """``(status, JSON body)`` for the query string of a ``/gbm`` request."""
    try:
        prices, seed = _compute(query, max_periods)
    except BadQuery as exc:
        return 400, orjson.dumps({"error": str(exc)})
    return 200, orjson.dumps({"result": prices, "seed": seed}, option=orjson.OPT_SERIALIZE_NUMPY)


def path_reply(query: str, max_periods: int, market: Market | None = None) -> tuple[int, bytes]:
    """``(status, JSON body)`` for the query string of a ``/path`` request: a model's path, or
    with ``symbol`` a symbol of ``market`` from its ``seq`` 0 (a correlated group's too)."""
    try:
        args = parse_qs(query, keep_blank_values=True)
        for name in args:
            _once(args, name)
        if "symbol" in args:
            return _symbol_path(args, max_periods, market)
        model = args["model"][0] if "model" in args else GBM
        if model not in MODEL_PARAMS:
            raise BadQuery("model must be one of " + ", ".join(MODEL_PARAMS) +
                           f", got {show(model)}")
        fields = MODEL_PARAMS[model]
        for name in args:
            if name not in (*fields, "model", "periods", "seed", "interval"):
                raise BadQuery(f"unknown parameter {show(name)} for model {model}; it takes "
                               f"periods, seed and {', '.join(fields)}")
        if "interval" in args:  # an ack's params name the path with it; the path ignores it
            _number(args, "interval")
        if "periods" not in args:
            raise BadQuery("missing parameter periods")
        periods = _periods(args, max_periods)
        try:
            params = model_params(model, {name: _number(args, name) for name in fields
                                          if name in args})
            seed = _seed(args)
        except ParamError as exc:
            raise BadQuery(exc.message) from None
        prices, vols = path_and_vols(params, seed, periods)
        _check_range(prices)
    except BadQuery as exc:
        return 400, orjson.dumps({"error": str(exc)})
    return _path_body(prices, vols, seed=seed, model=model)


def _path_body(prices: np.ndarray, vols: np.ndarray | None, **fields: object,
               ) -> tuple[int, bytes]:
    """A ``/path`` reply: ``result``, then ``fields``, then Heston's ``vol``."""
    body: dict[str, object] = {"result": prices, **fields}
    if vols is not None:
        body["vol"] = vols
    return 200, orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def _symbol_path(args: dict[str, list[str]], max_periods: int,
                 market: Market | None) -> tuple[int, bytes]:
    extra = sorted(set(args) - {"symbol", "periods"})
    if extra:
        raise BadQuery(f"{extra[0]} cannot be combined with symbol: a symbol's parameters are "
                       "fixed by the market")
    name = args["symbol"][0]
    spec = market.get(name) if market is not None else None
    if market is None or spec is None:
        raise BadQuery(f"unknown symbol {show(name)}; the symbols op lists the market")
    if "periods" not in args:
        raise BadQuery("missing parameter periods")
    periods = _periods(args, max_periods)
    group = market.group_of(name)
    vols = None
    if group is None:
        prices, vols = path_and_vols(spec.params, spec.seed, periods)
    else:
        members = [market.get(member) for member in group.symbols]
        walk = GroupWalk([(m.params, m.seed) for m in members if m is not None], group.lower)
        every, all_vols = walk.paths_and_vols(periods)
        index = group.symbols.index(name)
        prices, vols = every[index], None if all_vols is None else all_vols[index]
    _check_range(prices)
    return _path_body(prices, vols, seed=spec.seed, model=spec.params.name, symbol=name,
                      t0=spec.t0)


def _once(args: dict[str, list[str]], name: str) -> list[str]:
    if len(args[name]) > 1:
        raise BadQuery(f"{name} is given {len(args[name])} times; give it once")
    return args[name]


def _periods(args: dict[str, list[str]], max_periods: int) -> int:
    periods = _integer(args, "periods")
    if not 1 <= periods <= max_periods:
        raise BadQuery(f"periods must be an integer from 1 to {max_periods}, got {periods}")
    return periods


def _seed(args: dict[str, list[str]]) -> int:
    return check_seed(_integer(args, "seed"), error=ParamError) if "seed" in args else pick_seed()


def _check_range(prices: np.ndarray) -> None:
    left = first_out_of_range(prices)
    if left is not None:
        index, reason = left
        raise BadQuery(f"the path leaves the range of normal doubles at period {index} "
                       f"({reason}); {REMEDY[reason]}")


def _compute(query: str, max_periods: int) -> tuple[np.ndarray, int]:
    args = parse_qs(query, keep_blank_values=True)
    for name in (*REQUIRED, "seed"):
        if name in args:
            _once(args, name)
    missing = [name for name in REQUIRED if name not in args]
    if missing:
        raise BadQuery(f"missing parameter {missing[0]} (required: {', '.join(REQUIRED)})")
    periods = _periods(args, max_periods)
    try:
        params = GBMParams(*(_number(args, name) for name in REQUIRED[1:]))
        seed = _seed(args)
    except ParamError as exc:
        raise BadQuery(exc.message) from None
    prices = path(params, seed, periods)
    _check_range(prices)
    return prices, seed


def _integer(args: dict[str, list[str]], name: str) -> int:
    text = args[name][0].strip()
    if len(text) > 40 or not _INTEGER.fullmatch(text):
        raise BadQuery(f"{name} must be an integer, got {show(args[name][0])}")
    return int(text)


def _number(args: dict[str, list[str]], name: str) -> float:
    text = args[name][0].strip()
    if len(text) > 400 or not _NUMBER.fullmatch(text):
        raise BadQuery(f"{name} must be a number, got {show(args[name][0])}")
    return float(text)  # "nan" and "inf" pass here and are refused, by name, by GBMParams
