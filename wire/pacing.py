"""The operation rate limit as a token bucket, shared by the side that enforces it (the
server's session) and the sides that keep under it (the Python client, the load tester).

Time is data: every method takes ``now`` (seconds on any monotonic clock), so the bucket is
tested by arithmetic and each side uses the clock it has.
"""

from __future__ import annotations


class TokenBucket:
    """``burst`` operations at once, then ``rate`` a second: each operation takes a token,
    and tokens come back at ``rate`` a second up to ``burst``."""

    __slots__ = ("burst", "rate", "tokens", "_stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        if not burst >= 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        """Tokens available at the last call (a fraction is a token on its way)."""
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self.tokens = min(self.burst, self.tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are that many; False (nothing spent) if not."""
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0 when one is)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate
