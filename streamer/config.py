"""Every setting of the server, in one frozen object with visible defaults and units.

Only the CLI reads flags and environment variables; everything else receives a
:class:`ServerConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

DEFAULT_MIN_INTERVAL = 0.001
DEFAULT_MAX_INTERVAL = 3600.0
DEFAULT_MAX_PERIODS = 1_000_000
DEFAULT_MAX_HISTORY = 10_000
DEFAULT_MAX_REPLAY = 100_000
DEFAULT_MAX_CATCHUP = 10_000_000
DEFAULT_MAX_SUBSCRIPTIONS = 1_000
DEFAULT_MAX_MESSAGE_BYTES = 4_096
DEFAULT_MAX_FRAME_BYTES = 1 << 20
DEFAULT_PING_INTERVAL = 20.0
DEFAULT_PING_TIMEOUT = 20.0
DEFAULT_MAX_CONNECTIONS = 20_000
DEFAULT_MAX_OPS_PER_SECOND = 100.0
DEFAULT_OPS_BURST = 1_000
DEFAULT_FLOOD_LIMIT = 100
CATCHUP_STEPS_PER_OP = 100_000
DEFAULT_MAX_SEND_BUFFER = 512 * 1024
DEFAULT_SLOW_CONSUMER_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Settings of one server process. Times are in seconds, sizes in bytes."""

    host: str = DEFAULT_HOST
    """Address to listen on; loopback by default."""
    port: int = DEFAULT_PORT
    """TCP port; 0 picks a free one."""
    market_file: str | None = None
    """TOML or JSON market definition; ``None`` serves the built-in demo market."""

    min_interval: float = DEFAULT_MIN_INTERVAL
    """Smallest ``interval`` a private stream may ask for (s)."""
    max_interval: float = DEFAULT_MAX_INTERVAL
    """Largest ``interval`` a private stream may ask for (s)."""
    max_periods: int = DEFAULT_MAX_PERIODS
    """Largest ``periods`` of ``/gbm`` and of a finite stream."""
    max_history: int = DEFAULT_MAX_HISTORY
    """Largest ``history`` a subscription may ask for (ticks)."""
    max_replay: int = DEFAULT_MAX_REPLAY
    """Most ticks one ``fromSeq`` may replay; further back is ``limit_exceeded``."""
    max_catchup: int = DEFAULT_MAX_CATCHUP
    """Most steps the server computes to resume a private stream from its ``t0``."""
    max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS
    """Subscriptions one connection may hold at once."""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    """Largest client message answered; a larger one gets ``limit_exceeded`` (bytes)."""
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    """Largest client frame read at all; a larger one closes the connection with 1009 (bytes)."""
    workers: int = 1
    """Server processes sharing the port (``SO_REUSEPORT``). The market is deterministic, so
    every process computes the same ticks; each takes a share of the connections and writes
    their frames, which spreads the per-frame system calls over the cores. ``/healthz`` and
    ``/metrics`` describe the process that answered."""
    worker: int = 0
    """This process's number among ``workers`` (set by the command line)."""
    ping_interval: float | None = DEFAULT_PING_INTERVAL
    """Seconds between WebSocket pings the server sends; ``None`` disables them."""
    ping_timeout: float | None = DEFAULT_PING_TIMEOUT
    """Seconds to wait for a pong before closing the connection."""
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    """Open WebSocket connections at once; one more is refused with HTTP 503."""
    max_ops_per_second: float = DEFAULT_MAX_OPS_PER_SECOND
    """Sustained client operations per second per connection; faster gets ``rate_limited``.
    Resuming a private stream costs one more operation per ``CATCHUP_STEPS_PER_OP`` steps it
    makes the server compute, so CPU per connection stays bounded too."""
    ops_burst: int = DEFAULT_OPS_BURST
    """Operations a connection may send at once before the per-second rate applies (enough
    to subscribe up to ``max_subscriptions`` in one go)."""
    flood_limit: int = DEFAULT_FLOOD_LIMIT
    """``rate_limited`` replies in a row after which the connection is closed with 1008."""
    max_send_buffer: int = DEFAULT_MAX_SEND_BUFFER
    """Bytes waiting to be written to one connection before its ticks are conflated (newest
    tick per subscription kept, ``lagging`` announced); writing resumes below a quarter."""
    socket_send_buffer: int | None = None
    """Kernel send buffer of each connection's socket (bytes); ``None`` keeps the operating
    system's autotuning, which on Linux lets a stalled reader hold megabytes in the kernel
    before ``max_send_buffer`` is reached."""
    slow_consumer_timeout: float = DEFAULT_SLOW_CONSUMER_TIMEOUT
    """Seconds a connection may stay conflated before it is closed with 4008."""
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT
    """Seconds a connection may stay open without ever subscribing (closed with 1008)."""
    token: str | None = None
    """When set, every request but the dashboard's static files needs ``?token=`` or
    ``Authorization: Bearer``; otherwise HTTP 401. Compared in constant time, never logged."""
    allow_origins: tuple[str, ...] = ()
    """When not empty, a WebSocket upgrade whose ``Origin`` is neither listed nor the server's
    own gets HTTP 403. Requests without ``Origin`` (not from a browser) are not affected."""

    def __repr__(self) -> str:  # never print the token
        fields = ", ".join(f"{name}={'***' if name == 'token' and value else value!r}"
                           for name, value in ((f, getattr(self, f)) for f in self.__slots__))
        return f"ServerConfig({fields})"

    def __post_init__(self) -> None:
        if not 0 < self.min_interval <= self.max_interval:
            raise ValueError(f"need 0 < min_interval <= max_interval, got {self.min_interval} "
                             f"and {self.max_interval}")
        for name in ("max_periods", "max_replay", "max_catchup", "max_subscriptions",
                     "max_message_bytes", "max_frame_bytes", "max_connections", "ops_burst",
                     "flood_limit", "max_send_buffer"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_history < 0:
            raise ValueError(f"max_history must be >= 0, got {self.max_history}")
        if self.socket_send_buffer is not None and self.socket_send_buffer < 1024:
            raise ValueError(f"socket_send_buffer must be >= 1024, got {self.socket_send_buffer}")
        if not self.max_ops_per_second > 0:
            raise ValueError(f"max_ops_per_second must be > 0, got {self.max_ops_per_second}")
        if not self.slow_consumer_timeout > 0:
            raise ValueError(f"slow_consumer_timeout must be > 0, got "
                             f"{self.slow_consumer_timeout}")
        if self.token is not None and not self.token:
            raise ValueError("token must not be empty")
        if not 1 <= self.workers <= 64 or not 0 <= self.worker < self.workers:
            raise ValueError(f"workers must be 1..64 and worker 0..workers-1, got "
                             f"{self.workers} and {self.worker}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
