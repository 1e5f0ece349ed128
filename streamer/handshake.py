"""The WebSocket opening handshake's commonest case (RFC 6455, 4.2), answered from the head
:mod:`streamer.http` has already read.

A well-formed upgrade that negotiates nothing is answered here, in a few microseconds, rather
than by parsing the head a second time with websockets (about 80 µs): after a restart every
client reconnects at once, and the handshake is most of what each one costs. Anything else
(a header missing or wrong, which gets websockets' own refusal; an extension to negotiate)
is left to websockets' :class:`~websockets.server.ServerProtocol`, which this mirrors: the
same checks, the same ``Sec-WebSocket-Accept`` (:func:`websockets.utils.accept_key`).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import time

from websockets.utils import accept_key

from streamer.http import HttpRequest

_date = [0, ""]  # the second and its Date header


def _http_date() -> str:
    """The ``Date`` header's value, formatted once a second."""
    now = int(time.time())
    if _date[0] != now:
        _date[:] = [now, email.utils.formatdate(now, usegmt=True)]
    return str(_date[1])


def accept_plain(request: HttpRequest, negotiate: bool = False) -> bytes | None:
    """The ``101`` response to ``request`` when it is a valid upgrade with nothing to
    negotiate; ``None`` otherwise, for websockets to answer. With ``negotiate`` (an
    extension is offered by the server), a request that offers extensions is websockets'."""
    if request.method != "GET" or request.version != "HTTP/1.1":
        return None
    upgrade = key = version = None
    connection_ok = False
    for name, value in request.headers:
        lowered = name.lower()
        if lowered == "connection":
            connection_ok = connection_ok or any(
                token.strip().lower() == "upgrade" for token in value.split(","))
        elif lowered == "upgrade":
            upgrade = value  # a repeated Upgrade, Key or Version is refused by streamer.http
        elif lowered == "sec-websocket-key":
            key = value
        elif lowered == "sec-websocket-version":
            version = value
        elif lowered == "sec-websocket-extensions" and negotiate:
            return None
    if not connection_ok or upgrade is None or upgrade.strip().lower() != "websocket":
        return None
    if key is None or version != "13":
        return None
    try:
        if len(base64.b64decode(key.encode(), validate=True)) != 16:
            return None
    except (binascii.Error, UnicodeEncodeError):
        return None
    return (f"HTTP/1.1 101 Switching Protocols\r\nDate: {_http_date()}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n").encode()
