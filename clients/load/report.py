"""What a worker process sends to the coordinator: progress now and then, one result at the
end. Plain picklable dataclasses; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Progress:
    """A worker's state at ``time``: cumulative counters and the delays of the last window."""

    worker: int
    time: float
    counters: dict[str, int]
    open: int
    """Connections open now."""
    window: bytes
    """Encoded histogram of the tick delays recorded since the previous progress (µs)."""
    cpu: float
    """CPU time of the worker since the previous progress, as a fraction of one core."""


@dataclass(frozen=True, slots=True)
class WorkerResult:
    """Everything one worker measured, at the end of its run."""

    worker: int
    pid: int
    connections: int
    """Connections this worker was to open."""
    counters: dict[str, int]
    """Totals over the whole run (see :data:`clients.load.connection.COUNTERS`, plus
    ``ws_sessions``, ``ws_connect_failed``, ``ws_closes``, ``ws_closes_unexpected``,
    ``ticks_early``)."""
    hold_start: dict[str, int]
    """The counters when the hold began."""
    hold_end: dict[str, int]
    """The counters when the hold ended."""
    hold: tuple[float, float]
    """Epoch seconds when the hold began and ended (early, when the run was stopped)."""
    errors: dict[str, int]
    """``error`` events by code."""
    closes: dict[int, int]
    """Closed connections by close code."""
    connect_failures: dict[str, int]
    """Failed connects by reason."""
    tick_delay: bytes
    ws_connecting: bytes
    subscribe_duration: bytes
    """Encoded histograms (µs)."""
    open_at_hold_end: int
    open_min: int
    """Fewest connections open during the hold."""
    open_max: int
    """Most connections open at once."""
    cpu_seconds: float
    """CPU time (user + system) from the start to the last close."""
    wall_seconds: float
    cpu_hold: float
    """CPU time over the hold, as a fraction of one core."""
    cpu_peak: float
    """The busiest progress window, as a fraction of one core."""
    loop_lag_max: float
    """The latest the worker's event loop ran a timer (s): how far behind it fell."""
    notes: list[str] = field(default_factory=list)
