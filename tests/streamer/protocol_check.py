"""What a valid server event looks like (PROTOCOL.md section 5), for property and fuzz tests."""

from __future__ import annotations

import math

from streamer.errors import ERROR_CODES


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int(value: object, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _id(value: object) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= 64) or _int(value, -2**63)


def event_problems(event: object) -> list[str]:
    """Why ``event`` is not a valid server event (empty when it is)."""
    if not isinstance(event, dict):
        return [f"not an object: {event!r}"]
    kind = event.get("type")
    checks = {
        "tick": lambda e: _int(e["sub"], 1) and _int(e["seq"]) and _number(e["price"])
        and _number(e["time"]),
        "subscribed": lambda e: _id(e["id"]) and _int(e["sub"], 1) and _int(e["seq"])
        and _number(e["price"]) and _number(e["time"]) and _number(e["t0"])
        and isinstance(e["params"], dict) and (e["symbol"] is None or isinstance(e["symbol"], str)),
        "unsubscribed": lambda e: _id(e["id"]) and _int(e["sub"], 1),
        "subscriptions": lambda e: _id(e["id"]) and isinstance(e["subs"], list),
        "symbols": lambda e: _id(e["id"]) and isinstance(e["symbols"], list),
        "pong": lambda e: _id(e["id"]) and _number(e["time"]),
        "end": lambda e: _int(e["sub"], 1) and _int(e["seq"]),
        "lagging": lambda e: _int(e["sub"], 1) and _int(e["skipped"], 1) and _int(e["seq"]),
        "error": lambda e: _id(e["id"]) and e["code"] in ERROR_CODES
        and isinstance(e["message"], str) and (e["field"] is None or isinstance(e["field"], str)),
    }
    if kind not in checks:
        return [f"unknown event type: {event!r}"]
    try:
        return [] if checks[kind](event) else [f"malformed {kind}: {event!r}"]
    except KeyError as missing:
        return [f"{kind} without {missing}: {event!r}"]
