"""What a load run does: :class:`LoadSpec` (one frozen object with visible defaults and units)
and the pluggable subscribe step (:class:`Subscriber`, :class:`ProtocolSubscriber`).

Only the CLI reads flags; the library and the workers receive a :class:`LoadSpec`. Everything
here is picklable, since each worker process gets a copy.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

from clients.load.errors import SpecError
from clients.load.thresholds import Threshold
from wire.errors import FieldError
from wire.values import check_integer, check_number

DEFAULT_CONNECTIONS = 100
DEFAULT_SUBSCRIPTIONS = 1
DEFAULT_KIND: Kind = "private"
DEFAULT_SYMBOLS = ("ACME",)
DEFAULT_INTERVAL = 0.1
DEFAULT_SEED = 1
DEFAULT_PRIVATE_SHARE = 0.5
DEFAULT_DURATION = 10.0
DEFAULT_RAMP_RATE = 100.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_CLOSE_TIMEOUT = 5.0
DEFAULT_SUBSCRIBE_BURST = 900
DEFAULT_SUBSCRIBE_RATE = 90.0
DEFAULT_PROGRESS_INTERVAL = 0.5
DEFAULT_START_TIMEOUT = 60.0
#: A worker whose CPU time over the run exceeds this fraction of one core was saturated: the
#: tester, not the server, may have limited the measurement.
CPU_SATURATION = 0.9

Kind = Literal["shared", "private", "mix"]
KINDS: tuple[Kind, ...] = ("shared", "private", "mix")

#: What a subscriber returns for one operation: a JSON object (sent encoded with orjson), or
#: the text frame's bytes as they are.
Operation = Mapping[str, Any] | bytes


@runtime_checkable
class Subscriber(Protocol):
    """The subscribe step: which operations a connection sends, and how it stops a stream.

    A peer server that speaks a subset of the protocol (subscribe by symbol or by private
    parameters; ticks as JSON arrays of ``{"type": "tick", "sub", "seq", "price", "time"}``)
    works with :class:`ProtocolSubscriber`; one that needs other messages gets its own class
    (module-level and picklable: every worker process receives a copy).

    An operation that carries an ``"id"`` is matched with its ``subscribed`` (or ``error``)
    reply to measure ``subscribe_duration``.
    """

    def subscribe(self, connection: int, index: int, count: int) -> Operation:
        """Subscription ``index`` (0-based) of the ``count`` that connection ``connection``
        (0-based, global over every worker) makes."""
        ...

    def unsubscribe(self, sub: int) -> Operation | None:
        """The operation that ends subscription ``sub`` (the server's number, from the ack or
        the ticks) before the connection closes, or ``None`` when the peer has none."""
        ...


@dataclass(frozen=True, slots=True)
class ProtocolSubscriber:
    """Subscribes as docs/protocol.md says: ``{"op": "subscribe", "id", "symbol"}`` for a shared
    stream, ``{"op": "subscribe", "id", "interval", "seed", ...}`` for a private one.

    * ``shared``: subscription ``k`` of connection ``i`` takes ``symbols[(i + k) % len]``;
    * ``private``: a private stream of ``interval`` seconds and seed ``seed + i * M + k``
      (``M`` subscriptions per connection), so every subscription is its own stream, plus
      ``params`` (``sigma``, ``startPrice``, ...);
    * ``mix``: the first ``round(M * private_share)`` subscriptions of each connection are
      private, the others shared.
    """

    kind: Kind = DEFAULT_KIND
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    """Market symbols for shared subscriptions."""
    interval: float = DEFAULT_INTERVAL
    """Seconds between two ticks of a private stream."""
    seed: int = DEFAULT_SEED
    """Seed of the first private stream; the others count up from it."""
    private_share: float = DEFAULT_PRIVATE_SHARE
    """With ``mix``: the fraction of each connection's subscriptions that are private."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """More fields of a private subscribe (``{"sigma": 0.5, "periods": 1000}``)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SpecError("kind", f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind != "private" and not self.symbols:
            raise SpecError("symbols", f"a {self.kind} load needs at least one symbol")
        _check_number("interval", self.interval, 0.0, inclusive=False)
        if not 0.0 <= self.private_share <= 1.0:
            raise SpecError("private_share", f"private_share must be between 0 and 1, "
                                             f"got {self.private_share!r}")
        forbidden = {"op", "id", "symbol"} & set(self.params)
        if forbidden:
            raise SpecError("params", f"params may not set {sorted(forbidden)[0]!r}")

    def is_private(self, index: int, count: int) -> bool:
        """Whether subscription ``index`` of ``count`` on a connection is a private stream."""
        if self.kind == "mix":
            return index < round(count * self.private_share)
        return self.kind == "private"

    def subscribe(self, connection: int, index: int, count: int) -> Operation:
        if self.is_private(index, count):
            seed = self.seed + connection * count + index
            return {"op": "subscribe", "id": index + 1, **self.params,
                    "interval": self.interval, "seed": seed}
        symbol = self.symbols[(connection + index) % len(self.symbols)]
        return {"op": "subscribe", "id": index + 1, "symbol": symbol}

    def unsubscribe(self, sub: int) -> Operation | None:
        return {"op": "unsubscribe", "id": f"u{sub}", "sub": sub}


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One load run. Times are in seconds, rates per second.

    The run: ``workers`` processes open ``connections`` connections between them, connection
    ``i`` at ``start + i / ramp_rate``; each sends ``subscriptions`` subscribe operations from
    ``subscriber`` (paced by ``subscribe_burst`` and ``subscribe_rate``). Once the last one
    opened and sent its subscribes, all are held for ``duration`` (the *hold*, over which
    rates are computed); then each unsubscribes (``unsubscribe_at_end``) and closes with 1000.
    """

    url: str
    """WebSocket URL of the server (``ws://`` or ``wss://``), path included (``/ws``)."""
    connections: int = DEFAULT_CONNECTIONS
    subscriptions: int = DEFAULT_SUBSCRIPTIONS
    """Subscriptions per connection."""
    duration: float = DEFAULT_DURATION
    """Seconds the full set of connections is held after the ramp (s)."""
    ramp_rate: float = DEFAULT_RAMP_RATE
    """New connections per second over all workers; 0 opens them all at once."""
    workers: int | None = None
    """Worker processes; ``None`` is one per core. Never more than ``connections``."""
    subscriber: Subscriber = field(default_factory=ProtocolSubscriber)
    """The subscribe step."""
    unsubscribe_at_end: bool = True
    """Unsubscribe every stream and wait for the replies before closing, so that nothing is in
    flight when the close handshake starts (and counts match the server's exactly). Turn it off
    for a peer that has no ``unsubscribe``."""
    token: str | None = None
    """Sent as ``Authorization: Bearer <token>`` in the upgrade request."""
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    """Seconds for TCP connect plus the WebSocket handshake; longer is a failed connect (s)."""
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    """Seconds to wait for unsubscribe replies, then again for the server's close frame (s)."""
    subscribe_burst: int = DEFAULT_SUBSCRIBE_BURST
    """Operations a connection sends at once before ``subscribe_rate`` applies (the server's
    default burst is 1,000)."""
    subscribe_rate: float = DEFAULT_SUBSCRIBE_RATE
    """Operations per second per connection after the burst (the server allows 100)."""
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL
    """Seconds between two progress reports of each worker (s)."""
    start_timeout: float = DEFAULT_START_TIMEOUT
    """Seconds the workers may take to start, and to report after the run (s)."""
    thresholds: tuple[Threshold, ...] = ()
    """Pass/fail criteria evaluated on the summary."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise SpecError("url", f"url must be ws://HOST:PORT/PATH or wss://..., "
                                   f"got {self.url!r}")
        _check_int("connections", self.connections, 1)
        _check_int("subscriptions", self.subscriptions, 0)
        _check_int("subscribe_burst", self.subscribe_burst, 1)
        if self.workers is not None:
            _check_int("workers", self.workers, 1)
        for name in ("duration", "ramp_rate"):
            _check_number(name, getattr(self, name), 0.0, inclusive=True)
        for name in ("connect_timeout", "close_timeout", "subscribe_rate", "progress_interval",
                     "start_timeout"):
            _check_number(name, getattr(self, name), 0.0, inclusive=False)
        if not isinstance(self.subscriber, Subscriber):
            raise SpecError("subscriber", f"subscriber must have subscribe() and unsubscribe(), "
                                          f"got {type(self.subscriber).__name__}")

    @property
    def effective_workers(self) -> int:
        """Worker processes this run starts."""
        return max(1, min(self.workers or os.cpu_count() or 1, self.connections))

    @property
    def ramp_seconds(self) -> float:
        """Seconds from the first connection's start to the last one's."""
        return (self.connections - 1) / self.ramp_rate if self.ramp_rate > 0 else 0.0

    def connection_offset(self, index: int) -> float:
        """Seconds after the start at which connection ``index`` opens."""
        return index / self.ramp_rate if self.ramp_rate > 0 else 0.0

    def share(self, worker: int) -> Sequence[int]:
        """The global indices of the connections worker ``worker`` opens (round robin, so
        every worker ramps at the same pace)."""
        return range(worker, self.connections, self.effective_workers)

    def describe(self) -> dict[str, Any]:
        """The spec as JSON-ready data, for the summary."""
        subscriber = self.subscriber
        if isinstance(subscriber, ProtocolSubscriber):
            sub: dict[str, Any] = {"kind": subscriber.kind, "symbols": list(subscriber.symbols),
                                   "interval": subscriber.interval, "seed": subscriber.seed,
                                   "private_share": subscriber.private_share,
                                   "params": dict(subscriber.params)}
        else:
            sub = {"class": f"{type(subscriber).__module__}.{type(subscriber).__qualname__}"}
        return {"url": _redact(self.url), "connections": self.connections,
                "subscriptions": self.subscriptions, "duration": self.duration,
                "ramp_rate": self.ramp_rate, "workers": self.effective_workers,
                "subscriber": sub, "unsubscribe_at_end": self.unsubscribe_at_end,
                "connect_timeout": self.connect_timeout, "close_timeout": self.close_timeout,
                "subscribe_burst": self.subscribe_burst, "subscribe_rate": self.subscribe_rate,
                "thresholds": [str(t) for t in self.thresholds]}


def _check_int(name: str, value: object, low: int) -> None:
    try:
        check_integer(name, value, low=low)
    except FieldError as exc:
        raise SpecError(name, exc.message) from None


def _check_number(name: str, value: object, low: float, *, inclusive: bool) -> None:
    try:
        check_number(name, value, low=low, low_open=not inclusive)
    except FieldError as exc:
        raise SpecError(name, exc.message) from None


def _redact(url: str) -> str:
    """The URL without a ``token=`` value, for reports."""
    return re.sub(r"(token=)[^&]*", r"\1***", url)
