"""The I/O shell: one asyncio websockets server that answers every door of the port.

* ``/ws``: the streaming protocol. Each connection gets a :class:`~streamer.session.Session`;
  frames in go to it, the events it gathers go out as one frame.
* ``GET /gbm``, ``GET /healthz``: plain HTTP answered from ``process_request``.
* The timer: one callback, armed for the hub's next instant, steps every due stream and writes
  one frame per connection. There is no task or sleep per subscription.

Writes use :func:`websockets.asyncio.server.broadcast` with one connection: a synchronous write
of bytes that are already encoded, which keeps frames in the order they were produced.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from simulation import Market, demo_market, load_market
from streamer import __version__, messages
from streamer.batch import gbm_reply
from streamer.config import ServerConfig
from streamer.hub import Hub
from streamer.session import Session

logger = logging.getLogger("streamer.server")

#: Seconds a closing handshake may take before the connection is dropped.
CLOSE_TIMEOUT = 1.0


class StreamServer:
    """A running feed. Use ``async with StreamServer(config) as server:`` or start()/close()."""

    def __init__(self, config: ServerConfig, market: Market | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._market = market
        self._clock = clock
        self.hub: Hub | None = None
        self._server: Server | None = None
        self._connections: dict[Session, ServerConnection] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = float("inf")
        self._started = 0.0
        self.failure: BaseException | None = None
        """Set when the tick producer crashed; the server is then closed."""

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        now = self._clock()
        market = self._market
        if market is None:
            market = (load_market(self.config.market_file, now) if self.config.market_file
                      else demo_market(now))
        ring = max(self.config.max_history, self.config.max_replay)
        self.hub = Hub(market, now, ring=ring)
        self._started = now
        self._server = await serve(
            self._handle, self.config.host, self.config.port,
            process_request=self._process_request,
            compression=None,  # deflate doubles CPU and triples memory per connection
            max_size=self.config.max_frame_bytes,
            ping_interval=self.config.ping_interval,
            ping_timeout=self.config.ping_timeout,
            close_timeout=CLOSE_TIMEOUT,
            logger=logging.getLogger("streamer.websockets"),
        )
        self._arm()
        logger.info("serving %d symbols on ws://%s:%d/ws", len(market.symbols), self.config.host,
                    self.port)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stop accepting, close every connection with 1001 (going away), stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_for = float("-inf")  # never re-armed
        if self._server is not None:
            self._server.close()

    async def wait_closed(self) -> None:
        assert self._server is not None
        await self._server.wait_closed()

    async def __aenter__(self) -> StreamServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    # --- the timer ----------------------------------------------------------------------------

    def _arm(self) -> None:
        assert self.hub is not None
        due = self.hub.next_due()
        if due >= self._armed_for:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = due
        if due != float("inf"):
            self._timer = asyncio.get_running_loop().call_later(
                max(0.0, due - self._clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._armed_for = float("inf")
        assert self.hub is not None
        try:
            for peer in self.hub.advance(self._clock()):
                self._flush(peer)  # type: ignore[arg-type]  # the hub's peers are sessions
            self._arm()
        except Exception as exc:  # a broken producer must stop the feed loudly, not hang it
            logger.critical("tick producer failed; closing the server", exc_info=True)
            self.failure = exc
            self.close()

    def _flush(self, session: Session) -> None:
        parts = session.parts
        if not parts:
            return
        data = messages.frame(parts)
        parts.clear()
        connection = self._connections.get(session)
        if connection is not None:
            broadcast([connection], data, text=True)

    # --- WebSocket ----------------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        assert self.hub is not None
        session = Session(self.hub, self.config)
        self._connections[session] = connection
        opened = self._clock()
        logger.info("open %s", _peer(connection))
        try:
            async for message in connection:
                if isinstance(message, str):
                    session.receive(message, self._clock())
                else:
                    session.receive_binary(message)
                self._flush(session)
                if self._armed_for != float("-inf"):
                    self._arm()
        except ConnectionClosed:
            pass  # an abrupt end is the peer's choice, not a failure; the close line says how
        finally:
            session.close()
            del self._connections[session]
            logger.info("close %s after %.1fs: code %s %s", _peer(connection),
                        self._clock() - opened, connection.close_code,
                        connection.close_reason or "")

    # --- HTTP ---------------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection,
                               request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if path == "/ws":
            return None  # go on with the WebSocket handshake
        if path == "/gbm":
            status, body = await asyncio.to_thread(gbm_reply, query, self.config.max_periods)
            return _json_response(status, body, request)
        if path in ("/", "/index.html") or path.startswith("/static/"):
            found = _static_file("index.html" if path in ("/", "/index.html") else path[8:])
            if found is not None:
                return _file_response(*found, request)
        if path == "/healthz":
            return _json_response(200, orjson.dumps(self.health()), request)
        return _json_response(404, orjson.dumps({"error": f"no such path {path!r}; try /ws, "
                                                 "/gbm or /healthz"}), request)

    def health(self) -> dict[str, Any]:
        """Headline figures, as ``/healthz`` reports them."""
        assert self.hub is not None
        return {"status": "ok", "version": __version__,
                "uptime": round(self._clock() - self._started, 3),
                "connections": len(self._connections),
                "subscriptions": self.hub.subscriptions,
                "streams": self.hub.streams,
                "symbols": len(self.hub.symbols),
                "ticks": self.hub.ticks_stepped}


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"


def _json_response(status: int, body: bytes, request: Request) -> Response:
    return _response(status, body, "application/json", request, cache="no-store")


def _file_response(body: bytes, content_type: str, request: Request) -> Response:
    return _response(200, body, content_type, request, cache="no-cache")


def _response(status: int, body: bytes, content_type: str, request: Request,
              cache: str) -> Response:
    headers = Headers([
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Length", str(len(body))),
        ("Content-Type", content_type),
        ("Cache-Control", cache),
        ("X-Content-Type-Options", "nosniff"),
    ])
    if request.method == "HEAD":
        body = b""
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


#: The dashboard's files: ``/`` is its index.html, ``/static/NAME`` any other file in it.
DASHBOARD = Path(__file__).resolve().parent.parent / "clients" / "dashboard"
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
                  ".png": "image/png", ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8",
                  ".json": "application/json"}


def _static_file(name: str) -> tuple[bytes, str] | None:
    """The bytes and type of a dashboard file, or None (also for any path leaving the folder)."""
    if not name or name.startswith(("/", ".")) or "\\" in name or "/." in name:
        return None
    file = (DASHBOARD / name).resolve()
    content_type = _CONTENT_TYPES.get(file.suffix)
    if content_type is None or not file.is_relative_to(DASHBOARD) or not file.is_file():
        return None
    return file.read_bytes(), content_type
