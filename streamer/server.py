"""The I/O shell: one asyncio websockets server that answers every door of the port.

* ``/ws``: the streaming protocol. Each connection gets a :class:`~streamer.session.Session`;
  frames in go to it, the events it gathers go out as one frame.
* ``GET /gbm``, ``GET /healthz``: plain HTTP answered from ``process_request``.
* The timer: one callback, armed for the hub's next instant, steps every due stream and writes
  one frame per connection. There is no task or sleep per subscription.

Writes are synchronous: each frame, encoded once, goes straight to its connection's transport
(see :meth:`StreamServer._write`), which keeps frames in the order they were produced.
"""

from __future__ import annotations

import asyncio
import email.utils
import hmac
import http
import logging
import os
import re
import socket
import time
from collections import Counter
from collections.abc import Callable
from importlib import resources
from pathlib import PurePosixPath
from urllib.parse import parse_qs
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.protocol import OPEN, State
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from simulation import Market, demo_market, load_market
from streamer import __version__
from streamer.batch import gbm_reply
from streamer.config import ServerConfig
from streamer.hub import Hub
from streamer.metrics import IOStats, Metrics
from streamer.session import Session
from wire.names import CloseCode

logger = logging.getLogger("streamer.server")

#: Seconds a closing handshake may take before the connection is dropped.
CLOSE_TIMEOUT = 1.0
#: Seconds between two checks of slow readers, and between two aggregated warnings.
HOUSEKEEPING_INTERVAL = 0.1
WARNING_INTERVAL = 10.0
#: Frames written in one burst between two yields of the CPU (``sched_yield``). A reader on
#: the same machine is woken on the core that writes to it, and would otherwise wait for the
#: whole burst: yielding every 100 frames halved the p99 delay of 1,000 local connections.
YIELD_EVERY = 100


