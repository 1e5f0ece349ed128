"""The client's operations, typed: :func:`parse` reads one from a text frame (the server's
side), :func:`encode` writes one (the clients' side).

Parsing checks shapes and types (``bad_json``, ``bad_request``) and the protocol's own rules
(:meth:`StreamSpec.conflict`); ranges that depend on a server's settings or on the model are
the server's to check (``invalid_params``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, fields
from typing import Any

import orjson

from wire.errors import CommandError, FieldError
from wire.names import (
    GBM,
    ID_MAX,
    ID_MAX_LENGTH,
    ID_MIN,
    INTEGER_FIELDS,
    MODEL_FIELDS,
    MODEL_PARAMS,
    NUMBER_FIELDS,
    PACES,
    PRIVATE_FIELDS,
    SUBSCRIBE_FIELDS,
    ErrorCode,
    Op,
    python_name,
    wire_name,
)
from wire.values import show

Id = int | str | None


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What a subscription asks for: a market ``symbol``, or a private stream's fields.
    Every field ``None`` means absent (the server's default). Attributes are spelled the
    Python way (``start_price``); :meth:`to_wire` spells them the wire's way."""

    symbol: str | None = None
    _: KW_ONLY
    model: str | None = None
    start_price: float | None = None
    mu: float | None = None
    sigma: float | None = None
    delta: float | None = None
    jump_rate: float | None = None
    jump_mean: float | None = None
    jump_std: float | None = None
    v0: float | None = None
    kappa: float | None = None
    theta: float | None = None
    xi: float | None = None
    rho: float | None = None
    level: float | None = None
    interval: float | None = None
    seed: int | None = None
    periods: int | None = None
    history: int | None = None
    t0: float | None = None
    from_seq: int | None = None
    from_time: float | None = None
    pace: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The fields given, with their wire names, in the protocol's order."""
        given = {wire_name(f.name): getattr(self, f.name) for f in fields(self)
                 if f.name != "_" and getattr(self, f.name) is not None}
        return {name: given[name] for name in SUBSCRIBE_FIELDS if name in given}

    def private_fields(self) -> list[str]:
        """Wire names of the private-stream fields given (a symbol takes none of them)."""
        return [name for name in PRIVATE_FIELDS if getattr(self, python_name(name)) is not None]

    def conflict(self, name: Callable[[str], str] = str) -> FieldError | None:
        """The first rule of the protocol these fields break together, or ``None``. ``name``
        spells a wire field for the message (the Python client passes its own spelling)."""
        if self.history is not None and self.from_seq is not None:
            return FieldError("history", self.history,
                              f"give history or {name('fromSeq')}, not both")
        if self.from_time is not None and (self.from_seq is not None or self.history is not None):
            return FieldError("fromTime", self.from_time, f"give {name('fromTime')} or "
                              f"{name('fromSeq')} or history, one of them")
        if self.pace is not None and self.from_seq is None and self.from_time is None:
            return FieldError("pace", self.pace, f"pace is the pace of a replay: give "
                              f"{name('fromSeq')} or {name('fromTime')} with it")
        if self.symbol is not None:
            given = self.private_fields()
            if given:
                return FieldError(given[0], None, f"{name(given[0])} cannot be combined with "
                                  "symbol: a symbol's parameters are fixed by the market")
            return None
        model = self.model or GBM
        own = MODEL_PARAMS.get(model, ())
        for field in MODEL_FIELDS:
            if field not in own and getattr(self, python_name(field)) is not None:
                return FieldError(field, getattr(self, python_name(field)),
                                  f"{name(field)} is not a field of model {model}; its fields "
                                  f"are {', '.join(name(f) for f in own)}")
        if self.t0 is not None and self.seed is None:
            return FieldError("t0", self.t0, "t0 names a stream only together with its seed")
        if self.from_seq is not None and self.t0 is None:
            return FieldError("fromSeq", self.from_seq, f"{name('fromSeq')} resumes a stream, "
                              "which needs the seed and t0 of its subscribed reply")
        if self.from_time is not None and self.t0 is None:
            return FieldError("fromTime", self.from_time, f"{name('fromTime')} replays a "
                              "stream, which needs the seed and t0 of its subscribed reply")
        return None

    def resume(self, symbol: str | None, t0: float | None, params: Mapping[str, Any],
               from_seq: int | None) -> StreamSpec:
        """The subscribe that names this stream again: the same symbol, or the same private
        fields and seed (from an ack's ``params``), with ``t0`` and ``from_seq`` unless they
        are ``None`` (without ``t0``, the server starts the stream afresh)."""
        if symbol is not None:
            return StreamSpec(symbol, t0=t0, from_seq=from_seq)
        private = {python_name(name): params[name] for name in PRIVATE_FIELDS
                   if params.get(name) is not None}
        model = params.get("model")
        return StreamSpec(t0=t0, from_seq=from_seq, model=None if model == GBM else model,
                          **private)

    def describe(self) -> str:
        """``ACME``, or ``private(seed=7, sigma=0.3)``: for logs and reprs."""
        if self.symbol is not None:
            return self.symbol
        given = [f"{python_name(name)}={getattr(self, python_name(name))!r}"
                 for name in ("model", "seed", *PRIVATE_FIELDS[:-2], "periods")
                 if getattr(self, python_name(name)) is not None]
        return "private(" + ", ".join(given) + ")"


@dataclass(frozen=True, slots=True)
class Subscribe:
    id: Id
    spec: StreamSpec


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

_OPS: dict[type[Any], Op] = {Subscribe: Op.SUBSCRIBE, Unsubscribe: Op.UNSUBSCRIBE,
                             ListSubscriptions: Op.LIST, ListSymbols: Op.SYMBOLS, Ping: Op.PING}
