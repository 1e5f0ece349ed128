"""How the feed reaches a server: a :class:`Transport` opens :class:`Connection` objects.

The default, :class:`WebSocketTransport`, uses ``websockets.asyncio.client.connect``. Tests
pass their own transport to :class:`~clients.feed.Feed` (as httpx tests pass a mock
transport), so the reconnect and resume logic can be driven without a network.

A connection's ``recv()`` and ``send()`` raise :class:`~clients.errors.ConnectionLost` when
the connection ends; ``connect()`` raises :class:`OSError`, :class:`TimeoutError` or
:class:`~clients.errors.TransportError` when it cannot connect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (ConnectionClosed, InvalidHandshake, InvalidStatus,
                                   InvalidURI)

from clients.errors import ConnectError, ConnectionLost
from clients.feed import config

#: Close codes after which reconnecting cannot help: a message this client sent was too big
#: (1009). A policy close (1008: idle without a subscription, or flooding) is not final: the
#: feed reconnects when it has something to subscribe, at its paced rate.
FINAL_CLOSE_CODES = frozenset({1009})


class Connection(Protocol):
    """One open connection to a server."""

    async def recv(self) -> bytes | str:
        """The next frame from the server (a JSON array of events)."""

    async def send(self, message: bytes) -> None:
        """Send one encoded operation as a text frame."""

    async def close(self) -> None:
        """Close with code 1000; idempotent."""


class Transport(Protocol):
    """Opens connections."""

    async def connect(self, url: str) -> Connection: ...


@dataclass(frozen=True, slots=True)
class WebSocketTransport:
    """Connections over WebSocket, with the library's limits as named settings."""

    open_timeout: float | None = config.DEFAULT_OPEN_TIMEOUT
    close_timeout: float | None = config.DEFAULT_CLOSE_TIMEOUT
    ping_interval: float | None = config.DEFAULT_PING_INTERVAL
    ping_timeout: float | None = config.DEFAULT_PING_TIMEOUT
    max_frame_bytes: int | None = config.DEFAULT_MAX_FRAME_BYTES
    max_frames: int = config.DEFAULT_MAX_FRAMES
    token: str | None = None
    """Sent as ``Authorization: Bearer <token>`` when the server requires one."""

    async def connect(self, url: str) -> WebSocketConnection:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        try:
            ws = await connect(
                url, additional_headers=headers, compression=None,
                open_timeout=self.open_timeout, close_timeout=self.close_timeout,
                ping_interval=self.ping_interval, ping_timeout=self.ping_timeout,
                max_size=self.max_frame_bytes, max_queue=self.max_frames)
        except InvalidURI as exc:
            raise ConnectError(f"invalid url {url!r}: {exc}") from None
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise ConnectError(f"server at {url} refused the connection: HTTP {status}",
                               status=status) from None
        except InvalidHandshake as exc:
            raise ConnectError(f"bad WebSocket handshake with {url}: {exc}") from exc
        return WebSocketConnection(ws)


class WebSocketConnection:
    """A :class:`Connection` over a websockets client connection."""

    __slots__ = ("_ws",)

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def recv(self) -> bytes | str:
        try:
            return await self._ws.recv(decode=False)  # orjson reads bytes: skip a decode
        except ConnectionClosed as exc:
            raise _lost(exc) from None

    async def send(self, message: bytes) -> None:
        try:
            await self._ws.send(message, text=True)
        except ConnectionClosed as exc:
            raise _lost(exc) from None

    async def close(self) -> None:
        await self._ws.close()


def _lost(exc: ConnectionClosed) -> ConnectionLost:
    if exc.rcvd is None:
        return ConnectionLost(None)
    code = exc.rcvd.code
    return ConnectionLost(code, exc.rcvd.reason, final=code in FINAL_CLOSE_CODES)
