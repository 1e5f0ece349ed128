"""The HTTP side of the port, sans I/O: a strict parser of request heads, and responses.

Every request on the port starts here: a WebSocket upgrade at ``/ws`` or a plain ``GET``. The
server answers nothing else, so the parser is strict and small. A head that cannot be read
gets a 4xx that says why (never a 500, never a silent close): a wrong method is 405 with
``Allow``; a body, a repeated header that must be single, a bad line, 400; a head too large,
431; another HTTP version, 505. Every response closes its connection.
"""

from __future__ import annotations

import email.utils
import http
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

import orjson

#: The largest request head read (request line and headers), and the most header lines.
MAX_HEAD_BYTES = 16 * 1024
MAX_HEADERS = 100
#: The methods the port answers.
METHODS = ("GET", "HEAD")
#: Headers that must not be repeated: a second one is ambiguous (which Origin? which token?).
SINGLE = frozenset({"host", "origin", "authorization", "content-length", "upgrade",
                    "sec-websocket-key", "sec-websocket-version", "cookie", "last-event-id"})

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TARGET = re.compile(rb"/[\x21-\x7e]*")
_VERSION = re.compile(rb"HTTP/1\.[01]")
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


class HttpError(Exception):
    """A request the server refuses before routing it: its status and why."""

    def __init__(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = tuple(headers)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    target: str
    """The request target as sent: the path and, after ``?``, the query."""
    version: str
    headers: tuple[tuple[str, str], ...]
    """``(name, value)`` in order; names as sent."""
    head: bytes
    """The raw head, for a WebSocket handshake to read again."""

    @property
    def path(self) -> str:
        return unquote(self.target.partition("?")[0])

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """The value of a header (the last one of several, where repeats are allowed)."""
        found = None
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                found = value
        return found

    @property
    def wants_upgrade(self) -> bool:
        return (self.header("Upgrade") or "").lower() == "websocket"


def head_end(buffer: bytes | bytearray) -> int:
    """Where the head in ``buffer`` ends (after its blank line), or -1 while incomplete.
    Raises :class:`HttpError` (431) once more than :data:`MAX_HEAD_BYTES` came without one."""
    end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
    if end >= 0:
        return end + 4
    if len(buffer) > MAX_HEAD_BYTES:
        raise HttpError(431, f"the request head is over {MAX_HEAD_BYTES} bytes")
    return -1


def parse_head(head: bytes) -> HttpRequest:
    """Read a complete head (up to and with its blank line); raise :class:`HttpError`."""
    lines = head[:-4].split(b"\r\n")
    try:
        method, target, version = lines[0].split(b" ")
    except ValueError:
        raise HttpError(400, "the request line must be METHOD TARGET HTTP/1.1") from None
    if not _TOKEN.fullmatch(method):
        raise HttpError(400, "the request line must be METHOD TARGET HTTP/1.1")
    if not _VERSION.fullmatch(version):
        if version.startswith(b"HTTP/"):
            raise HttpError(505, "this server speaks HTTP/1.1 (and 1.0)")
        raise HttpError(400, "the request line must be METHOD TARGET HTTP/1.1")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header lines")
    headers = []
    seen: set[str] = set()
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
            raise HttpError(400, "a header line must be NAME: VALUE")
        key = name.decode("ascii")
        lowered = key.lower()
        if lowered in SINGLE and lowered in seen:
            raise HttpError(400, f"the {key} header is given more than once")
        seen.add(lowered)
        headers.append((key, value.strip(b" \t").decode("latin-1")))
    if method.decode("ascii") not in METHODS:
        raise HttpError(405, f"method {method.decode('ascii')} is not answered here; use GET",
                        [("Allow", ", ".join(METHODS))])
    if not _TARGET.fullmatch(target):
        raise HttpError(400, "the request target must be a path starting with /, in visible "
                        "ASCII characters (others percent-encoded)")
    request = HttpRequest(method.decode("ascii"), target.decode("ascii"),
                          version.decode("ascii"), tuple(headers), head)
    length = request.header("Content-Length")
    if request.header("Transfer-Encoding") is not None or (length not in (None, "0")):
        raise HttpError(400, f"a {request.method} request carries no body")
    return request


def response(status: int, body: bytes, content_type: str = "application/json", *,
             head_only: bool = False, cache: str = "no-store",
             headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A whole response, head and body, closing its connection."""
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
             f"Date: {email.utils.formatdate(usegmt=True)}",
             "Connection: close",
             *([] if status == 204 else [f"Content-Length: {len(body)}",  # 204 has no body
                                         f"Content-Type: {content_type}"]),
             f"Cache-Control: {cache}",
             "X-Content-Type-Options: nosniff",
             *(f"{name}: {value}" for name, value in headers)]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


def error_response(status: int, message: str, *, head_only: bool = False,
                   headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """``{"error": message}`` with ``status``."""
    return response(status, orjson.dumps({"error": message}), head_only=head_only,
                    headers=headers)
