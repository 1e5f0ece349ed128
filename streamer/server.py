"""The I/O shell: one asyncio server that answers every door of the port.

* ``/ws``: the streaming protocol. Each TCP connection is a
  :class:`~streamer.connection.Connection` (an :class:`asyncio.Protocol` driving websockets'
  sans-I/O protocol); an upgraded one gets a :class:`~streamer.session.Session`.
* ``GET /gbm``, ``/path``, ``/healthz``, ``/metrics``, ``/`` and ``/static/…``: plain HTTP,
  answered here.
* The timer: one callback, armed for the hub's next instant, steps every due stream and writes
  one frame per connection. There is no task or sleep per subscription or per connection.
* Housekeeping: slow readers are checked every 100 ms, pings (keepalive, and the probes that
  measure a reader's backlog in time) every 250 ms, warnings are aggregated every 10 s.

Writes are synchronous: each frame, encoded once, goes straight to its connection's transport,
which keeps frames in the order they were produced.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import re
import resource
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from simulation import Market, load_market
from simulation.market import BUILT_IN
from streamer import __version__, http, schedule, sse, workers
from streamer.batch import gbm_reply, path_reply
from streamer.bus import BusTick
from streamer.config import ServerConfig
from streamer.connection import (
    OPEN_STATE,
    SSE,
    SSE_PENDING,
    STREAMING,
    WRITE_HIGH,
    Connection,
)
from streamer.gateway import Gateway
from streamer.hub import Hub
from streamer.metrics import IOStats, Metrics
from streamer.session import Session
from wire.errors import CommandError
from wire.names import CloseCode, ErrorCode

logger = logging.getLogger("streamer.server")

#: Seconds a closing handshake may take before the connection is cut.
CLOSE_TIMEOUT = 1.0
#: Seconds between two checks of slow readers, of pings, and between two aggregated warnings.
HOUSEKEEPING_INTERVAL = 0.1
#: The sweep of every connection for keepalives and ping timeouts runs this often at most (s),
#: and four times per the shorter of --ping-interval and --ping-timeout at least: it visits
#: every connection, ten thousand of them too. (A reader found behind --max-lag at a write
#: is handled there; the sweep only catches one whose frames have stopped.)
PING_SWEEP = 1.0
WARNING_INTERVAL = 10.0
#: File descriptors kept free of client connections (listening sockets, the event loop, logs,
#: files of the dashboard), and how many of the rest are kept for plain HTTP (/healthz).
FILES_RESERVED = 32
FILES_FOR_HTTP = 16
#: Close codes counted under their own label in /metrics; any other is counted as "other".
KNOWN_CLOSE_CODES = frozenset({*range(1000, 1016), *CloseCode})


#: A batch door: a whole path as one JSON reply, computed off the event loop.
BatchReply = Callable[[str, int], tuple[int, bytes]]

class _RedactSecrets(logging.Filter):
    """Keeps secrets out of the library's debug lines and out of tracebacks: the token (as
    given, percent-encoded, or in a Basic header), request queries, and the values of headers
    that carry credentials."""

    _HEADER = re.compile(r"((?:authorization|sec-websocket-protocol|cookie|proxy-authorization)"
                         r":\s*)[^\r\n]+", re.IGNORECASE)
    _QUERY = re.compile(r"([?&][^=&\s]*=)[^&\s]*")

    def __init__(self) -> None:
        super().__init__()
        self.secrets: re.Pattern[str] | None = None

    def keep_out(self, secret: str) -> None:
        """Redact ``secret`` as given or percent-encoded, in either case of hex, any mix."""
        self.secrets = re.compile("".join(_spellings(char) for char in secret))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info))
            record.exc_info = None
        redacted = self._QUERY.sub(r"\1***", self._HEADER.sub(r"\1***", message))
        if self.secrets is not None:
            redacted = self.secrets.sub("***", redacted)
        if redacted != record.msg or record.args:
            record.msg, record.args = redacted, None
        return True


_redact = _RedactSecrets()
logging.getLogger("streamer.websockets").addFilter(_redact)
logging.getLogger("streamer").addFilter(_redact)
logger.addFilter(_redact)


class StreamServer:
    """A running feed. Use ``async with StreamServer(config) as server:`` or start()/close()."""

    def __init__(self, config: ServerConfig, market: Market | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._market = market
        self._doors: dict[str, BatchReply] = {}
        self._clock = clock
        self.hub: Hub | None = None
        self._server: asyncio.Server | None = None
        self._all: set[Connection] = set()
        self._connections: dict[Session, Connection] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = float("inf")
        self._housekeeping: asyncio.TimerHandle | None = None
        self._pinging: asyncio.TimerHandle | None = None
        self._lagging: set[Session] = set()
        self._resuming: deque[Connection] = deque()
        """Connections whose session is busy with a catch-up, served a piece each in turn."""
        self._resume_turn: asyncio.Handle | None = None
        self._reporting: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed: asyncio.Event | None = None
        self._closing = False
        self._warned = 0.0
        self._reported: Counter[str] = Counter()
        self._started = 0.0
        self._gbm_busy: set[Connection] = set()
        self._sessions_made = 0
        bounds = [b for b in (config.ping_interval, config.ping_timeout) if b]
        self._sweep_every = max(0.05, min([PING_SWEEP, *(b / 4 for b in bounds)]))
        self._file_budget = 1 << 30
        self.close_timeout = CLOSE_TIMEOUT
        self.io = IOStats()
        self.metrics = Metrics(lambda: self.hub, self.io)
        self.failure: BaseException | None = None
        """Set when the tick producer crashed; the server is then closed."""
        self.gateway: Gateway | None = Gateway(config.nats) if config.nats else None
        """The link to the bus of a gateway (``--nats``), whose market comes from there."""
        if config.token is not None:
            _redact.keep_out(config.token)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        now = self._clock()
        market = self._market
        if self.gateway is not None:
            market = await self.gateway.open(now)
            now = self._clock()
        elif market is None:
            name = self.config.market_file or "demo"
            market = BUILT_IN[name](now) if name in BUILT_IN else load_market(name, now)
        ring = max(self.config.max_history, self.config.max_replay)
        self.hub = Hub(market, now, ring=ring, fed=self.gateway is not None)
        self._doors = {"/gbm": gbm_reply, "/path": functools.partial(path_reply, market=market)}
        self._started = now
        self._closed = asyncio.Event()
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY:
            self._file_budget = max(1, soft - FILES_RESERVED)
        loop = asyncio.get_running_loop()
        if self.gateway is not None:  # a third party's history is read before any client comes
            await self.gateway.follow(self._fed, self.hub.backfill, ring)
        self._server = await loop.create_server(
            lambda: Connection(self), self.config.host, self.config.port,
            reuse_port=self.config.workers > 1 or None, backlog=1024)
        self._arm()
        self._warned = now
        self._housekeeping = loop.call_later(HOUSEKEEPING_INTERVAL, self._keep_house)
        if self.config.report_dir is not None:
            self._report()
        self._pinging = loop.call_later(self._sweep_every, self._ping)
        logger.info("serving %d symbols on ws://%s:%d/ws", len(market.symbols), self.config.host,
                    self.port)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop accepting, close every connection with 1001 (going away), stop the timer."""
        for timer in (self._timer, self._housekeeping, self._pinging, self._resume_turn,
                      self._reporting):
            if timer is not None:
                timer.cancel()
        self._timer = self._housekeeping = self._pinging = self._resume_turn = None
        self._reporting = None
        self._resuming.clear()
        self._armed_for = float("-inf")  # never re-armed
        if self.hub is not None and not self._closing:
            self._warn(self._clock())  # what was counted since the last report
        self._closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self._all):
            connection.close(CloseCode.GOING_AWAY, "server shutting down")
        self._check_closed()

    async def wait_closed(self) -> None:
        """Wait until every connection is gone (each has at most ``close_timeout`` to go)."""
        assert self._server is not None and self._closed is not None
        await self._server.wait_closed()
        await self._closed.wait()
        if self.gateway is not None:
            await self.gateway.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _check_closed(self) -> None:
        if self._closing and not self._all and self._closed is not None:
            self._closed.set()

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
        hub = self.hub
        assert hub is not None

        def advance() -> list[Any]:
            now = self._clock()
            due = hub.next_due()
            if due != float("-inf"):  # -inf: a gateway's backlog of bus ticks, not a due tick
                self.metrics.lateness.observe(max(0.0, now - due))
            return hub.advance(now)
        self._produce(advance)

    def _fed(self, ticks: list[BusTick]) -> None:
        """Ticks read from the bus (a gateway's): the symbols step to them."""
        hub = self.hub
        assert hub is not None
        if not self._closing:
            self._produce(lambda: hub.feed(ticks))

    def _produce(self, produce: Callable[[], list[Any]]) -> None:
        """Run the tick producer (the clock's :meth:`Hub.advance` or the bus's
        :meth:`Hub.feed`), write to the peers it gave parts, and arm the timer again."""
        try:
            frames: dict[Any, dict[str, bytes]] = {}  # this instant's frames, by their one event
            for peer in produce():
                self._flush(peer, frames)  # the hub's peers are sessions
            self._arm()
        except Exception as exc:  # a broken producer must stop the feed loudly, not hang it
            logger.critical("tick producer failed; closing the server", exc_info=True)
            self.failure = exc
            self.close()

    def _flush(self, session: Session,
               caches: dict[Any, dict[str, bytes]] | None = None) -> None:
        """Write what the session has to send (and as much of its replays as the transport
        has room for), then tell it the transport's backlog. ``caches`` holds one instant's
        frames of a single event, built once for every session of the same framing."""
        frames = None
        if caches is not None:
            frames = caches.get(session.frame)
            if frames is None:
                frames = caches[session.frame] = {}
        connection = self._connections.get(session)
        if connection is None:
            session.data_to_send(frames, 0)
            return
        backlog = connection.backlog
        wire = session.data_to_send(frames, max(0, WRITE_HIGH - backlog))
        if wire:
            connection.write(wire)
            self.io.frames += 1
            self.io.bytes += len(wire)
            backlog = connection.backlog
            if not session.subs and connection.state == SSE and not session.replaying:
                connection.close(CloseCode.NORMAL, "the stream ended")  # its last event: sent
        # Past a bound (in bytes, or in time at the last write), or conflating: the policy
        # decides; otherwise there is nothing for it to do.
        if backlog > self.config.max_send_buffer or session.conflating or connection.behind:
            self._backlog(session, connection)
        if session.replaying and not connection.pumping:
            connection.pumping = True
            asyncio.get_running_loop().call_soon(self._pump, session, connection)

    def _pump(self, session: Session, connection: Connection) -> None:
        """Send more of a replay while the transport takes it: the replay goes as fast as the
        client reads, and waits (for ``resume_writing``) when it does not."""
        connection.pumping = False
        if (self._connections.get(session) is connection and session.replaying
                and not connection.writing_paused and not session.conflating):
            self._flush(session)

    def _backlog(self, session: Session, connection: Connection) -> None:
        """Tell the session how much waits in the transport and how long what was sent has
        waited unread; the session decides whether it conflates (then it is checked again
        every ``HOUSEKEEPING_INTERVAL`` and at each pong) or is dropped."""
        closing = session.close_request is not None
        if closing or connection.state not in STREAMING:
            return
        was = session.conflating
        now = time.monotonic()
        session.buffered(connection.backlog, self._clock(), connection.lag(now),
                         drained=connection.drained)
        if session.conflating:
            if not was:
                self._lagging.add(session)
                connection.ping(now)  # so that what was sent last is measured too
        elif session.close_request is not None:
            self.report("slow consumers closed")
            connection.close(*session.close_request)

    def _recheck(self, session: Session, connection: Connection) -> None:
        """A lagging session caught up? Then its conflated ticks go out behind ``lagging``."""
        self._backlog(session, connection)
        if session.conflating:
            if not connection.pinging and connection.protocol is not None:
                # its answer says whether the client drained (SSE has no pings: bytes say)
                connection.ping(time.monotonic())
        else:
            self._lagging.discard(session)
            self._flush(session)

    # --- housekeeping -------------------------------------------------------------------------

    def _keep_house(self) -> None:
        """Tell slow readers' sessions their backlog; log what was aggregated since the last
        warning."""
        for session in list(self._lagging):
            connection = self._connections.get(session)
            if connection is None:
                self._lagging.discard(session)
                continue
            self._recheck(session, connection)
        now = self._clock()
        if now - self._warned >= WARNING_INTERVAL:
            self._warn(now)
        self._housekeeping = asyncio.get_running_loop().call_later(HOUSEKEEPING_INTERVAL,
                                                                  self._keep_house)

    def _report(self) -> None:
        """A worker's figures, for the worker that answers /healthz or /metrics."""
        assert self.config.report_dir is not None
        try:
            workers.write(self.config.report_dir, self.config.worker, self._own_health(),
                          workers.snapshot(self.metrics.registry), time.time())
        except OSError as exc:
            logger.warning("cannot write this worker's report: %s", exc)
        self._reporting = asyncio.get_running_loop().call_later(workers.REPORT_INTERVAL,
                                                                self._report)

    def _ping(self) -> None:
        """Keepalive pings, ping timeouts, and readers behind whose frames have stopped."""
        config = self.config
        now = time.monotonic()
        for session, connection in list(self._connections.items()):
            if not connection.pinging and now - connection.last_ping < self._sweep_every:
                continue  # the commonest case, at the least cost: nothing can be due
            lag = connection.lag(now)
            if config.ping_timeout is not None and connection.ping_age(now) > config.ping_timeout:
                if session.conflating:  # it reads nothing while it is sent data
                    self.report("slow consumers closed")
                    connection.close(CloseCode.SLOW_CONSUMER, "slow consumer: read nothing "
                                     f"for {config.ping_timeout:g}s")
                else:
                    self.report("keepalive timeouts")
                    connection.close(CloseCode.INTERNAL, "keepalive ping timeout")
                continue
            if (config.ping_interval is not None and not connection.pinging
                    and now - connection.last_ping >= config.ping_interval):
                connection.ping(now)  # quiet for a while (while frames flow, they carry pings)
            if lag > config.max_lag and not session.conflating:
                self._backlog(session, connection)
        self._pinging = asyncio.get_running_loop().call_later(self._sweep_every, self._ping)

    def ponged(self, connection: Connection) -> None:
        """A pong came back: the client read everything sent before its ping."""
        session = connection.session
        if session is not None and session in self._lagging:
            self._recheck(session, connection)

    def report(self, what: str) -> None:
        """Count one event of a kind that is logged once per interval, not once per event."""
        self._reported[what] += 1

    def _warn(self, now: float) -> None:
        """One line per interval for what happened many times, never one line per event."""
        assert self.hub is not None
        conflated = self.hub.conflated - self._reported["conflated"]
        self._reported["conflated"] = self.hub.conflated
        if conflated or self._lagging:
            logger.warning("slow readers: %d lagging now, %d ticks conflated in the last %.0fs",
                           len(self._lagging), conflated, now - self._warned)
        for what in sorted(self._reported):
            if what != "conflated" and self._reported[what]:
                logger.warning("%d %s in the last %.0fs", self._reported[what], what,
                               now - self._warned)
                self._reported[what] = 0
        self._warned = now

    # --- connections --------------------------------------------------------------------------

    def connection_made(self, connection: Connection) -> None:
        self._all.add(connection)
        if self._closing:
            connection.respond(http.error_response(503, "the server is shutting down"))
        elif len(self._all) > self._file_budget:
            self.io.refused[503] += 1
            self.report("connections refused at the open-files limit")
            connection.respond(http.error_response(
                503, "the server is at its limit of open files; retry later"))

    def connection_lost(self, connection: Connection) -> None:
        self._all.discard(connection)
        self._gbm_busy.discard(connection)
        session = connection.session
        if session is not None and self._connections.pop(session, None) is not None:
            session.close()
            self._lagging.discard(session)
            self.io.connections -= 1
            self.io.compressed -= connection.compressed
            if connection.protocol is None:  # an SSE stream: no closing handshake to count
                self.io.sse -= 1
                logger.info("SSE stream %s ended after %.1fs", connection.peer,
                            time.monotonic() - connection.opened)
                self._check_closed()
                return
            code = connection.close_code
            if code is None:
                code = int(CloseCode.ABNORMAL)
            self.io.closes[code if code in KNOWN_CLOSE_CODES else -1] += 1
            logger.info("close %s after %.1fs: code %s %s", connection.peer,
                        time.monotonic() - connection.opened, code, connection.close_reason)
        self._check_closed()

    def message(self, connection: Connection, message: str | bytes) -> None:
        """One message of an open connection, for its session."""
        session = connection.session
        assert session is not None
        if self._timer is not None and self._armed_for <= self._clock():
            # ticks before operations: one turn carries out an operation of every connection
            # that has one (a thousand subscribes, say), and the timer would wait behind them
            self._timer.cancel()
            self._on_timer()
        if isinstance(message, str):
            session.receive(message, self._clock())
        else:
            session.receive_binary(message, self._clock())
        if session.busy:
            self._resuming.append(connection)
            self._resume_soon()
        self._flush(session)
        request = session.close_request
        if request is not None and request[0] == CloseCode.POLICY:  # a flood
            self.report("floods closed")
            connection.close(*request)
        if self._armed_for != float("-inf"):
            self._arm()

    def _resume_soon(self) -> None:
        if self._resume_turn is None and self._resuming and not self._closing:
            self._resume_turn = asyncio.get_running_loop().call_soon(self._resume_one)

    def _resume_one(self) -> None:
        """One piece of one connection's catch-up per turn of the event loop, connections in
        turn: however many resume from far back, a turn's work stays bounded."""
        self._resume_turn = None
        resuming = self._resuming
        while resuming:
            connection = resuming.popleft()
            session = connection.session
            if (session is None or not session.busy
                    or connection.state not in (OPEN_STATE, SSE_PENDING)):
                continue  # closed meanwhile: its session dropped the catch-up
            done = session.work()
            if connection.state == SSE_PENDING:
                if done:
                    self._sse_answer(connection, session)
            else:
                self._flush(session)
            if done:
                connection.go_on()
                self._arm()
            else:
                resuming.append(connection)
            break
        self._resume_soon()

    def writable(self, connection: Connection) -> None:
        """The connection's transport drained below its low-water mark: go on replaying."""
        session = connection.session
        if session is not None and session.replaying:
            self._flush(session)

    def _opened(self, connection: Connection, session: Session) -> None:
        self._connections[session] = connection
        self.io.connections += 1
        self.io.compressed += connection.compressed
        logger.info("open %s", connection.peer)
        if self.config.idle_timeout is not None:
            connection.set_deadline(self.config.idle_timeout, self._close_if_idle, connection)

    def _close_if_idle(self, connection: Connection) -> None:
        session = connection.session
        if session is not None and not session.has_subscribed and connection.state == OPEN_STATE:
            self.report("idle closed")
            connection.close(CloseCode.POLICY, f"idle: no subscription within "
                                               f"{self.config.idle_timeout:g}s")

    # --- the doors ----------------------------------------------------------------------------

    def route(self, connection: Connection, request: http.HttpRequest, rest: bytes) -> None:
        """Answer a request head: a WebSocket upgrade at ``/ws``, or plain HTTP."""
        path, query = request.path, request.query
        head_only = request.method == "HEAD"
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s %s", connection.peer, request.method, request.target)
        public = path in ("/", "/index.html") or path.startswith("/static/")
        if self.config.token is not None and not public and not self._authorised(request, query):
            self.io.refused[401] += 1
            connection.respond(http.error_response(
                401, "this server needs a token: add ?token= or an Authorization: Bearer header",
                head_only=head_only, headers=[("WWW-Authenticate", 'Bearer realm="streamer"')]))
            return
        if path == "/ws":
            self._upgrade(connection, request, rest)
        elif path == "/sse":
            self._sse(connection, request)
        elif path in self._doors:
            self._gbm(connection, request, self._doors[path])
        elif path == "/metrics":
            registry = None
            if self.config.report_dir is not None:  # every worker's series, labelled
                registry = workers.render_registry(workers.AllWorkers(
                    self.config.worker, self.metrics.registry, workers.read(
                        self.config.report_dir, self.config.workers, self.config.worker,
                        time.time())))
            body, content_type = self.metrics.render(request.header("Accept"), registry)
            connection.respond(http.response(200, body, content_type, head_only=head_only))
        elif path == "/healthz":
            health = self.health()  # 503 while degraded: a load balancer sends new clients on
            connection.respond(http.response(200 if health["status"] == "ok" else 503,
                                             orjson.dumps(health), head_only=head_only))
        elif public and (found := _static_file(
                "index.html" if path in ("/", "/index.html") else path[8:])) is not None:
            connection.respond(http.response(200, found[0], found[1], head_only=head_only,
                                             cache="no-cache"))
        else:
            self.io.http[404] += 1
            connection.respond(http.error_response(
                404, f"no such path {path!r}; try /ws, /sse, /gbm, /path, /healthz or /metrics",
                head_only=head_only))

    def _upgrade(self, connection: Connection, request: http.HttpRequest, rest: bytes) -> None:
        if not request.wants_upgrade:
            self.io.http[426] += 1
            connection.respond(http.error_response(
                426, "/ws is the WebSocket door: send an upgrade request",
                headers=[("Upgrade", "websocket")]))
            return
        refusal = self._admit(request)
        if refusal is not None:
            connection.respond(refusal)
            return
        session = self._new_session()
        if connection.upgrade(request, rest, session):
            self._opened(connection, session)

    def _new_session(self, frame: Callable[[Sequence[str]], bytes] | None = None) -> Session:
        assert self.hub is not None
        self._sessions_made += 1  # the workers' connections interleave in the phases' sequence
        number = self._sessions_made * self.config.workers + self.config.worker
        return Session(self.hub, self.config, self._clock(), frame=frame,
                       phase=schedule.phase(number))

    def _sse(self, connection: Connection, request: http.HttpRequest) -> None:
        """``/sse``: one stream as server-sent events (:mod:`streamer.sse`). Its subscribe is
        the WebSocket door's, and so are the limits, the token and the origin rules; it is
        answered before the response starts, so that a refusal is a plain HTTP error that
        names what was wrong."""
        if request.method != "GET":
            self.io.http[405] += 1
            connection.respond(http.error_response(
                405, "/sse answers GET (a browser's EventSource, or curl -N)",
                head_only=request.method == "HEAD", headers=[("Allow", "GET")]))
            return
        refusal = self._admit(request)
        if refusal is not None:
            connection.respond(refusal)
            return
        try:
            text = sse.subscribe_text(request.query, request.header("Last-Event-ID"))
        except CommandError as exc:
            self._sse_refuse(connection, 400, exc.message, exc.code.value, exc.field)
            return
        limit = self.config.max_message_bytes
        if len(text) > limit:  # the WebSocket door's bound on a subscribe, in the query's terms
            self._sse_refuse(connection, 414, f"the query makes a subscribe of {len(text)} "
                             f"bytes; the limit is {limit} (--max-message-bytes)",
                             ErrorCode.LIMIT_EXCEEDED.value, None)
            return
        session = self._new_session(sse.events_text)
        connection.start_sse(session)
        self._opened(connection, session)  # it counts against max_connections from now
        self.io.sse += 1
        session.receive(text.decode(), self._clock())
        if session.busy:  # a far resume: answered once its catch-up is done
            self._resuming.append(connection)
            self._resume_soon()
        else:
            self._sse_answer(connection, session)

    def _sse_answer(self, connection: Connection, session: Session) -> None:
        """The subscribe of an ``/sse`` request was carried out: start the stream, or refuse
        the request with the error it got. A browser that resumes a finite stream after its
        ``end`` gets 204, the answer that stops an ``EventSource`` from reconnecting."""
        error = session.refusal()
        if error is not None:
            self._sse_refuse(connection, sse.refusal_status(error["code"], error["field"]),
                             error["message"], error["code"], error["field"])
            return
        request = connection.request
        if (not session.subs and request is not None and request.header("Last-Event-ID")
                and not session.has_ticks_to_send):
            self.io.http[204] += 1  # nothing after the last event it saw: the stream is over
            connection.respond(http.response(204, b"", headers=self._cors(connection)))
            return
        connection.stream(sse.head(self._cors(connection)))
        self._flush(session)
        self._arm()

    def _sse_refuse(self, connection: Connection, status: int, message: str, code: str,
                    field: str | None) -> None:
        self.io.http[status] += 1
        connection.respond(sse.refusal(status, message, code, field, self._cors(connection)))

    @staticmethod
    def _cors(connection: Connection) -> list[tuple[str, str]]:
        """The headers that let a page of the request's origin read the answer (the origin
        was admitted already)."""
        request = connection.request
        origin = request.header("Origin") if request is not None else None
        return [] if origin is None else [("Access-Control-Allow-Origin", origin),
                                          ("Vary", "Origin")]

    def _authorised(self, request: http.HttpRequest, query: str) -> bool:
        token = self.config.token
        assert token is not None
        given = parse_qs(query).get("token", [""])[-1]
        header = request.header("Authorization") or ""
        if header[:7].lower() == "bearer ":
            given = header[7:].strip() or given
        return hmac.compare_digest(given.encode(), token.encode())

    def _own_origins(self) -> set[str]:
        """The origins of this server's own pages, from the address it listens on, never from
        the request's Host (a rebinding DNS name would pass for it)."""
        host, port = self.config.host, self.port
        names = {host}
        if host in ("127.0.0.1", "localhost", "::1"):
            names |= {"127.0.0.1", "localhost", "[::1]"}
        names = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
        return {f"{scheme}://{name}:{port}" for scheme in ("http", "https") for name in names}

    def _admit(self, request: http.HttpRequest) -> bytes | None:
        """Refuse an upgrade from a foreign browser origin (403) or past the connection limit
        (503); ``None`` lets the handshake go on."""
        origin = request.header("Origin")
        allowed = self.config.allow_origins
        if allowed and origin is not None and origin not in allowed \
                and origin not in self._own_origins():
            self.io.refused[403] += 1
            return http.error_response(403, f"origin {origin!r} is not allowed")
        limit = min(self.config.max_connections, self._file_budget - FILES_FOR_HTTP)
        if len(self._connections) >= limit:
            self.io.refused[503] += 1
            self.report("upgrades refused at the connection limit")
            return http.error_response(503, f"the server holds its maximum of {limit} "
                                            "connections; retry later",
                                       headers=[("Retry-After", "1")])
        return None

    def _gbm(self, connection: Connection, request: http.HttpRequest, reply: BatchReply,
             ) -> None:
        """``/gbm`` and ``/path``: at most ``max_gbm_requests`` computed or being sent at
        once, both doors together; past that, 503 at once (so a response is never held
        half-built)."""
        if len(self._gbm_busy) >= self.config.max_gbm_requests:
            self.io.gbm[503] += 1
            connection.respond(http.error_response(
                503, f"{self.config.max_gbm_requests} /gbm and /path requests are in flight; "
                     "retry shortly", headers=[("Retry-After", "1")]))
            return
        self._gbm_busy.add(connection)
        task = asyncio.get_running_loop().create_task(
            self._answer_gbm(connection, request, reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_gbm(self, connection: Connection, request: http.HttpRequest,
                          reply: BatchReply) -> None:
        started = time.perf_counter()
        status, body = await asyncio.to_thread(reply, request.query, self.config.max_periods)
        self.metrics.gbm_duration.observe(time.perf_counter() - started)
        self.io.gbm[status] += 1
        connection.respond(http.response(status, body, head_only=request.method == "HEAD"))

    def health(self) -> dict[str, Any]:
        """Headline figures, as ``/healthz`` reports them: of the whole server (every worker's
        report added to this one's figures) under ``--workers``."""
        own = self._own_health()
        if self.config.report_dir is None:
            return own
        return workers.health(own, workers.read(self.config.report_dir, self.config.workers,
                                                self.config.worker, time.time()))

    def _own_health(self) -> dict[str, Any]:
        """This process's figures."""
        assert self.hub is not None
        now = time.monotonic()
        connections = self._connections.values()
        bus = {} if self.gateway is None else {
            **self.gateway.health(), "bus_ticks": self.hub.fed_ticks,
            "bus_mismatches": self.hub.mismatches,
            "bus_outside_symbols": self.hub.outside_symbols,
            "bus_out_of_order": dict(self.hub.out_of_order),
            "bus_unknown_symbols": sorted(self.hub.unknown)}
        degraded = self.gateway is not None and not self.gateway.connected
        return {"status": "degraded" if degraded else "ok", "version": __version__, **bus,
                "worker": self.config.worker, "workers": self.config.workers,
                "uptime": round(self._clock() - self._started, 3),
                "connections": len(self._connections),
                "sse": self.io.sse,
                "compressed": self.io.compressed,
                "subscriptions": self.hub.subscriptions,
                "streams": self.hub.streams,
                "symbols": len(self.hub.symbols),
                "lagging": len(self._lagging),
                "catching_up": len(self._resuming),
                "backlog_bytes": sum(c.backlog for c in connections),
                "backlog_age": round(max((c.lag(now) for c in connections), default=0.0), 3),
                "steps": self.hub.ticks_stepped,
                "ticks_sent": self.hub.ticks_routed - self.hub.conflated + self.hub.replayed,
                "ticks_conflated": self.hub.conflated,
                "frames_sent": self.io.frames,
                "bytes_sent": self.io.bytes,
                "errors": dict(self.hub.errors)}


def _spellings(char: str) -> str:
    """A pattern for ``char`` as itself or as its percent-encoded UTF-8 bytes."""
    encoded = "".join(f"%(?i:{byte:02x})" for byte in char.encode())
    return f"(?:{re.escape(char)}|{encoded})"


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
    if not _FILE_NAME.fullmatch(unquote(name)):
        return None
    content_type = _CONTENT_TYPES.get(PurePosixPath(name).suffix)
    if content_type is None:
        return None
    file = DASHBOARD.joinpath(*name.split("/"))
    try:
        return (file.read_bytes(), content_type) if file.is_file() else None
    except OSError:  # a name the file system refuses (too long, say) names no file of ours
        return None
