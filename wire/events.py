"""The server's events, typed: one small frozen class per event, in the manner of h11's
``_events.py``. The server builds every event through these classes and encodes it with
:meth:`Event.encode`; a client reads one with :func:`read`, which checks every field's type
and raises :class:`~wire.errors.EventError` naming what is wrong.

A frame is a JSON array of encoded events (:func:`payload`). Ticks are the hot path, so the
server does not build them as objects: a tick's text is a ``head`` fixed per subscription
(``{"type":"tick","sub":3,``) and a ``body`` formatted once per stream step
(``"seq":17,"price":70.53,"time":1764412346.5}``) and shared by every subscriber; a test holds
those texts equal to :meth:`Tick.encode`. Clients read ticks from the decoded frame directly
(:data:`TICK`), which is the same contract without an object per tick.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import orjson

from wire.errors import CommandError, EventError
from wire.names import EventType

Id = int | str | None
TICK = EventType.TICK


class Event:
    """Base of every server event: ``type`` first, then the fields in their declared order;
    a field in ``OPTIONAL`` is left out when it is ``None``."""

    __slots__ = ()
    TYPE: ClassVar[EventType]
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    _names: ClassVar[tuple[str, ...]] = ()

    def to_wire(self) -> dict[str, Any]:
        """The event as a JSON object."""
        wire: dict[str, Any] = {"type": self.TYPE}
        for name in self._names:
            value = getattr(self, name)
            if value is None and name in self.OPTIONAL:
                continue
            wire[name] = _to_wire(value)
        return wire

    def encode(self) -> str:
        """The event as JSON text, ready to join into a frame (:func:`payload`)."""
        return orjson.dumps(self.to_wire()).decode()


def _to_wire(value: Any) -> Any:
    if isinstance(value, Entry):
        return value.to_wire()
    if isinstance(value, (list, tuple)):
        return [_to_wire(item) for item in value]
    return value


class Entry:
    """An object nested in an event (an entry of ``subscriptions`` or ``symbols``); a field
    in ``OPTIONAL`` is left out when it is ``None``."""

    __slots__ = ()
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    _names: ClassVar[tuple[str, ...]] = ()

    def to_wire(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._names
                if getattr(self, name) is not None or name not in self.OPTIONAL}


@dataclass(frozen=True, slots=True)
class SubscriptionEntry(Entry):
    """One subscription in a ``subscriptions`` reply."""

    sub: int
    symbol: str | None
    seq: int
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SymbolEntry(Entry):
    """One symbol of the market in a ``symbols`` reply, with its current tick."""

    OPTIONAL = frozenset({"vol"})
    symbol: str
    t0: float
    params: dict[str, Any]
    seq: int
    price: float
    time: float
    vol: float | None = None
    """A Heston symbol's volatility ``sqrt(v)`` at that tick."""


@dataclass(frozen=True, slots=True)
class Subscribed(Event):
    """The reply to ``subscribe``: the subscription's number, the stream's current tick, its
    ``t0`` and its effective ``params`` (seed included)."""

    TYPE = EventType.SUBSCRIBED
    OPTIONAL = frozenset({"vol"})
    id: Id
    sub: int
    symbol: str | None
    seq: int
    price: float
    time: float
    t0: float
    params: dict[str, Any]
    vol: float | None = None
    """A Heston stream's volatility ``sqrt(v)`` at the current tick."""


@dataclass(frozen=True, slots=True)
class Unsubscribed(Event):
    TYPE = EventType.UNSUBSCRIBED
    id: Id
    sub: int


@dataclass(frozen=True, slots=True)
class Subscriptions(Event):
    """The reply to ``list``."""

    TYPE = EventType.SUBSCRIPTIONS
    id: Id
    subs: list[SubscriptionEntry]


@dataclass(frozen=True, slots=True)
class Symbols(Event):
    """The reply to ``symbols``: the market, for a watch list."""

    TYPE = EventType.SYMBOLS
    id: Id
    symbols: list[SymbolEntry]


@dataclass(frozen=True, slots=True)
class Pong(Event):
    """The reply to ``ping``, with the server's clock."""

    TYPE = EventType.PONG
    id: Id
    time: float


