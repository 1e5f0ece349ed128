"""The server-sent events door, ``GET /sse``: what is particular to it, with no I/O.

A request names one stream in its query, with the fields of a WebSocket ``subscribe`` (a
symbol, or a private stream's parameters); :func:`subscribe_text` turns it into that very
operation, so that both doors share one parser, one set of limits and one wording of every
refusal. The stream that follows is the session's events, one SSE event each
(:func:`events_text`): ``event:`` the event's type, ``id:`` its ``seq`` (ticks and ends),
``data:`` the event's JSON. A browser's ``EventSource`` sends the last ``id`` it saw back as
``Last-Event-ID`` when it reconnects, which becomes ``fromSeq`` = that seq + 1: the stream
resumes where it stopped, by the same rules as a WebSocket resume.

The ack (``subscribed``) has no ``id``, though it has a ``seq``: older ticks may follow it
(``history``, a resume's replay), and a reconnect after the ack alone must not skip them. A
private stream resumes only if the URL names its ``seed`` and ``t0`` (as the ack reports
them); otherwise a reconnect starts a new stream, whose ack says so.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl

import orjson

from streamer import http
from wire import events
from wire.errors import CommandError
from wire.names import INTEGER_FIELDS, NUMBER_FIELDS, SUBSCRIBE_FIELDS, ErrorCode, EventType

#: Query parameters that are a subscribe's fields (``op`` and ``id`` have no use here).
FIELDS = tuple(name for name in SUBSCRIBE_FIELDS if name not in ("op", "id"))
#: Query parameters that belong to the door, not to the stream.
DOOR_PARAMETERS = ("token",)
#: Events whose ``seq`` is a position in the stream to resume after.
_RESUMABLE = frozenset({EventType.TICK.value, EventType.END.value})
#: How long a browser waits before it reconnects (ms), sent as the stream's first line.
RETRY_MS = 1_000
#: An SSE comment: a keepalive while no event is due (proxies close quiet connections).
KEEPALIVE = b":\n\n"
_MAX_PARAMETERS = 32
_MAX_SEQ = 2**63 - 1  # a seq the server could ever reach, with room


def subscribe_text(query: str, last_event_id: str | None = None) -> bytes:
    """The WebSocket ``subscribe`` that the query of an ``/sse`` request asks for, as JSON
    text; raise :class:`CommandError` naming the parameter that is wrong."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=_MAX_PARAMETERS)
    except ValueError:
        raise CommandError(ErrorCode.BAD_REQUEST, f"more than {_MAX_PARAMETERS} query "
                           "parameters") from None
    fields: dict[str, object] = {"op": "subscribe"}
    for name, value in pairs:
        if name in DOOR_PARAMETERS:
            continue
        if name not in FIELDS:
            raise CommandError(ErrorCode.BAD_REQUEST, f"unknown query parameter {name!r} for "
                               f"/sse; expected {', '.join(FIELDS)}", name)
        if name in fields:
            raise CommandError.invalid(name, f"{name} is given twice")
        fields[name] = _value(name, value)
    seq = None if not last_event_id else last_seq(last_event_id)
    private = "symbol" not in fields
    if seq is not None and private and ("seed" not in fields or "t0" not in fields):
        # a stream the URL does not name (the server picked its seed or t0) cannot be found
        # again: it starts afresh, and its new ack says so
        seq = None
    if seq is not None:  # the browser resumes after the last event it saw
        fields.pop("history", None)  # resuming replaces the history asked for at first
        fields.pop("fromTime", None)  # and the replay from a time
        fields["fromSeq"] = seq + 1  # and any fromSeq of the URL: it is the newer
    return json.dumps(fields).encode()  # the standard library's: integers of any size


def last_seq(header: str) -> int:
    """The seq a ``Last-Event-ID`` header names; :class:`CommandError` if it names none."""
    if not (header.isascii() and header.isdigit() and len(header) <= len(str(_MAX_SEQ))
            and int(header) <= _MAX_SEQ):
        raise CommandError.invalid("Last-Event-ID", f"Last-Event-ID must be the seq of an "
                                   f"event of this stream, got {header[:40]!r}")
    return int(header)


def _value(name: str, text: str) -> object:
    """A query value as the JSON value the field takes: numbers for numeric fields, read as
    the WebSocket door reads them (the standard library's JSON: integers of any size stay
    exact, for the range check to name); a value that is not a number is passed on as text,
    for the parser to refuse by name."""
    if name in NUMBER_FIELDS or name in INTEGER_FIELDS:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return text
        return value if isinstance(value, int | float) and not isinstance(value, bool) else text
    return text


def events_text(parts: Sequence[str]) -> bytes:
    """Encoded events (their JSON texts) as SSE events."""
    out = []
    for text in parts:
        kind = events.type_of(text)
        if kind in _RESUMABLE:
            out.append(f"event: {kind}\nid: {_seq(text)}\ndata: {text}\n\n")
        else:
            out.append(f"event: {kind}\ndata: {text}\n\n")
    return "".join(out).encode()


def _seq(text: str) -> str:
    """The ``seq`` of an event's text (a top-level field of every event that has one)."""
    start = text.index('"seq":') + 6
    end = start
    while text[end].isdigit():
        end += 1
    return text[start:end]


def head(headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """The response head of a stream, and its first line (how soon to reconnect). The body
    ends when the connection does."""
    lines = ["HTTP/1.1 200 OK",
             f"Date: {email.utils.formatdate(usegmt=True)}",
             "Connection: close",
             "Content-Type: text/event-stream; charset=utf-8",
             "Cache-Control: no-store",
             "X-Accel-Buffering: no",  # a proxy that would buffer the stream passes it on
             "X-Content-Type-Options: nosniff",
             *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + f"\r\n\r\nretry: {RETRY_MS}\n\n").encode("latin-1")


def closing(reason: str) -> bytes:
    """A comment saying why the server ends the stream (``curl -N`` shows it; a browser
    ignores it and reconnects)."""
    return f": closed: {reason}\n\n".encode(errors="replace")


def refusal_status(code: object, field: object) -> int:
    """The status of a refused ``/sse`` request, from the error its subscribe got: 503 when
    the server is at a limit of its own, else 400 (429 for the rate limit)."""
    if code == ErrorCode.RATE_LIMITED.value:
        return 429
    if code == ErrorCode.LIMIT_EXCEEDED.value and field is None:
        return 503
    return 400


def refusal(status: int, message: str, code: str, field: str | None,
            headers: list[tuple[str, str]]) -> bytes:
    """The whole response refusing an ``/sse`` request: ``{"error", "code", "field"}``, with
    ``Retry-After`` when the server, not the request, is the cause."""
    retry = [("Retry-After", "1")] if status in (429, 503) else []
    return http.response(status, orjson.dumps({"error": message, "code": code, "field": field}),
                         headers=headers + retry)
