"""The original batch service, ``GET /gbm``: a whole price path in one JSON reply. No I/O.

Same names and meaning as the service this project grew from
(``/gbm?periods=100&startPrice=70.0&mu=0.05&sigma=0.30&delta=1.0`` returns
``{"result": [70.0, ...]}``), plus an optional ``seed``; the reply also carries the ``seed``
used, so a path can be fetched again or followed live as a stream. The original crashed when
any of the five was missing, so all five are required here, and a bad value is a 400 that
names the parameter.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import numpy as np
import orjson

from simulation import GBMParams, ParamError, path
from simulation.walk import REMEDY, first_out_of_range
from simulation.params import pick_seed
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


def _compute(query: str, max_periods: int) -> tuple[np.ndarray, int]:
    args = parse_qs(query, keep_blank_values=True)
    for name in (*REQUIRED, "seed"):
        if len(args.get(name, ())) > 1:
            raise BadQuery(f"{name} is given {len(args[name])} times; give it once")
    missing = [name for name in REQUIRED if name not in args]
    if missing:
        raise BadQuery(f"missing parameter {missing[0]} (required: {', '.join(REQUIRED)})")
    periods = _integer(args, "periods")
    if not 1 <= periods <= max_periods:
        raise BadQuery(f"periods must be an integer from 1 to {max_periods}, got {periods}")
    try:
        params = GBMParams(*(_number(args, name) for name in REQUIRED[1:]))
        seed = (check_seed(_integer(args, "seed"), error=ParamError) if "seed" in args
                else pick_seed())
    except ParamError as exc:
        raise BadQuery(exc.message) from None
    prices = path(params, seed, periods)
    left = first_out_of_range(prices)
    if left is not None:
        index, reason = left
        raise BadQuery(f"the path leaves the range of normal doubles at period {index} "
                       f"({reason}); {REMEDY[reason]}")
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