@dataclass(frozen=True, slots=True)
class Tick(Event):
    TYPE = EventType.TICK
    OPTIONAL = frozenset({"vol"})
    sub: int
    seq: int
    price: float
    time: float
    vol: float | None = None
    """A Heston stream's instantaneous volatility, ``sqrt(v)``."""


@dataclass(frozen=True, slots=True)
class End(Event):
    """Subscription ``sub`` sends nothing after ``seq``: the last tick of a finite stream, or
    an early end with a ``reason``."""

    TYPE = EventType.END
    OPTIONAL = frozenset({"reason"})
    sub: int
    seq: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Lagging(Event):
    """``skipped`` ticks of ``sub`` were conflated; the next tick is ``seq``."""

    TYPE = EventType.LAGGING
    sub: int
    skipped: int
    seq: int


@dataclass(frozen=True, slots=True)
class Replayed(Event):
    """A ``pace: "asap"`` replay of ``sub`` is over: ``seq`` was its last tick; live ticks
    follow."""

    TYPE = EventType.REPLAYED
    sub: int
    seq: int


@dataclass(frozen=True, slots=True)
class Error(Event):
    """One operation refused; ``field`` names what was wrong, ``id`` echoes the operation's."""

    TYPE = EventType.ERROR
    id: Id
    code: str
    field: str | None
    message: str

    @classmethod
    def of(cls, exc: CommandError) -> Error:
        return cls(exc.id, exc.code, exc.field, exc.message)


@dataclass(frozen=True, slots=True)
class Unknown(Event):
    """An event of a type this version does not know: kept whole, for forward compatibility."""

    type: str
    data: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return self.data


EVENTS: dict[str, type[Event]] = {cls.TYPE: cls for cls in (
    Subscribed, Unsubscribed, Subscriptions, Symbols, Pong, Tick, End, Lagging, Replayed,
    Error)}
_ENTRIES: dict[str, type[Entry]] = {"SubscriptionEntry": SubscriptionEntry,
                                    "SymbolEntry": SymbolEntry}
for _event in EVENTS.values():
    _event._names = tuple(f.name for f in fields(_event))  # type: ignore[arg-type]
for _entry in _ENTRIES.values():
    _entry._names = tuple(f.name for f in fields(_entry))  # type: ignore[arg-type]


# --- reading (the clients' side) ------------------------------------------------------------


def _is_int(value: object) -> bool:
    return type(value) is int


def _is_number(value: object) -> bool:
    return type(value) is float or type(value) is int


_CHECKS: dict[str, Callable[[object], bool]] = {
    "int": _is_int,
    "float": _is_number,
    "str": lambda v: type(v) is str,
    "str | None": lambda v: v is None or type(v) is str,
    "Id": lambda v: v is None or type(v) in (int, str),
    "dict[str, Any]": lambda v: type(v) is dict,
}


def _list_of(item: Callable[[Any], Any]) -> Callable[[object], Any]:
    def convert(value: object) -> Any:
        if type(value) is not list:
            raise TypeError
        return [item(element) for element in value]
    return convert


def _checked(check: Callable[[object], bool]) -> Callable[[object], Any]:
    def convert(value: object) -> Any:
        if not check(value):
            raise TypeError
        return value
    return convert


def _reader(cls: type[Any]) -> Callable[[Mapping[str, Any]], Any]:
    """A function that builds ``cls`` from a decoded object, checking each field's type."""
    specs: list[tuple[str, Callable[[object], Any], bool]] = []
    for f in fields(cls):
        kind = str(f.type)
        optional = f.name in getattr(cls, "OPTIONAL", ())
        if kind.startswith("list[") and kind[5:-1] in _ENTRIES:
            convert = _list_of(_reader(_ENTRIES[kind[5:-1]]))
        else:
            check = _CHECKS.get(kind.removesuffix(" | None") if optional else kind)
            if check is None:
                raise TypeError(f"{cls.__name__}.{f.name}: no reader for type {kind}")
            convert = _checked(check)
        specs.append((f.name, convert, optional))
    name = cls.__name__

    def read_one(data: Mapping[str, Any]) -> Any:
        if type(data) is not dict:
            raise EventError(f"{name} must be a JSON object, got {_short(data)}")
        values = {}
        for field_name, convert, optional in specs:
            if field_name not in data:
                if optional:
                    continue
                raise EventError(f"{name} without {field_name}: {_short(data)}")
            value = data[field_name]
            if value is None and optional:
                continue
            try:
                values[field_name] = convert(value)
            except (TypeError, EventError):
                raise EventError(f"{name} with a mistyped {field_name}: {_short(data)}") from None
        return cls(**values)
    return read_one


