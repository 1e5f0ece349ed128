"""Names and numbers of the protocol: operations, events, codes, fields and bounds.

Every peer spells these the same way, so each is written here once; docs/protocol.md explains
them. The enums are ``str``/``int`` subclasses, so they compare equal to, and encode as, the
plain values on the wire.
"""

from __future__ import annotations

from enum import Enum, IntEnum, StrEnum
from typing import Any, TypeVar, cast

E = TypeVar("E", bound=Enum)


class Op(StrEnum):
    """The ``op`` of a client operation."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    LIST = "list"
    SYMBOLS = "symbols"
    PING = "ping"


class EventType(StrEnum):
    """The ``type`` of a server event."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    SUBSCRIPTIONS = "subscriptions"
    SYMBOLS = "symbols"
    PONG = "pong"
    TICK = "tick"
    END = "end"
    LAGGING = "lagging"
    REPLAYED = "replayed"
    ERROR = "error"


def _documented(cls: type[E], base: Any, value: object, doc: str) -> E:
    """An enum member of ``base`` (``str``, ``int``) that carries what it means as ``doc``."""
    member: Any = base.__new__(cls, value)
    member._value_ = value
    member.doc = doc
    return cast(E, member)


class ErrorCode(StrEnum):
    """The stable ``code`` of an ``error`` event, with what it means (``doc``). An error
    answers one operation; the connection and every other subscription go on."""

    doc: str

    def __new__(cls, value: str, doc: str = "") -> ErrorCode:
        return _documented(cls, str, value, doc)

    BAD_JSON = "bad_json", "the message is not JSON"
    BAD_REQUEST = ("bad_request", "not a JSON object, an unknown op or field, a missing or "
                   "mistyped field, a binary frame")
    INVALID_PARAMS = "invalid_params", "a value outside its range; `field` names it"
    UNKNOWN_SYMBOL = "unknown_symbol", "the symbol is not in this server's market"
    UNKNOWN_SUBSCRIPTION = "unknown_subscription", "no such `sub` on this connection"
    LIMIT_EXCEEDED = ("limit_exceeded", "a server limit: subscriptions per connection, message "
                      "size, replay length (`fromSeq`) or catch-up length (`t0`)")
    RATE_LIMITED = ("rate_limited", "more operations a second than the server allows; the "
                    "operation was not carried out")


class CloseCode(IntEnum):
    """WebSocket close codes of the server, with what each means (``doc``)."""

    doc: str

    def __new__(cls, value: int, doc: str = "") -> CloseCode:
        return _documented(cls, int, value, doc)

    NORMAL = 1000, "a normal close"
    GOING_AWAY = 1001, "the server is shutting down (SIGINT or SIGTERM)"
    ABNORMAL = (1006, "never sent: recorded (in metrics and logs) when a connection ends "
                "without a close frame")
    INVALID_DATA = 1007, "a text message that is not valid UTF-8"
    POLICY = (1008, "idle without ever subscribing for `--idle-timeout`, or flooding on for "
              "`--flood-limit` operations after `rate_limited`")
    TOO_BIG = (1009, "a client frame larger than `--max-frame-bytes`, which is not read at all; "
               "reconnecting does not help")
    INTERNAL = 1011, "the server failed while handling this connection"
    SLOW_CONSUMER = (4008, "conflated for longer than `--slow-consumer-timeout`: the client "
                     "reads too slowly")


class EndReason(StrEnum):
    """The ``reason`` of an ``end`` that is not the last tick of a finite stream."""

    OVERFLOW = "overflow"
    """The next price would be larger than the largest double."""
    UNDERFLOW = "underflow"
    """The next price would be smaller than the smallest normal double (2.2e-308)."""