_FIELDS = {
    Op.SUBSCRIBE: frozenset(SUBSCRIBE_FIELDS),
    Op.UNSUBSCRIBE: frozenset({"op", "id", "sub"}),
    Op.LIST: frozenset({"op", "id"}),
    Op.SYMBOLS: frozenset({"op", "id"}),
    Op.PING: frozenset({"op", "id"}),
}


# --- the clients' side --------------------------------------------------------------------------


def to_wire(command: Command) -> dict[str, Any]:
    """The operation as a JSON object (``id`` last; left out when ``None``)."""
    message: dict[str, Any] = {"op": _OPS[type(command)]}
    if isinstance(command, Subscribe):
        message.update(command.spec.to_wire())
    elif isinstance(command, Unsubscribe):
        message["sub"] = command.sub
    if command.id is not None:
        message["id"] = command.id
    return message


def encode(command: Command) -> bytes:
    """The operation as the text of one frame."""
    return orjson.dumps(to_wire(command))


# --- the server's side --------------------------------------------------------------------------


def loads(raw: str | bytes) -> Any:
    """Parse JSON with the standard library, on purpose: unlike orjson it keeps integers beyond
    64 bits exact and reads ``NaN`` and ``Infinity``, so those reach the range checks and get an
    error naming their field instead of failing the whole message. Client messages are few;
    the server's hot path encodes with orjson."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise CommandError(ErrorCode.BAD_JSON, f"message is not valid JSON: {reason}") from None


def parse(raw: str | bytes) -> Command:
    """Turn one client text frame into a :data:`Command`, or raise :class:`CommandError`."""
    data = loads(raw)
    if not isinstance(data, dict):
        raise CommandError(ErrorCode.BAD_REQUEST,
                           f"a message must be a JSON object, got {_json_type(data)}")
    id_ = _parse_id(data)
    op = data.get("op")
    if op is None:
        raise CommandError(ErrorCode.BAD_REQUEST, "missing field op", "op", id_)
    if not isinstance(op, str) or op not in _FIELDS:
        raise CommandError(ErrorCode.BAD_REQUEST, f"unknown op {show(op)}; expected one of "
                           f"{', '.join(_FIELDS)}", "op", id_)
    unknown = sorted(set(data) - _FIELDS[Op(op)])
    if unknown:
        name = unknown[0]
        raise CommandError(ErrorCode.BAD_REQUEST, f"unknown field {show(name)} for op {op}",
                           name if _encodable(name) else None, id_)
    if op == Op.SUBSCRIBE:
        data = {k: v for k, v in data.items() if v is not None}  # null means "not given"
        model = data.get("model")
        if model is not None and (not isinstance(model, str) or model not in MODEL_PARAMS):
            raise CommandError.invalid("model", "model must be one of " + ", ".join(
                f'"{m}"' for m in MODEL_PARAMS) + f", got {show(model)}", id_)
        pace = data.get("pace")
        if pace is not None and (not isinstance(pace, str) or pace not in PACES):
            raise CommandError.invalid("pace", "pace must be one of " + ", ".join(
                f'"{p}"' for p in PACES) + f", got {show(pace)}", id_)
        return Subscribe(id_, _parse_spec(data, id_))
    if op == Op.UNSUBSCRIBE:
        if "sub" not in data:
            raise CommandError(ErrorCode.BAD_REQUEST, "missing field sub", "sub", id_)
        return Unsubscribe(id_, _integer(data, "sub", id_))
    if op == Op.LIST:
        return ListSubscriptions(id_)
    if op == Op.SYMBOLS:
        return ListSymbols(id_)
    return Ping(id_)


def id_of(raw: str | bytes | None, limit: int = 1024) -> Id:
    """The ``id`` of a message that will not be carried out, so that its refusal can echo it
    (``None`` for one longer than ``limit``, which is not worth parsing)."""
    if raw is None or len(raw) > limit:
        return None
    try:
        return parse(raw).id
    except CommandError as exc:
        return exc.id


def _parse_spec(data: dict[str, Any], id_: Id) -> StreamSpec:
    symbol = data.get("symbol")
    if symbol is not None and not isinstance(symbol, str):
        raise CommandError(ErrorCode.BAD_REQUEST, f"symbol must be a string, got {show(symbol)}",
                           "symbol", id_)
    values: dict[str, Any] = {}
    for name in NUMBER_FIELDS:
        if name in data:
            values[python_name(name)] = _number(data, name, id_)
    for name in INTEGER_FIELDS:
        if name in data:
            values[python_name(name)] = _integer(data, name, id_)
    model = data.get("model")
    return StreamSpec(symbol, model=None if model == GBM else model, pace=data.get("pace"),
                      **values)


def _parse_id(data: dict[str, Any]) -> Id:
    if "id" not in data:
        return None
    value = data["id"]
    if isinstance(value, str) and len(value) <= ID_MAX_LENGTH and _encodable(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and ID_MIN <= value <= ID_MAX:
        return value
    raise CommandError(ErrorCode.BAD_REQUEST, f"id must be a 64-bit integer or a string of at "
                       f"most {ID_MAX_LENGTH} characters, got {show(value)}", "id")


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
        raise CommandError(ErrorCode.BAD_REQUEST, f"{field} must be a number, got {show(value)}",
                           field, id_)
    return value  # ranges, including NaN and Infinity, are checked with the settings


def _integer(data: dict[str, Any], field: str, id_: Id) -> int:
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommandError(ErrorCode.BAD_REQUEST,
                           f"{field} must be an integer, got {show(value)}", field, id_)
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
