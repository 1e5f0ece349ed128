"""The wire format: parsing client operations and encoding server events.

This module alone turns bytes into typed commands and events into bytes (PROTOCOL.md sections
3-5). Parsing checks shapes and types (``bad_json``, ``bad_request``); ranges that depend on
the server's settings are the session's job (``invalid_params``).

Ticks are the hot path, so they are not built as dicts: a tick is a ``head`` fixed per
subscription (``{"type":"tick","sub":3,``) and a ``body`` formatted once per stream step
(``"seq":17,"price":70.53,"time":1764412346.5}``) and shared by every subscriber.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from simulation.params import show
from streamer.errors import ProtocolError

MAX_ID_LENGTH = 64
ID_MIN, ID_MAX = -(2**63), 2**64 - 1  # what the encoder can echo exactly
MODEL_FIELDS = ("startPrice", "mu", "sigma", "delta")

Id = int | str | None


@dataclass(frozen=True, slots=True)
class Subscribe:
    """``subscribe``: a private stream (model fields) or a market symbol. ``None`` = absent."""

    id: Id
    symbol: str | None = None
    model: tuple[tuple[str, float], ...] = ()
    interval: float | None = None
    seed: int | None = None
    periods: int | None = None
    history: int | None = None
    from_seq: int | None = None
    t0: float | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    id: Id
    sub: int


@dataclass(frozen=True, slots=True)
class ListSubscriptions:
    id: Id


@dataclass(frozen=True, slots=True)
class ListSymbols:
    id: Id


@dataclass(frozen=True, slots=True)
class Ping:
    id: Id


Command = Subscribe | Unsubscribe | ListSubscriptions | ListSymbols | Ping

_NUMBER_FIELDS = {"startPrice", "mu", "sigma", "delta", "interval", "t0"}
_INTEGER_FIELDS = {"seed", "periods", "history", "fromSeq"}
_FIELDS = {
    "subscribe": {"op", "id", "symbol", "model", *_NUMBER_FIELDS, *_INTEGER_FIELDS},
    "unsubscribe": {"op", "id", "sub"},
    "list": {"op", "id"},
    "symbols": {"op", "id"},
    "ping": {"op", "id"},
}


def loads(raw: str | bytes) -> Any:
    """Parse JSON with the standard library, on purpose: unlike orjson it keeps integers beyond
    64 bits exact and reads ``NaN`` and ``Infinity``, so those reach the range checks and get an
    error naming their field instead of failing the whole message. Client messages are few;
    the server's hot path encodes with orjson."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ProtocolError("bad_json", f"message is not valid JSON: {reason}") from None


def parse(raw: str | bytes) -> Command:
    """Turn one client text frame into a :data:`Command`, or raise :class:`ProtocolError`."""
    data = loads(raw)
    if not isinstance(data, dict):
        raise ProtocolError("bad_request",
                            f"a message must be a JSON object, got {_json_type(data)}")
    id_ = _parse_id(data)
    op = data.get("op")
    if op is None:
        raise ProtocolError("bad_request", "missing field op", "op", id_)
    if not isinstance(op, str) or op not in _FIELDS:
        raise ProtocolError("bad_request", f"unknown op {show(op)}; expected one of "
                            f"{', '.join(_FIELDS)}", "op", id_)
    unknown = sorted(set(data) - _FIELDS[op])
    if unknown:
        name = unknown[0]
        raise ProtocolError("bad_request", f"unknown field {show(name)} for op {op}",
                            name if _encodable(name) else None, id_)
    if op == "subscribe":
        data = {k: v for k, v in data.items() if v is not None}  # null means "not given"
        model = data.pop("model", "gbm")
        if model != "gbm":
            raise ProtocolError("invalid_params", f"model must be \"gbm\", got {show(model)}",
                                "model", id_)
        return _parse_subscribe(data, id_)
    if op == "unsubscribe":
        if "sub" not in data:
            raise ProtocolError("bad_request", "missing field sub", "sub", id_)
        return Unsubscribe(id_, _integer(data, "sub", id_))
    if op == "list":
        return ListSubscriptions(id_)
    if op == "symbols":
        return ListSymbols(id_)
    return Ping(id_)