class _RedactSecrets(logging.Filter):
    """Keeps tokens out of the library's debug lines (request lines and headers)."""

    _SECRET = re.compile(r"(token=|Bearer\s+)[^\s&]+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._SECRET.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_library_logger = logging.getLogger("streamer.websockets")
_library_logger.addFilter(_RedactSecrets())


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
        self._housekeeping: asyncio.TimerHandle | None = None
        self._lagging: set[Session] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._warned = 0.0
        self._reported: Counter[str] = Counter()
        self._started = 0.0
        self.io = IOStats()
        self.metrics = Metrics(lambda: self.hub, self.io)
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
            logger=_library_logger,
            reuse_port=self.config.workers > 1 or None,
        )
        self._arm()
        self._warned = now
        self._housekeeping = asyncio.get_running_loop().call_later(HOUSEKEEPING_INTERVAL,
                                                                  self._keep_house)
        logger.info("serving %d symbols on ws://%s:%d/ws", len(market.symbols), self.config.host,
                    self.port)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop accepting, close every connection with 1001 (going away), stop the timer."""
        for timer in (self._timer, self._housekeeping):
            if timer is not None:
                timer.cancel()
        self._timer = self._housekeeping = None
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
            now = self._clock()
            self.metrics.lateness.observe(max(0.0, now - self.hub.next_due()))
            frames: dict[str, bytes] = {}  # this instant's frames, by their one event
            for n, peer in enumerate(self.hub.advance(now), 1):
                self._flush(peer, frames)  # type: ignore[arg-type]  # the hub's peers are sessions
                if not n % YIELD_EVERY:
                    os.sched_yield()  # let local readers woken by this burst run (see above)
            self._arm()
        except Exception as exc:  # a broken producer must stop the feed loudly, not hang it
            logger.critical("tick producer failed; closing the server", exc_info=True)
            self.failure = exc
            self.close()

    def _flush(self, session: Session, frames: dict[str, bytes] | None = None) -> None:
        """Write what the session has to send, then tell it the transport's backlog."""
        connection = self._connections.get(session)
        wire = session.data_to_send(frames)
        if connection is None:
            return
        if wire:
            self._write(connection, wire)
            self.io.frames += 1
            self.io.bytes += len(wire)
        self._backlog(session, connection)

    def _backlog(self, session: Session, connection: ServerConnection) -> None:
        """Tell the session how much waits in the transport; the session decides whether it
        conflates (then it is checked again every ``HOUSEKEEPING_INTERVAL``) or is dropped."""
        transport = connection.transport
        closing = session.close_request is not None
        if transport is None or closing:
            return
        session.buffered(transport.get_write_buffer_size(), self._clock())
        if session.conflating:
            self._lagging.add(session)
        elif session.close_request is not None:
            self._drop_slow(session, connection)

    @staticmethod
    def _write(connection: ServerConnection, wire: bytes) -> None:
        """Write one complete WebSocket frame. ``serve()`` is called with ``compression=None``,
        so no extension is ever negotiated and a server's text frame is fixed by RFC 6455: the
        frame is built once and handed to the transport directly, skipping the library's
        per-frame object. In order with the library's own writes, which reach the same
        transport synchronously."""
        if connection.protocol.state is OPEN:
            connection.transport.write(wire)

    def _keep_house(self) -> None:
        """Tell slow readers' sessions their backlog; log what was aggregated since the last
        warning."""
        for session in list(self._lagging):
            connection = self._connections.get(session)
            if connection is None:
                self._lagging.discard(session)
                continue
            self._backlog(session, connection)
            if not session.conflating:
                self._lagging.discard(session)
                self._flush(session)  # the conflated ticks, behind their lagging events
        now = self._clock()
        if now - self._warned >= WARNING_INTERVAL:
            self._warn(now)
        self._housekeeping = asyncio.get_running_loop().call_later(HOUSEKEEPING_INTERVAL,
                                                                  self._keep_house)

    def _warn(self, now: float) -> None:
        """One line per interval for what happened many times, never one line per event."""
        assert self.hub is not None
        conflated = self.hub.conflated - self._reported["conflated"]
        self._reported["conflated"] = self.hub.conflated
        if conflated or self._lagging:
            logger.warning("slow readers: %d lagging now, %d ticks conflated in the last %.0fs",
                           len(self._lagging), conflated, now - self._warned)
        for what in ("slow consumers closed", "floods closed", "idle closed"):
            if self._reported[what]:
                logger.warning("%d %s in the last %.0fs", self._reported[what], what,
                               now - self._warned)
                self._reported[what] = 0
        self._warned = now

    def _drop_slow(self, session: Session, connection: ServerConnection) -> None:
        """Close a consumer that stayed behind with 4008. ``connection.close()`` would wait for
        its full buffer to drain, which may never happen: queue the close frame behind the
        buffered data, and cut the connection if the peer has not read it all in time."""
        assert session.close_request is not None
        self._reported["slow consumers closed"] += 1
        try:
            connection.protocol.send_close(*session.close_request)
            connection.send_data()
        except Exception:  # the connection is already closing; aborting below is enough
            logger.debug("close frame not queued for %s", _peer(connection), exc_info=True)
        transport = connection.transport
        asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)

    def _close(self, connection: ServerConnection, code: int, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(connection.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # --- WebSocket ----------------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        assert self.hub is not None
        opened = self._clock()
        if self.config.socket_send_buffer is not None:
            sock = connection.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.socket_send_buffer)
        session = Session(self.hub, self.config, opened)
        self._connections[session] = connection
        self.io.connections += 1
        idle = None
        if self.config.idle_timeout is not None:
            idle = asyncio.get_running_loop().call_later(
                self.config.idle_timeout, self._close_if_idle, session, connection)
        logger.info("open %s", _peer(connection))
        try:
            async for message in connection:
                if connection.state is not State.OPEN:
                    break  # gone: what it queued before it went is dropped, not carried out
                if isinstance(message, str):
                    session.receive(message, self._clock())
                else:
                    session.receive_binary(message, self._clock())
                self._flush(session)
                request = session.close_request
                if request is not None and request[0] == CloseCode.POLICY:  # a flood
                    self._reported["floods closed"] += 1
                    await connection.close(*request)
                    break
                if self._armed_for != float("-inf"):
                    self._arm()
                # one operation per turn of the event loop: a burst queued by one connection
                # (say, a thousand subscribes) waits behind the ticks and everyone else
                await asyncio.sleep(0)
        except ConnectionClosed:
            pass  # an abrupt end is the peer's choice, not a failure; the close line says how
        finally:
            if idle is not None:
                idle.cancel()
            session.close()
            del self._connections[session]
            self._lagging.discard(session)
            self.io.connections -= 1
            code = connection.close_code if connection.close_code is not None else int(CloseCode.ABNORMAL)
            self.io.closes[code] += 1
            logger.info("close %s after %.1fs: code %s %s", _peer(connection),
                        self._clock() - opened, code, connection.close_reason or "")

    def _close_if_idle(self, session: Session, connection: ServerConnection) -> None:
        if not session.has_subscribed:
            self._reported["idle closed"] += 1
            self._close(connection, CloseCode.POLICY, f"idle: no subscription within "
                                          f"{self.config.idle_timeout:g}s")

    # --- HTTP ---------------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection,
                               request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        public = path in ("/", "/index.html") or path.startswith("/static/")
        if self.config.token is not None and not public and not self._authorised(request, query):
            self.io.refused[401] += 1
            response = _json_response(401, b'{"error": "this server needs a token: add ?token= '
                                      b'or an Authorization: Bearer header"}', request)
            response.headers["WWW-Authenticate"] = 'Bearer realm="streamer"'
            return response
        if path == "/ws":
            return self._admit(request)
        if path == "/gbm":
            started = time.perf_counter()
            status, body = await asyncio.to_thread(gbm_reply, query, self.config.max_periods)
            self.metrics.gbm_duration.observe(time.perf_counter() - started)
            self.io.gbm[status] += 1
            return _json_response(status, body, request)
        if path == "/metrics":
            body, content_type = self.metrics.render(request.headers.get("Accept"))
            return _response(200, body, content_type, request, cache="no-store")
        if path in ("/", "/index.html") or path.startswith("/static/"):
            found = _static_file("index.html" if path in ("/", "/index.html") else path[8:])
            if found is not None:
                return _file_response(*found, request)
        if path == "/healthz":
            return _json_response(200, orjson.dumps(self.health()), request)
        return _json_response(404, orjson.dumps({"error": f"no such path {path!r}; try /ws, "
                                                 "/gbm, /healthz or /metrics"}), request)

    def _authorised(self, request: Request, query: str) -> bool:
        token = self.config.token
        assert token is not None
        given = parse_qs(query).get("token", [""])[-1]
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            given = header[7:].strip() or given
        return hmac.compare_digest(given.encode(), token.encode())

    def _admit(self, request: Request) -> Response | None:
        """Refuse an upgrade from a foreign browser origin (403) or past the connection limit
        (503); ``None`` lets the handshake go on."""
        origin = request.headers.get("Origin")
        allowed = self.config.allow_origins
        if allowed and origin is not None and origin not in allowed:
            host = request.headers.get("Host", "")
            if origin not in (f"http://{host}", f"https://{host}"):  # the dashboard's own page
                self.io.refused[403] += 1
                return _json_response(403, orjson.dumps(
                    {"error": f"origin {origin!r} is not allowed"}), request)
        if len(self._connections) >= self.config.max_connections:
            self.io.refused[503] += 1
            return _json_response(503, orjson.dumps(
                {"error": f"the server holds its maximum of {self.config.max_connections} "
                          "connections; retry later"}), request)
        return None

    def health(self) -> dict[str, Any]:
        """Headline figures, as ``/healthz`` reports them."""
        assert self.hub is not None
        return {"status": "ok", "version": __version__,
                "worker": self.config.worker, "workers": self.config.workers,
                "uptime": round(self._clock() - self._started, 3),
                "connections": len(self._connections),
                "subscriptions": self.hub.subscriptions,
                "streams": self.hub.streams,
                "symbols": len(self.hub.symbols),
                "lagging": len(self._lagging),
                "steps": self.hub.ticks_stepped,
                "ticks_sent": self.hub.ticks_routed - self.hub.conflated + self.hub.replayed,
                "ticks_conflated": self.hub.conflated,
                "frames_sent": self.io.frames,
                "bytes_sent": self.io.bytes,
                "errors": dict(self.hub.errors)}


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


#: The dashboard's files: ``/`` is its index.html, ``/static/NAME`` any other file in it. They
#: are package data of the dashboard (``clients/dashboard``), read through importlib.resources
#: so that an installed server serves them from wherever it was installed: the server depends
#: on the dashboard's files, not on any of the clients' code.
DASHBOARD = resources.files("clients") / "dashboard"
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
                  ".png": "image/png", ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8",
                  ".json": "application/json"}
_FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")


def _static_file(name: str) -> tuple[bytes, str] | None:
    """The bytes and type of a dashboard file, or None. Only plain names are looked up: no
    component may start with a dot, so no path leaves the folder."""
    if not _FILE_NAME.fullmatch(name):
        return None
    content_type = _CONTENT_TYPES.get(PurePosixPath(name).suffix)
    file = DASHBOARD.joinpath(*name.split("/"))
    if content_type is None or not file.is_file():
        return None
    return file.read_bytes(), content_type