_READERS = {kind: _reader(cls) for kind, cls in EVENTS.items()}


def read(data: object) -> Event:
    """The typed event of one decoded object of a frame; :class:`Unknown` for a type this
    version does not know. Raises :class:`~wire.errors.EventError` for a malformed one."""
    if type(data) is not dict:
        raise EventError(f"an event must be a JSON object, got {_short(data)}")
    kind = data.get("type")
    if type(kind) is not str:
        raise EventError(f"an event without a type: {_short(data)}")
    reader = _READERS.get(kind)
    if reader is None:
        return Unknown(kind, data)
    event: Event = reader(data)
    return event


def decode(frame: bytes | str) -> list[Any]:
    """The decoded events of one frame (each a ``dict``), checking only that the frame is a
    JSON array; read each with :func:`read`, or a tick directly."""
    try:
        events = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise EventError(f"frame is not valid JSON: {exc}") from None
    if type(events) is not list:
        raise EventError(f"a frame must be a JSON array of events, got {_short(events)}")
    return events


def _short(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- writing (the server's side) ------------------------------------------------------------


def type_of(text: str) -> str:
    """The ``type`` of an encoded event, read from its text: every event's text starts with
    it (``{"type":"tick",``), as :meth:`Event.encode` and :func:`tick_head` write it."""
    return text[9:text.index('"', 9)]


def payload(parts: Sequence[str]) -> bytes:
    """One frame's text: a JSON array of already-encoded events."""
    return ("[" + ",".join(parts) + "]").encode()


def tick_head(sub: int) -> str:
    """The part of a tick's text fixed per subscription."""
    return f'{{"type":"tick","sub":{sub},'


def tick_bodies(seqs: Any, prices: Any, times: Any, vols: Any = None) -> list[str]:
    """The part of a tick's text shared by every subscriber of the stream, for many ticks at
    once (numpy arrays of one length): numbers are formatted by orjson in three calls, not
    one Python call per number (a non-finite price would read ``null``). ``vols`` (NaN for a
    tick without one) adds each tick's ``vol``."""
    if vols is not None:
        return [f'"seq":{s},"price":{p},"time":{t}{_vol(v)}}}' for s, p, t, v in
                zip(number_texts(seqs), number_texts(prices), number_texts(times), number_texts(vols))]
    return [f'"seq":{s},"price":{p},"time":{t}}}'
            for s, p, t in zip(number_texts(seqs), number_texts(prices), number_texts(times))]


def ticks(heads: Sequence[str], seqs: Any, prices: Any, times: Any,
          vols: Any = None) -> list[str]:
    """Whole tick texts, each with its own subscription's head (and ``vol``, as above)."""
    if vols is not None:
        return [f'{h}"seq":{s},"price":{p},"time":{t}{_vol(v)}}}' for h, s, p, t, v in
                zip(heads, number_texts(seqs), number_texts(prices), number_texts(times), number_texts(vols))]
    return [f'{h}"seq":{s},"price":{p},"time":{t}}}'
            for h, s, p, t in zip(heads, number_texts(seqs), number_texts(prices), number_texts(times))]


def _vol(text: str) -> str:
    return "" if text == "null" else ',"vol":' + text


def number_texts(values: Any) -> list[str]:
    """Each number of a numpy array as JSON text (the shortest text that reads back exactly)."""
    if not len(values):
        return []
    text: str = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return text[1:-1].split(",")
