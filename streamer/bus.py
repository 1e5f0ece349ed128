"""The market on NATS JetStream, as publishers, gateways and third parties agree on it: the
stream and its subjects, the message id, the tick payload and the market's definition. No I/O
here (:mod:`streamer.publisher` and :mod:`streamer.gateway` do it).

* Every tick of symbol ``S`` is a message on subject ``ticks.S`` of the JetStream stream
  ``TICKS``, with header ``Nats-Msg-Id: S:<t0>:<seq>``: two publishers of one market publish
  the same ids, and JetStream keeps the first of each within its duplicate window.
* The payload is a JSON object: ``seq`` (an integer from 0, one more each tick), ``price`` (a
  positive finite number), ``time`` (epoch seconds), and optionally ``vol`` (a Heston
  symbol's volatility), ``t0`` (the epoch of the numbering: a new one starts ``seq`` again),
  ``interval`` (seconds between ticks) and ``symbol`` (which must then be the subject's). A
  third party publishes its own symbols in the same form.
* The market's definition (:func:`simulation.market.market_to_mapping`, as JSON) is the value
  of key ``definition`` in the key-value bucket ``MARKET``: the first publisher puts it,
  later ones and every gateway read it, so all agree on every symbol without a file.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import orjson

from simulation import Market, MarketError
from simulation.market import SYMBOL_PATTERN, market_from_mapping, market_to_mapping
from wire.events import number_texts

STREAM = "TICKS"
SUBJECT_PREFIX = "ticks."
SUBJECTS = SUBJECT_PREFIX + ">"
MARKET_BUCKET = "MARKET"
MARKET_KEY = "definition"
MSG_ID = "Nats-Msg-Id"
#: Seconds within which JetStream drops a second message with the same id (its default).
DUPLICATE_WINDOW = 120.0
#: Ticks of each symbol the stream keeps by default (per-subject limit; older ones go first).
RETENTION = 100_000


class BusError(ValueError):
    """A message on the bus that does not follow the payload above; says what is wrong."""


class BusTick(NamedTuple):
    """One tick read from the bus (a named tuple: a gateway makes 10,000 a second, and a
    tuple is made in a third of a frozen dataclass's time)."""

    symbol: str
    seq: int
    price: float
    time: float
    vol: float | None = None
    t0: float | None = None
    interval: float | None = None
    """Seconds between the symbol's ticks, as its publisher declares them (optional)."""


def subject(symbol: str) -> str:
    return SUBJECT_PREFIX + symbol


@functools.lru_cache(maxsize=65_536)  # a gateway reads the same few thousand subjects
def symbol_of(subject_name: str) -> str:
    """The symbol a subject carries; :class:`BusError` unless it is ``ticks.<SYMBOL>``."""
    symbol = subject_name.removeprefix(SUBJECT_PREFIX)
    if symbol == subject_name or not SYMBOL_PATTERN.fullmatch(symbol):
        raise BusError(f"subject {subject_name!r} is not ticks.<SYMBOL> (a symbol is 1-16 of "
                       "A-Z 0-9 . _ - starting with a letter or digit)")
    return symbol


def msg_id(symbol: str, t0: float, seq: int) -> str:
    """The message id of a tick: the same in every publisher of the market."""
    return msg_id_head(symbol, t0) + str(seq)


def msg_id_head(symbol: str, t0: float) -> str:
    """A symbol's message ids up to their seq."""
    return f"{symbol}:{t0!r}:"


def encode_tick(symbol: str, seq: int, price: float, time: float, t0: float,
                vol: float | None = None) -> bytes:
    body: dict[str, object] = {"symbol": symbol, "seq": seq, "price": price, "time": time,
                               "t0": t0}
    if vol is not None:
        body["vol"] = vol
    return orjson.dumps(body)


def encode_ticks(symbols: Sequence[str], t0s: Sequence[float], seqs: np.ndarray,
                 prices: np.ndarray, times: np.ndarray, vols: np.ndarray | None) -> list[bytes]:
    """:func:`encode_tick` of many ticks at once, byte for byte (``vols``: NaN for none):
    the numbers of all of them are formatted in a few calls, not one dict and one call a
    tick (a publisher of 1,000 symbols makes 1,000 of these an instant)."""
    parts = zip(symbols, number_texts(seqs), number_texts(prices), number_texts(times),
                number_texts(np.asarray(t0s, dtype=float)),
                number_texts(vols) if vols is not None else itertools.repeat("null"))
    return [(f'{{"symbol":"{symbol}","seq":{seq},"price":{price},"time":{at},"t0":{t0}'
             + ("}" if vol == "null" else f',"vol":{vol}}}')).encode()
            for symbol, seq, price, at, t0, vol in parts]


def decode_tick(subject_name: str, data: bytes) -> BusTick:
    """A tick from a message; :class:`BusError` naming the field when it is not one."""
    symbol = symbol_of(subject_name)
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BusError(f"{subject_name}: the payload is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BusError(f"{subject_name}: the payload must be a JSON object, got "
                       f"{type(body).__name__}")
    seq = body.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise BusError(f"{subject_name}: seq must be an integer >= 0, got {seq!r}")
    price = _number(subject_name, body, "price")
    if price <= 0.0:
        raise BusError(f"{subject_name}: price must be positive, got {price!r}")
    time = _number(subject_name, body, "time")
    vol = _number(subject_name, body, "vol") if "vol" in body else None
    t0 = _number(subject_name, body, "t0") if "t0" in body else None
    interval = _number(subject_name, body, "interval") if "interval" in body else None
    if interval is not None and interval <= 0.0:
        raise BusError(f"{subject_name}: interval must be positive, got {interval!r}")
    named = body.get("symbol", symbol)
    if named != symbol:
        raise BusError(f"{subject_name}: symbol {named!r} is not the subject's {symbol!r}")
    return BusTick(symbol, seq, price, time, vol, t0, interval)


def _number(subject_name: str, body: dict[str, object], name: str) -> float:
    value = body.get(name)
    if type(value) is float and value - value == 0.0:  # finite (inf - inf and NaN are NaN)
        return value
    if type(value) is int:  # not bool, whose type is bool
        return float(value)
    raise BusError(f"{subject_name}: {name} must be a finite number, got {value!r}")


def encode_market(market: Market) -> bytes:
    return orjson.dumps(market_to_mapping(market))


def decode_market(data: bytes, now: float) -> Market:
    """The market a definition on the bus describes; :class:`MarketError` naming the fault."""
    try:
        mapping = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MarketError(f"the market on the bus is not JSON ({exc})") from None
    return market_from_mapping(mapping, now, source="the market on the bus")


def difference(ours: Market, theirs: Market) -> str | None:
    """The first way two markets differ, in words (``None`` when they are the same)."""
    if ours == theirs:
        return None
    mine = {spec.symbol: spec for spec in ours.symbols}
    other = {spec.symbol: spec for spec in theirs.symbols}
    if mine.keys() != other.keys():
        return (f"symbols {sorted(mine.keys() - other.keys())} are only in this one, "
                f"{sorted(other.keys() - mine.keys())} only on the bus")
    for name, spec in mine.items():
        if spec != other[name]:
            return f"symbol {name} differs: {spec} here, {other[name]} on the bus"
    return "their correlated groups differ"
