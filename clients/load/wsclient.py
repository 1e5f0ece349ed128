"""A minimal, fast WebSocket client: an :class:`asyncio.Protocol` with no coroutine, queue or
task per message. The benchmarks use it too (``bench/rawws.py``).

It does what a receiving load client needs, and no more: the RFC 6455 opening handshake (with
``Sec-WebSocket-Accept`` checked), unmasked server frames and fragmented messages, masked client
text frames, pong, and the closing handshake in both directions. Subclasses receive each
message through :meth:`WebSocketClient.on_message` with the time its bytes arrived.
Reads use :class:`asyncio.BufferedProtocol` and one buffer per process: a plain ``Protocol``
allocates a fresh 256 KiB ``bytes`` for every read, which cost more than parsing the frames.

The pure helpers (:func:`handshake_request`, :func:`accept_key`) do no I/O and are tested
without a network; frames are built by :mod:`wire.frames`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import ssl
import struct
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from wire.frames import (OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
                         client_frame)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: The largest message (all fragments) accepted; a larger one closes with 1009 (bytes).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: The largest response head of the opening handshake (bytes).
MAX_HANDSHAKE_BYTES = 64 * 1024
#: Size of the read buffer that every connection of a process shares (bytes).
READ_BUFFER_BYTES = 256 * 1024
_READ_BUFFER = bytearray(READ_BUFFER_BYTES)
_READ_VIEW = memoryview(_READ_BUFFER)
#: An incomplete frame larger than this waits in a buffer of its own (bytes).
SMALL_FRAME_BYTES = 16 * 1024
#: Free space a read is offered at least (bytes).
MIN_READ_BYTES = 64 * 1024

#: Close code recorded when the connection ended without a close frame (RFC 6455 7.1.5).
CLOSE_ABNORMAL = 1006
#: Close code recorded when a close frame carried no code.
CLOSE_NO_STATUS = 1005


C = TypeVar("C", bound="WebSocketClient")


class HandshakeError(ConnectionError):
    """The server did not upgrade the connection; ``status`` is its HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``Sec-WebSocket-Key: key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def handshake_request(url: str, key: str, token: str | None = None) -> bytes:
    """The HTTP/1.1 upgrade request for ``url``."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if parts.scheme == "wss" else 80
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port and parts.port != default_port:
        host = f"{host}:{parts.port}"
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             "User-Agent: streamer-load"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _frame_size(buf: bytes | bytearray, pos: int, size: int) -> int:
    """Header plus payload length of the frame at ``buf[pos:]``; 0 while its header is not
    all there."""
    if size - pos < 2:
        return 0
    length = buf[pos + 1] & 0x7F
    if length == 126:
        return 4 + ((buf[pos + 2] << 8) | buf[pos + 3]) if size - pos >= 4 else 0
    if length == 127:
        return 10 + struct.unpack_from("!Q", buf, pos + 2)[0] if size - pos >= 10 else 0
    return 2 + length


class WebSocketClient(asyncio.BufferedProtocol):
    """One client connection. Open it with :func:`open_connection`.

    ``opened`` resolves when the handshake is done; ``closed`` when the TCP connection is gone,
    after which :attr:`close_code` says how it ended (1006 without a close frame).

    Reads go into one buffer shared by every connection of the process (the event loop runs
    one read at a time): no allocation per read, and an idle connection holds only the bytes
    of a frame not yet complete.
    """

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None
        self.close_reason = ""
        self.closing = False
        """True once this side sent a close frame (its own or the echo of the server's)."""
        self.initiated_close = False
        """True when this side started the closing handshake."""
        self.frame_bytes = 0
        """Bytes of the data frames received, WebSocket headers included."""
        self._key = ""
        self._head = b""
        self._pending = b""  # bytes of an incomplete small frame, between two reads
        self._big: bytearray | None = None  # the buffer of an incomplete large frame
        self._big_len = 0
        self._read_into = _READ_BUFFER
        self._fragments: list[bytes] = []
        self._fragment_size = 0

    # --- hooks --------------------------------------------------------------------------------

    def on_message(self, payload: bytes | memoryview, now: float) -> None:
        """A text or binary message, whole; ``now`` is when its last bytes arrived. The payload
        may be a view of a buffer that the next read reuses: parse it, do not keep it."""

    def on_closed(self) -> None:
        """The connection is gone; :attr:`close_code` says how."""

    # --- asyncio.BufferedProtocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        big = self._big
        if big is not None:  # a large frame in the making, in a buffer of its own
            if len(big) - self._big_len < MIN_READ_BYTES:
                grown = bytearray(self._big_len + READ_BUFFER_BYTES)
                grown[:self._big_len] = big[:self._big_len]
                self._big = big = grown
            self._read_into = big
            return memoryview(big)[self._big_len:]
        pending = self._pending
        n = len(pending)
        self._read_into = _READ_BUFFER
        if n == 0:
            return _READ_VIEW
        _READ_BUFFER[:n] = pending  # same length: the shared buffer never resizes
        return _READ_VIEW[n:]

    def buffer_updated(self, nbytes: int) -> None:
        now = time.time()
        buf = self._read_into
        if buf is self._big:
            size = self._big_len + nbytes
        else:
            size = len(self._pending) + nbytes
            self._pending = b""
        if not self.opened.done():
            data = self._read_handshake(bytes(buf[:size]))
            if data:
                self._keep(data, self._frames(data, len(data), now), len(data))
            return
        self._keep(buf, self._frames(buf, size, now), size)

    def _keep(self, buf: bytes | bytearray, pos: int, size: int) -> None:
        """Keep the bytes of the incomplete frame at ``buf[pos:size]`` for the next read: in
        ``_pending`` when small; in a buffer that can hold the whole frame when large, so that
        a large frame arriving in small reads is not copied again at every read."""
        rest = size - pos
        need = _frame_size(buf, pos, size) if rest else 0
        if need <= SMALL_FRAME_BYTES:
            self._pending = bytes(buf[pos:size]) if rest else b""
            self._big, self._big_len = None, 0
        elif buf is self._big:
            if pos:
                buf[:rest] = buf[pos:size]  # same object and length: no resize
            self._big_len = rest
        else:
            big = bytearray(max(need, READ_BUFFER_BYTES) + MIN_READ_BYTES)
            big[:rest] = buf[pos:size]
            self._big, self._big_len = big, rest

    def _frames(self, buf: bytes | bytearray, size: int, now: float) -> int:
        """Handle every whole frame in ``buf[:size]``; return where the first incomplete one
        starts."""
        view = memoryview(buf)
        pos = 0
        while size - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            end = pos + head + length
            if end > size:
                if length > MAX_MESSAGE_BYTES:
                    self._fail(1009, "message too big")
                    return size
                break
            opcode = b0 & 0x0F
            if b0 & 0x80 and opcode in (OP_TEXT, OP_BINARY) and not self._fragments:
                self.frame_bytes += end - pos
                self.on_message(view[pos + head:end], now)
            else:
                if opcode <= OP_BINARY:
                    self.frame_bytes += end - pos
                self._control_or_fragment(b0, opcode, bytes(view[pos + head:end]), now)
            pos = end
        return pos

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("connection closed during the "
                                                             "handshake"))
            self.opened.exception()  # retrieved: a failed connect is reported by its caller
        if self.close_code is None:
            self.close_code = CLOSE_ABNORMAL
        if not self.closed.done():
            self.closed.set_result(None)
        self.on_closed()

    # --- sending and closing ------------------------------------------------------------------

    def send_text(self, payload: bytes) -> None:
        if self.transport is not None and not self.closing:
            self.transport.write(client_frame(payload))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the server answers and closes the TCP connection."""
        if self.closing or self.transport is None or self.transport.is_closing():
            return
        self.closing = self.initiated_close = True
        self.transport.write(client_frame(struct.pack("!H", code) + reason.encode(), OP_CLOSE))

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        if self.transport is not None:
            self.transport.abort()

    # --- internals ----------------------------------------------------------------------------

    def _read_handshake(self, data: bytes) -> bytes:
        """Consume the response head; return the bytes after it (frames already sent)."""
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > MAX_HANDSHAKE_BYTES:
                self._refuse(HandshakeError("handshake response too long"))
            self._head = head
            return b""
        self._head = b""
        lines = head[:end].decode("latin-1").split("\r\n")
        status_line = lines[0]
        fields = status_line.split(" ", 2)
        status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
        if status != 101:
            self._refuse(HandshakeError(f"server answered {status_line!r}", status))
            return b""
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("sec-websocket-accept") != accept_key(self._key):
            self._refuse(HandshakeError("server answered a wrong Sec-WebSocket-Accept", status))
            return b""
        self.opened.set_result(None)
        return head[end + 4:]

    def _refuse(self, error: HandshakeError) -> None:
        if not self.opened.done():
            self.opened.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def _control_or_fragment(self, b0: int, opcode: int, payload: bytes, now: float) -> None:
        if opcode == OP_PING:
            if not self.closing and self.transport is not None:
                self.transport.write(client_frame(payload, OP_PONG))
        elif opcode == OP_CLOSE:
            self._close_received(payload)
        elif opcode == OP_PONG:
            pass
        elif opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
            if opcode != OP_CONTINUATION:
                self._fragments = []
                self._fragment_size = 0
            self._fragments.append(payload)
            self._fragment_size += len(payload)
            if self._fragment_size > MAX_MESSAGE_BYTES:
                self._fail(1009, "message too big")
            elif b0 & 0x80:
                message = b"".join(self._fragments)
                self._fragments = []
                self.on_message(message, now)

    def _close_received(self, payload: bytes) -> None:
        if len(payload) >= 2:
            self.close_code = struct.unpack_from("!H", payload)[0]
            self.close_reason = payload[2:].decode(errors="replace")
        else:
            self.close_code = CLOSE_NO_STATUS
        assert self.transport is not None
        if not self.closing:  # the server started it: echo its code, as RFC 6455 5.5.1 asks
            self.closing = True
            self.transport.write(client_frame(payload[:2], OP_CLOSE))
        self.transport.close()

    def _fail(self, code: int, reason: str) -> None:
        self.close(code, reason)
        if self.transport is not None:
            self.transport.close()


async def open_connection(url: str, factory: Callable[[], C], *,
                          token: str | None = None) -> C:
    """Connect to ``url`` and do the opening handshake; return the open client that
    ``factory()`` built (a :class:`WebSocketClient`).

    Raises :class:`OSError` when the TCP connection fails and :class:`HandshakeError` when the
    server does not upgrade. Wrap it in :func:`asyncio.timeout` to bound it.
    """
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"url has no host: {url!r}")
    secure = parts.scheme == "wss"
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        factory, parts.hostname, parts.port or (443 if secure else 80),
        ssl=ssl.create_default_context() if secure else None)
    client._key = base64.b64encode(os.urandom(16)).decode()
    assert client.transport is not None
    try:
        client.transport.write(handshake_request(url, client._key, token))
        await client.opened
    except BaseException:
        client.abort()
        raise
    return client
