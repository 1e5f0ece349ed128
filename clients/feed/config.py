"""Settings of the client, with their defaults and units: the reconnect backoff and the bounds
of every buffer. :class:`~clients.feed.Feed` takes them as keyword arguments.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from clients.errors import ArgumentError
from wire.errors import FieldError
from wire.values import check_integer, check_number

#: Ticks a subscription's queue holds (about 150 bytes each); a tick that does not fit pauses
#: the subscription until the application has read half (see docs/client.md). Enough for the
#: protocol's largest ``history`` (10,000) to arrive at once.
DEFAULT_MAX_QUEUE = 10_000
#: The queue of a merge holds ``max_queue`` ticks per subscription, but no more than this:
#: 200,000 ticks (about 30 MB) is two seconds of 1,000 streams at 100 ticks a second.
DEFAULT_MAX_MERGE_QUEUE = 200_000
#: Largest frame accepted from the server (bytes). A resume or a lagging refetch replays up to
#: the server's replay limit (100,000 ticks by default, about 80 bytes each) in one frame.
DEFAULT_MAX_FRAME_BYTES = 16 * 2**20
#: Frames the WebSocket library buffers before it stops reading the socket.
DEFAULT_MAX_FRAMES = 8
#: Seconds to open a connection (TCP + WebSocket handshake).
DEFAULT_OPEN_TIMEOUT = 10.0
#: Seconds the closing handshake may take before the connection is dropped.
DEFAULT_CLOSE_TIMEOUT = 2.0
#: Seconds between keepalive pings, and to wait for their pong; ``None`` disables them.
DEFAULT_PING_INTERVAL = 20.0
DEFAULT_PING_TIMEOUT = 20.0
#: Seconds to wait for the server's reply to an operation (ping, symbols, unsubscribe).
DEFAULT_REPLY_TIMEOUT = 10.0

#: Pace of the operations a feed sends: a burst, then a sustained rate (per second). A little
#: under the server's default limit (100 a second, bursts of 1,000), which refuses the excess
#: with ``rate_limited`` and closes a connection that keeps flooding.
DEFAULT_MAX_OPS_PER_SECOND = 90.0
DEFAULT_OPS_BURST = 900

DEFAULT_BACKOFF_INITIAL = 0.1
DEFAULT_BACKOFF_MAXIMUM = 5.0
DEFAULT_BACKOFF_FACTOR = 2.0
DEFAULT_BACKOFF_JITTER = 0.5


@dataclass(frozen=True, slots=True)
class Backoff:
    """How the feed waits between reconnection attempts: jittered exponential backoff.

    Attempt ``n`` (from 0) waits ``min(maximum, initial * factor**n)`` seconds, of which a
    random share of at most ``jitter`` is taken off, so that many clients of a restarted server
    do not all come back in the same millisecond. The count starts again from 0 once a new
    connection has delivered its first frame.
    """

    initial: float = DEFAULT_BACKOFF_INITIAL
    """Delay before the first reconnection attempt (s)."""
    maximum: float = DEFAULT_BACKOFF_MAXIMUM
    """Longest delay between two attempts (s)."""
    factor: float = DEFAULT_BACKOFF_FACTOR
    """Growth of the delay from one attempt to the next."""
    jitter: float = DEFAULT_BACKOFF_JITTER
    """Largest share of a delay taken off at random, 0..1 (0 = no jitter)."""
    max_attempts: int | None = None
    """Attempts in a row before giving up with :class:`~clients.errors.ConnectError`;
    ``None`` retries for ever."""

    def __post_init__(self) -> None:
        try:
            check_number("initial", self.initial, low=0.0)
            check_number("maximum", self.maximum, low=self.initial)
            check_number("factor", self.factor, low=1.0)
            check_number("jitter", self.jitter, low=0.0, high=1.0)
            if self.max_attempts is not None:
                check_integer("max_attempts", self.max_attempts, low=1)
        except FieldError as exc:
            raise ArgumentError(exc.field, exc.message) from None

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt number ``attempt`` (0 for the first)."""
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        draw = (rng or random).random()
        return base * (1.0 - self.jitter * draw)