#: Each model's fields, in the protocol's order; ``gbm`` is protocol version 1's one model.
MODEL_PARAMS: dict[str, tuple[str, ...]] = {
    "gbm": ("startPrice", "mu", "sigma", "delta"),
    "merton": ("startPrice", "mu", "sigma", "delta", "jumpRate", "jumpMean", "jumpStd"),
    "heston": ("startPrice", "mu", "delta", "v0", "kappa", "theta", "xi", "rho"),
    "ou": ("startPrice", "sigma", "delta", "kappa", "level"),
}
MODELS = tuple(MODEL_PARAMS)
#: Every model field, each once, in the protocol's order.
MODEL_FIELDS = tuple(dict.fromkeys(f for fields in MODEL_PARAMS.values() for f in fields))
#: Everything that, with ``t0``, defines a private stream: what a resume sends back.
PRIVATE_FIELDS = (*MODEL_FIELDS, "interval", "seed", "periods")
#: The ``params`` of an ack or a ``symbols`` entry, in order (a model's own fields only).
PARAMS_FIELDS = ("model", *PRIVATE_FIELDS)
#: Every field a ``subscribe`` may carry.
SUBSCRIBE_FIELDS = ("op", "id", "symbol", "model", *PRIVATE_FIELDS, "history", "fromSeq", "t0",
                    "fromTime", "pace")
#: Fields of a ``subscribe`` that carry numbers, and those that carry integers.
NUMBER_FIELDS = (*MODEL_FIELDS, "interval", "t0", "fromTime")
#: The ``pace`` of a replay: ``live`` (at once, within the server's replay limit) or ``asap``
#: (any length of history, as fast as the client reads, then ``replayed``).
PACES = ("live", "asap")
INTEGER_FIELDS = ("seed", "periods", "history", "fromSeq")
#: The model of a subscription that names none.
GBM = "gbm"

#: What a private stream uses for a field it leaves out: the original service's example
#: (``startPrice=70.0&mu=0.05&sigma=0.30&delta=1.0``), one tick a second; for the other
#: models, a few jumps a year of about -3 %, a variance reverting to 0.09 (a volatility of
#: 30 %) with the usual negative correlation, and a price pulled back within weeks. An
#: ``ou`` stream's ``level`` defaults to its ``startPrice``.
STREAM_DEFAULTS: dict[str, float] = {
    "startPrice": 70.0, "mu": 0.05, "sigma": 0.30, "delta": 1.0, "interval": 1.0,
    "jumpRate": 5.0, "jumpMean": -0.03, "jumpStd": 0.08,
    "v0": 0.09, "kappa": 2.0, "theta": 0.09, "xi": 0.5, "rho": -0.7}
#: Defaults that differ by model (``kappa``: a variance's speed, or a price's).
MODEL_DEFAULTS: dict[str, dict[str, float]] = {"ou": {"kappa": 5.0}}

#: Seeds are unsigned 64-bit integers.
SEED_MAX = 2**64 - 1
#: Seeds the server picks stay below 2**53, so that JavaScript can echo them exactly.
PICKED_SEED_BOUND = 2**53
#: An operation's ``id``: a string of at most this many characters, or an integer from
#: ``ID_MIN`` to ``ID_MAX`` (what every encoder echoes exactly).
ID_MAX_LENGTH = 64
ID_MIN, ID_MAX = -(2**63), 2**64 - 1
#: The most ``history`` the protocol lets a subscribe ask for (a server may allow less).
HISTORY_MAX = 10_000

#: Python spellings of the wire's camelCase fields, for clients that take keyword arguments.
PYTHON_NAMES = {"startPrice": "start_price", "fromSeq": "from_seq", "fromTime": "from_time",
                "jumpRate": "jump_rate", "jumpMean": "jump_mean", "jumpStd": "jump_std"}
WIRE_NAMES = {python: wire for wire, python in PYTHON_NAMES.items()}


def python_name(field: str) -> str:
    """``startPrice`` -> ``start_price``; other fields are spelled alike."""
    return PYTHON_NAMES.get(field, field)


def wire_name(argument: str) -> str:
    """``start_price`` -> ``startPrice``; the inverse of :func:`python_name`."""
    return WIRE_NAMES.get(argument, argument)
