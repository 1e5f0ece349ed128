"""What a valid server event looks like, for property and fuzz tests: the schema of
``wire.events.read`` (every field there, of its type), plus the values the protocol promises
(numbers finite, ``sub`` from 1, ``seq`` from 0, a known error code, an echoable id)."""

from __future__ import annotations

import math

from wire import events
from wire.errors import EventError
from wire.names import ID_MAX_LENGTH, ID_MIN, ErrorCode


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _id(value: object) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= ID_MAX_LENGTH) or (
        isinstance(value, int) and value >= ID_MIN)


def event_problems(event: object) -> list[str]:
    """Why ``event`` is not a valid server event (empty when it is)."""
    try:
        typed = events.read(event)
    except EventError as exc:
        return [str(exc)]
    ok = True
    if isinstance(typed, events.Unknown):
        return [f"unknown event type: {event!r}"]
    if isinstance(typed, events.Tick):
        ok = typed.sub >= 1 and typed.seq >= 0 and _finite(typed.price, typed.time)
    elif isinstance(typed, events.Subscribed):
        ok = (_id(typed.id) and typed.sub >= 1 and typed.seq >= 0
              and _finite(typed.price, typed.time, typed.t0))
    elif isinstance(typed, (events.Unsubscribed, events.End)):
        ok = typed.sub >= 1 and (isinstance(typed, events.Unsubscribed) or typed.seq >= 0)
    elif isinstance(typed, events.Lagging):
        ok = typed.sub >= 1 and typed.skipped >= 1 and typed.seq >= 0
    elif isinstance(typed, events.Error):
        ok = _id(typed.id) and typed.code in set(ErrorCode)
    elif isinstance(typed, events.Pong):
        ok = _id(typed.id) and _finite(typed.time)
    return [] if ok else [f"malformed {typed.TYPE}: {event!r}"]