def _parse_subscribe(data: dict[str, Any], id_: Id) -> Subscribe:
    symbol = data.get("symbol")
    if symbol is not None and not isinstance(symbol, str):
        raise ProtocolError("bad_request", f"symbol must be a string, got {show(symbol)}",
                            "symbol", id_)
    model = tuple((name, _number(data, name, id_)) for name in MODEL_FIELDS if name in data)
    periods = data.get("periods")
    return Subscribe(
        id=id_,
        symbol=symbol,
        model=model,
        interval=_number(data, "interval", id_) if "interval" in data else None,
        seed=_integer(data, "seed", id_) if "seed" in data else None,
        periods=_integer(data, "periods", id_) if periods is not None else None,
        history=_integer(data, "history", id_) if "history" in data else None,
        from_seq=_integer(data, "fromSeq", id_) if "fromSeq" in data else None,
        t0=_number(data, "t0", id_) if "t0" in data else None,
    )


def _parse_id(data: dict[str, Any]) -> Id:
    if "id" not in data:
        return None
    value = data["id"]
    if isinstance(value, str) and len(value) <= MAX_ID_LENGTH and _encodable(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and ID_MIN <= value <= ID_MAX:
        return value
    raise ProtocolError("bad_request", f"id must be a 64-bit integer or a string of at most "
                        f"{MAX_ID_LENGTH} characters, got {show(value)}", "id")


def _encodable(text: str) -> bool:
    """False for text that cannot be sent back as UTF-8 (lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _number(data: dict[str, Any], field: str, id_: Id) -> float:
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError("bad_request", f"{field} must be a number, got {show(value)}",
                            field, id_)
    return value  # ranges, including NaN and Infinity, are checked with the settings


def _integer(data: dict[str, Any], field: str, id_: Id) -> int:
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError("bad_request", f"{field} must be an integer, got {show(value)}",
                            field, id_)
    return value


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


# --- encoding -------------------------------------------------------------------------------


def event(event: dict[str, Any]) -> str:
    """One event object as JSON text, ready to join into a frame."""
    return orjson.dumps(event).decode()


def error_event(exc: ProtocolError) -> dict[str, Any]:
    return {"type": "error", "id": exc.id, "code": exc.code, "field": exc.field,
            "message": exc.message}


def tick_head(sub: int) -> str:
    """The part of a tick event fixed per subscription."""
    return f'{{"type":"tick","sub":{sub},'


def tick_body(seq: int, price: float, time: float) -> str:
    """The part of a tick event shared by every subscriber of the stream."""
    return tick_bodies(np.array([seq]), np.array([price]), np.array([time]))[0]


def tick_bodies(seqs: np.ndarray, prices: np.ndarray, times: np.ndarray) -> list[str]:
    """:func:`tick_body` for many ticks at once: numbers are formatted by orjson in three
    calls, not one Python call per number (a non-finite price would read ``null``)."""
    return [f'"seq":{s},"price":{p},"time":{t}}}'
            for s, p, t in zip(_texts(seqs), _texts(prices), _texts(times))]


def ticks(heads: list[str], seqs: np.ndarray, prices: np.ndarray, times: np.ndarray,
          ) -> list[str]:
    """Whole tick events, each with its own subscription's head."""
    return [f'{h}"seq":{s},"price":{p},"time":{t}}}'
            for h, s, p, t in zip(heads, _texts(seqs), _texts(prices), _texts(times))]


def _texts(values: np.ndarray) -> list[str]:
    """Each number of ``values`` as JSON text (the shortest text that reads back exactly)."""
    if not len(values):
        return []
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY).decode()[1:-1].split(",")


def frame(parts: list[str]) -> bytes:
    """A server frame: a JSON array of already-encoded events."""
    return ("[" + ",".join(parts) + "]").encode()
