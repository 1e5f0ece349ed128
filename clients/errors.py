"""Errors of the Python client (:mod:`clients.feed`), in one tree.

Exception tree::

    FeedError                    base of every error the client raises
    ├── ArgumentError            YOU: a bad argument, refused before anything is sent; also a
    │                            ValueError; ``argument`` names it (``sigma must be ..., got -1``)
    ├── ServerError              THE SERVER refused one operation (an ``error`` event); carries
    │   │                        the protocol's ``code``, ``field`` and ``message``, and the
    │   │                        ``id`` of the operation it answers. One subclass per code:
    │   ├── BadRequest           bad_json, bad_request: the client sent what the server cannot
    │   │                        read (a bug in this client, or a newer server)
    │   ├── InvalidParams        invalid_params: a value outside the server's settings
    │   ├── UnknownSymbol        unknown_symbol: not in this server's market
    │   ├── UnknownSubscription  unknown_subscription
    │   ├── LimitExceeded        limit_exceeded: too many subscriptions, too long a replay, ...
    │   └── RateLimited          rate_limited: too many operations per second
    ├── TransportError           THE NETWORK: the connection could not be made or kept
    │   ├── ConnectError         connecting failed (first attempt, or reconnecting gave up)
    │   └── ConnectionLost       the connection closed and the feed will not reconnect
    │                            (reconnecting is off, or the close code 1009 says it would
    │                            not help); ``code`` and ``reason`` of the close
    ├── TicksLost                ticks the server can no longer replay (``first``..``last``);
    │                            the subscription goes on after the gap
    ├── StreamRestarted          the stream could not be continued (a new market session):
    │                            it starts over with a new ``t0``; seq numbering restarts
    ├── ProtocolViolation        THE SERVER broke the wire contract (a frame that is not a
    │                            JSON array of events, an event without its fields)
    └── FeedClosed               the feed was closed by the application; no more operations

Messages are lowercase and carry the bad value. ``ServerError`` messages are the server's own
words, which already name the field and the value.
"""

from __future__ import annotations

from wire import events
from wire.names import ErrorCode


class FeedError(Exception):
    """Base class of every error of the client."""


class ArgumentError(FeedError, ValueError):
    """A bad argument to a client call; raised before anything is sent to the server."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument
        """The name of the argument, as the Python call spells it (``start_price``)."""


class ServerError(FeedError):
    """The server answered an operation with an ``error`` event (docs/protocol.md, "Errors")."""

    def __init__(self, code: str, message: str, field: str | None = None,
                 id: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code
        """The protocol's stable error code, such as ``invalid_params``."""
        self.message = message
        self.field = field
        """The wire field the error names (``sigma``, ``fromSeq``), or ``None``."""
        self.id = id
        """The ``id`` of the operation the error answers, or ``None``."""

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        return f"{self.code}{where}: {self.message}"

    @classmethod
    def of(cls, event: events.Error) -> ServerError:
        """The exception of the right class for an ``error`` event."""
        kind = _BY_CODE.get(event.code, ServerError)
        return kind(event.code, event.message, event.field, event.id)


class BadRequest(ServerError):
    """``bad_json`` or ``bad_request``: the server could not read an operation."""


class InvalidParams(ServerError):
    """``invalid_params``: a parameter is outside the server's settings; ``field`` names it."""


class UnknownSymbol(ServerError):
    """``unknown_symbol``: the symbol is not in this server's market."""


class UnknownSubscription(ServerError):
    """``unknown_subscription``: no such subscription on this connection."""


class LimitExceeded(ServerError):
    """``limit_exceeded``: a server limit was reached (subscriptions, replay length, size)."""


class RateLimited(ServerError):
    """``rate_limited``: too many operations per second on this connection."""


_BY_CODE: dict[str, type[ServerError]] = {
    ErrorCode.BAD_JSON: BadRequest,
    ErrorCode.BAD_REQUEST: BadRequest,
    ErrorCode.INVALID_PARAMS: InvalidParams,
    ErrorCode.UNKNOWN_SYMBOL: UnknownSymbol,
    ErrorCode.UNKNOWN_SUBSCRIPTION: UnknownSubscription,
    ErrorCode.LIMIT_EXCEEDED: LimitExceeded,
    ErrorCode.RATE_LIMITED: RateLimited,
}


class TransportError(FeedError):
    """The connection to the server could not be made or kept."""


class ConnectError(TransportError):
    """Connecting failed: the first attempt, or every attempt the backoff allowed.

    The last underlying error is chained as ``__cause__``.
    """

    def __init__(self, message: str, attempts: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        """How many connection attempts were made."""
        self.status = status
        """The HTTP status when the server refused the WebSocket upgrade (401 without the
        right token, 403 from another origin), else ``None``."""


class ConnectionLost(TransportError):
    """The connection closed and the feed does not reconnect.

    Transports also raise it from ``recv()`` and ``send()`` to say the connection ended; the
    feed then decides, from :attr:`final`, whether to reconnect.
    """

    def __init__(self, code: int | None, reason: str = "", *, final: bool = False) -> None:
        what = f"code {code}" if code is not None else "no close frame"
        super().__init__(f"connection closed ({what}{': ' + reason if reason else ''})")
        self.code = code
        """The WebSocket close code (1001 server going away, 4008 slow consumer, ...), or
        ``None`` when the connection dropped without a close frame."""
        self.reason = reason
        self.final = final
        """True when reconnecting cannot help (close code 1009)."""


class TicksLost(FeedError):
    """Ticks ``first``..``last`` of a subscription are gone: the server could not replay them
    (its replay limit, or its history, is shorter than the gap).

    It is raised once by the subscription's iterator; iterating again continues after the gap.
    """

    def __init__(self, subscription: object, first: int, last: int, cause: str = "") -> None:
        super().__init__(f"ticks {first}..{last} of {subscription} were lost"
                         f"{': ' + cause if cause else ''}")
        self.subscription = subscription
        self.first = first
        self.last = last


class StreamRestarted(FeedError):
    """The stream of a subscription could not be continued and started over: a symbol's
    market session changed (a new ``t0``, so its seq numbers name other ticks), or a private
    stream is too old for the server to catch up. Seqs after ``last`` of the old stream are
    not delivered; the new stream starts at its current tick.

    It is raised once by the subscription's iterator; iterating again continues with the new
    stream (``subscription.t0`` is then ``new_t0``).
    """

    def __init__(self, subscription: object, old_t0: float, new_t0: float, last: int) -> None:
        super().__init__(f"{subscription} started over: t0 {old_t0!r} became {new_t0!r} after "
                         f"seq {last}")
        self.subscription = subscription
        self.old_t0 = old_t0
        self.new_t0 = new_t0
        self.last = last


class ProtocolViolation(FeedError):
    """The server sent something the wire contract does not allow."""


class FeedClosed(FeedError):
    """The feed was closed by the application; it takes no more operations."""
