"""One TCP connection of the port, as an :class:`asyncio.Protocol`: the I/O of one client.

Bytes in: the request head is read with :mod:`streamer.http`; a WebSocket upgrade is handed to
websockets' sans-I/O :class:`~websockets.server.ServerProtocol`, which then turns bytes into
frames (and answers pings and closes by itself); a plain HTTP request is answered by the
server. Messages go to the connection's :class:`~streamer.session.Session` one per turn of
the event loop, from a bounded queue, so that no connection holds the loop and a connection's
queued operations die with it. Bytes out: the session's frames are written straight to the
transport; control frames come from the protocol object.

There is no task, future or queue per connection beyond these: a connection is this object,
its transport, its protocol object and its session.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import socket
import struct
import termios
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.protocol import CLOSED, OPEN
from websockets.server import ServerProtocol

from streamer import deflate, handshake, http, sse
from streamer.session import Session
from wire.frames import OP_PING, OP_PONG, header
from wire.names import CloseCode

if TYPE_CHECKING:
    from streamer.server import StreamServer

logger = logging.getLogger("streamer.server")
library_logger = logging.getLogger("streamer.websockets")

#: While frames flow, a ping follows them every ``max_lag`` times this (s), so that how long
#: what was written has waited unread is known to within that much.
PROBE_EVERY = 0.5
#: Pings that may wait for their pongs at once (a slow reader gets one every so often).
MAX_PINGS = 16
_PING_HEAD = header(OP_PING, 8)
#: A client's pong to one of our pings: FIN + pong, masked + 8 bytes, the mask, the payload.
_PONG_FIRST, _PONG_SECOND, _PONG_SIZE = 0x80 | OP_PONG, 0x80 | 8, 2 + 4 + 8
#: Client messages queued for the session before the connection stops reading (backpressure).
MAX_QUEUED_MESSAGES = 64
#: Transport buffer bounds (bytes): above ``HIGH`` writes pause; below ``LOW`` they resume.
WRITE_HIGH, WRITE_LOW = 64 * 1024, 16 * 1024
#: Unsent bytes the kernel keeps for a socket (TCP_NOTSENT_LOWAT): the rest waits in the
#: transport, where the server sees it and its slow-reader policy can act on it.
NOTSENT_LOWAT = 16 * 1024
_OUTQ: int | None = getattr(termios, "TIOCOUTQ", None)  # the same request as SIOCOUTQ
_TCP_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", 25)  # Linux

HEAD, HTTP, OPEN_STATE, CLOSING, DONE = "head", "http", "open", "closing", "done"
#: An ``/sse`` request whose subscribe is not answered yet (nothing sent), then its stream.
SSE_PENDING, SSE = "sse-pending", "sse"
#: The states in which a session's events are written.
STREAMING = frozenset({OPEN_STATE, SSE})


class Connection(asyncio.Protocol):
    """One client of the port (see the module docstring)."""

    #: One of these per connection: slots, not a dict (about 1.5 KB less each).
    __slots__ = ("_buffer", "_cut", "_deadline", "_fragment_text", "_fragments", "_max_lag",
                 "_pinged", "_pings", "_probe_every", "_queue", "_reading_paused", "_response",
                 "_resumed_at", "_scheduled", "_sent", "_unread_since", "behind",
                 "bytes_since_ping", "close_code", "close_reason", "compressed", "drained",
                 "last_ping", "opened", "peer", "protocol", "pumping", "request", "round_trip",
                 "server", "session", "state", "transport", "writing_paused")

    def __init__(self, server: StreamServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.state = HEAD
        self.peer = "?"
        self.opened = time.monotonic()
        self._buffer = bytearray()
        self.protocol: ServerProtocol | None = None
        self.session: Session | None = None
        self.request: http.HttpRequest | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self._deadline: asyncio.TimerHandle | None = None
        """The handshake's deadline, then (once open) the idle one; cancelled when it goes."""
        self._cut: asyncio.TimerHandle | None = None
        self._queue: deque[str | bytes] | None = None
        """Client messages not handed to the session yet (made when the first one comes)."""
        self._scheduled = False
        self._reading_paused = False
        self._fragments: list[bytes] = []
        self._fragment_text = False
        self.writing_paused = False
        self.pumping = False
        """A replay's next chunk is scheduled (see :meth:`StreamServer._pump`)."""
        self._response: bytes | memoryview = b""
        """The HTTP response being sent, from ``_sent`` on."""
        self._sent = 0
        self._pings: list[list[Any]] = []
        """The pings not answered yet, oldest first: [number, when sent, when the first
        frame after it was written (``None`` until one is), whether everything written before
        it was known to be read when it was sent]."""
        self.drained = False
        """The last ping answered was sent when everything before it was known to be read,
        and nothing was written since: the client is reading again after emptying the
        buffers of its own library, which answer pings long before the application reads
        the frames around them."""
        self._pinged = 0
        self._unread_since: float | None = None
        """When the oldest frame the client may not have read yet was written."""
        self._probe_every = server.config.max_lag * PROBE_EVERY
        self._max_lag = server.config.max_lag
        self.behind = False
        """At the last write, what was sent had waited unread for more than ``max_lag``."""
        self._resumed_at = 0.0
        """When this side last resumed reading the connection (lag is not counted before)."""
        self.last_ping = self.opened
        self.bytes_since_ping = 0
        self.round_trip = 0.0
        """How long the last answered ping took to come back (s)."""
        self.compressed = False
        """permessage-deflate was negotiated."""

    # --- asyncio callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        address = transport.get_extra_info("peername")
        if address:
            self.peer = f"{address[0]}:{address[1]}"
        transport.set_write_buffer_limits(WRITE_HIGH, WRITE_LOW)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._tune(sock)
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self.server.config.handshake_timeout,
                                         self._handshake_timed_out)
        self.server.connection_made(self)

    def _tune(self, sock: socket.socket) -> None:
        try:  # (asyncio sets TCP_NODELAY on every TCP transport by itself)
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_NOTSENT_LOWAT, NOTSENT_LOWAT)
            if self.server.config.socket_send_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                                self.server.config.socket_send_buffer)
        except OSError:  # not TCP (a test's socket pair), or an option this OS lacks
            pass

    def data_received(self, data: bytes) -> None:
        try:
            if self.state == HEAD:
                self._buffer += data
                self._read_head()
            elif self.state in (OPEN_STATE, CLOSING) and self.protocol is not None:
                if (len(data) == _PONG_SIZE and data[0] == _PONG_FIRST and data[1] == _PONG_SECOND
                        and not self.protocol.reader.buffer):
                    # the answer to one of our pings, alone at a frame boundary: the commonest
                    # frame of all (one a frame while frames flow) is read here, not parsed
                    mask = int.from_bytes(data[2:6] * 2, "big")
                    self._pong_number(int.from_bytes(data[6:14], "big") ^ mask)
                    return
                self.protocol.receive_data(data)
                self._receive_events()
            # HTTP (answered) and DONE: the rest of the stream is not read
        except Exception:  # a bug here closes this connection, never the server
            logger.error("connection %s failed", self.peer, exc_info=True)
            self.fail(CloseCode.INTERNAL, "internal error")

    def eof_received(self) -> bool | None:
        if self.protocol is not None:
            self.protocol.receive_eof()
            self._send_protocol_data()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = DONE
        self._queue = None  # operations queued by a connection that went are not carried out
        for timer in (self._deadline, self._cut):
            if timer is not None:
                timer.cancel()
        self._deadline = self._cut = None
        if self.protocol is not None:
            self.protocol.receive_eof()
            if self.close_code is None:
                self.close_code = self.protocol.close_code
                self.close_reason = self.protocol.close_reason or ""
        self.server.connection_lost(self)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.pumping = False
        if self.state == HTTP:
            self._send_response()
        elif self.session is not None and self.state in STREAMING:
            self.server.writable(self)

    # --- the head -----------------------------------------------------------------------------

    def _read_head(self) -> None:
        try:
            end = http.head_end(self._buffer)
            if end < 0:
                return
            head, rest = bytes(self._buffer[:end]), bytes(self._buffer[end:])
            self._buffer = bytearray()
            self.request = http.parse_head(head)
        except http.HttpError as exc:
            self.server.io.http[exc.status] += 1
            self.respond(http.error_response(exc.status, exc.message, headers=exc.headers))
            return
        self.server.route(self, self.request, rest)

    def _handshake_timed_out(self) -> None:
        self._deadline = None
        if self.state == HEAD:
            self.server.io.http[408] += 1
            self.server.report("handshakes timed out")
            self.respond(http.error_response(408, f"no complete request within "
                                                  f"{self.server.config.handshake_timeout:g}s"))

    # --- plain HTTP ---------------------------------------------------------------------------

    def respond(self, data: bytes) -> None:
        """Send a whole HTTP response and close once it is all sent. A reader that takes no
        byte of it for ``send_timeout`` seconds is cut off (one that reads slowly gets all)."""
        self.state = HTTP
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._response, self._sent = memoryview(data), 0
        self._send_response()
        self._watch_progress(self._unsent())

    def _send_response(self) -> None:
        """Hand the response to the transport a piece at a time, as it drains (the transport
        would copy the whole of it otherwise), then close once everything is flushed."""
        transport, response = self.transport, self._response
        if transport is None or transport.is_closing():
            return
        while self._sent < len(response) and not self.writing_paused:
            transport.write(response[self._sent:self._sent + WRITE_HIGH])
            self._sent += WRITE_HIGH
        if self._sent >= len(response):
            self._response = b""
            transport.close()  # after the buffer is flushed

    def _unsent(self) -> int:
        """Bytes not yet taken by the client: in the transport, and in the kernel's send queue
        where the system says (Linux: TIOCOUTQ), for a kernel that took much at once only
        hands it on as the client reads."""
        transport = self.transport
        if transport is None:
            return 0
        pending = transport.get_write_buffer_size() + max(0, len(self._response) - self._sent)
        sock = transport.get_extra_info("socket")
        if sock is not None and _OUTQ is not None:
            try:
                pending += struct.unpack("i", fcntl.ioctl(sock.fileno(), _OUTQ, b"\0" * 4))[0]
            except OSError:
                pass
        return pending

    def _watch_progress(self, pending: int) -> None:
        transport = self.transport
        if transport is None or self.state == DONE or pending == 0:
            return
        loop = asyncio.get_running_loop()

        def check() -> None:
            if self.state == DONE:
                return
            now_pending = self._unsent()
            if now_pending >= pending:
                transport.abort()  # nothing read for a whole send_timeout
            else:
                self._watch_progress(now_pending)
        loop.call_later(self.server.config.send_timeout, check)

    # --- server-sent events -------------------------------------------------------------------

    def start_sse(self, session: Session) -> None:
        """An ``/sse`` request was read: its session is about to subscribe; nothing is sent
        until :meth:`stream` (or a refusal, :meth:`respond`)."""
        self.session = session
        self.state = SSE_PENDING
        self.drained = True  # with no pings, only the bytes waiting say a reader is behind
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def stream(self, head: bytes) -> None:
        """The subscribe was answered: send the response head; the events follow."""
        self.state = SSE
        self._write_sse(head)

    def _write_sse(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)
            self.last_ping = time.monotonic()  # a keepalive is due only after a quiet while

    # --- WebSocket ----------------------------------------------------------------------------

    def upgrade(self, request: http.HttpRequest, rest: bytes, session: Session) -> bool:
        """Complete the WebSocket handshake of ``request``; False if websockets refused it (the
        refusal, such as 400 for a missing header, is sent).

        A plain upgrade is answered by :mod:`streamer.handshake`; anything else by websockets,
        on a protocol object used for the handshake alone. Either way the connection then
        gets a protocol object made open, with the extensions negotiated. (A handshake's
        protocol object would keep the parsed request and its headers for as long as the
        connection lives, about 2 KB: they stay referenced from its parser.)"""
        config = self.server.config
        wire = None
        if not library_logger.isEnabledFor(logging.DEBUG):  # debugging: websockets logs it all
            wire = handshake.accept_plain(request, negotiate=config.compression != "none")
        extensions: list[Any] = []
        if wire is None:  # something to refuse or to negotiate: websockets does it
            protocol = ServerProtocol(max_size=config.max_frame_bytes, logger=library_logger,
                                      extensions=deflate.factories(config.compression))
            protocol.receive_data(request.head)
            events = protocol.events_received()
            if not events:  # websockets could not read what streamer.http did: refuse
                self.respond(http.error_response(400, "not a valid WebSocket handshake"))
                return False
            response = protocol.accept(events[0])  # type: ignore[arg-type]  # the Request
            if response.status_code != 101:
                self.server.io.http[response.status_code] += 1
                self.respond(http.response(response.status_code, bytes(response.body),
                                           "text/plain; charset=utf-8"))
                return False
            protocol.send_response(response)
            wire, extensions = b"".join(protocol.data_to_send()), protocol.extensions
        protocol = ServerProtocol(state=OPEN, max_size=config.max_frame_bytes,
                                  logger=library_logger)
        protocol.extensions = extensions
        self.protocol = protocol
        self.session = session
        self.request = None  # nothing of the request is needed once open
        framing = deflate.framing(protocol.extensions)
        if framing is not None:
            session.frame = framing
            self.compressed = True
        self.state = OPEN_STATE
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        assert self.transport is not None
        self.transport.write(wire)  # the 101 response
        if rest:
            protocol.receive_data(rest)
            self._receive_events()
        return True

    def _receive_events(self) -> None:
        protocol = self.protocol
        assert protocol is not None
        for frame in protocol.events_received():
            if not isinstance(frame, Frame):  # once open, every event is a frame
                continue
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if frame.fin:
                    self._message(opcode is Opcode.TEXT, bytes(frame.data))
                else:
                    self._fragment_text = opcode is Opcode.TEXT
                    self._fragments = [bytes(frame.data)]
            elif opcode is Opcode.CONT:
                self._fragments.append(bytes(frame.data))
                if frame.fin:
                    data, self._fragments = b"".join(self._fragments), []
                    self._message(self._fragment_text, data)
            elif opcode is Opcode.PONG:
                self._pong(frame.data)
            elif opcode is Opcode.CLOSE:
                self.close_code = protocol.close_code
                self.close_reason = protocol.close_reason or ""
        self._send_protocol_data()

    def _message(self, text: bool, data: bytes) -> None:
        if text:
            try:
                message: str | bytes = data.decode()
            except UnicodeDecodeError as exc:
                self.fail(CloseCode.INVALID_DATA, f"invalid UTF-8 at byte {exc.start}")
                return
        else:
            message = data
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(message)
        if len(queue) >= MAX_QUEUED_MESSAGES and not self._reading_paused:
            assert self.transport is not None
            self.transport.pause_reading()
            self._reading_paused = True
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._next_message)

    def _next_message(self) -> None:
        """Hand the session one queued message (one per turn of the event loop)."""
        self._scheduled = False
        queue = self._queue
        if self.state != OPEN_STATE or not queue:
            self._queue = None
            return
        message = queue.popleft()
        try:
            self.server.message(self, message)
        except Exception:
            logger.error("connection %s failed", self.peer, exc_info=True)
            self.fail(CloseCode.INTERNAL, "internal error")
            return
        if self.session is not None and self.session.busy:
            self._scheduled = True  # the server calls go_on() once the session is done
            return
        self.go_on()

    def go_on(self) -> None:
        """Hand the session the next queued message on a later turn, if there is one."""
        self._scheduled = False
        if self._queue:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._next_message)
            return
        self._queue = None  # an idle connection holds no queue
        if self._reading_paused and self.transport is not None:
            self.transport.resume_reading()
            self._reading_paused = False
            self._resumed_at = time.monotonic()  # the pongs that waited are still to be read

    # --- sending ------------------------------------------------------------------------------

    def write(self, wire: bytes) -> None:
        """Write frame bytes built by the session (nothing once closing); a ping follows
        every ``max_lag * PROBE_EVERY`` seconds while frames flow."""
        transport = self.transport
        if self.state != OPEN_STATE:
            if self.state == SSE:
                self._write_sse(wire)
            return
        if (transport is None or transport.is_closing() or self.protocol is None
                or self.protocol.state is not OPEN):
            return
        now = time.monotonic()
        if not self.bytes_since_ping:  # the first frame since the last ping
            if self._unread_since is None:
                self._unread_since = now
            if self._pings and self._pings[-1][2] is None:
                self._pings[-1][2] = now
            self.drained = False
        self.bytes_since_ping += len(wire)
        self.behind = self.lag(now) > self._max_lag
        if now - self.last_ping >= self._probe_every:
            wire += self._next_ping(now)  # one write for both
        transport.write(wire)

    def ping(self, now: float) -> None:
        """Send a ping. It queues behind everything written before it, so its pong says the
        client has read all that (:meth:`lag`). Up to ``MAX_PINGS`` may be outstanding. An
        SSE stream gets a comment instead, a keepalive for the proxies on the way."""
        if self.state == SSE:
            self._write_sse(sse.KEEPALIVE)
            return
        ping = self._next_ping(now)
        if ping and self.transport is not None and not self.transport.is_closing():
            self.transport.write(ping)

    def _next_ping(self, now: float) -> bytes:
        """The bytes of the next ping, for the caller to write (``b""`` when none may go).
        Built here like the data frames: the protocol object plays no part in sending a ping,
        only in reading its pong."""
        if (self.protocol is None or self.state != OPEN_STATE
                or self.protocol.state is not OPEN or len(self._pings) >= MAX_PINGS):
            return b""
        number = self._pinged + 1
        self._pinged = number
        since = self._unread_since
        if not self._pings and since is not None and since < now - self._probe_every:
            # frames no ping asked about, written before a pause: they count from now on as
            # if sent a ping's interval ago (lag errs by at most that, as between two pings)
            self._unread_since = now - self._probe_every
        self._pings.append([number, now, None, self._unread_since is None and not self._pings])
        self.last_ping = now
        self.bytes_since_ping = 0
        return _PING_HEAD + number.to_bytes(8, "big")

    def _pong(self, data: bytes | bytearray | memoryview) -> None:
        """A pong answers its ping and every earlier one (RFC 6455, 5.5.3); one that answers
        no ping of ours says nothing about what the client has read, and is ignored."""
        if len(data) == 8:
            self._pong_number(int.from_bytes(data, "big"))

    def _pong_number(self, number: int) -> None:
        pings = self._pings
        if not pings or not pings[0][0] <= number <= pings[-1][0]:
            return
        while pings and pings[0][0] <= number:
            _, sent, after, quiet = pings.pop(0)  # at most MAX_PINGS wait
        self._unread_since = after  # what was written after that ping may be unread
        self.drained = quiet and after is None
        self.round_trip = time.monotonic() - sent
        self.server.ponged(self)

    def lag(self, now: float) -> float:
        """How long the oldest frame the client may not have read yet has waited (0 when
        every frame was followed by an answered ping). Frames read but not answered for yet
        count: the figure errs by at most the time between two pings, on the side of lag.
        While this side does not read the connection (its operations wait to be carried out),
        the pongs wait too, so nothing is known: 0 while reading is paused, and after it
        resumes, lag counts from then. Frames written since the last answered ping, with no
        ping sent after them yet (a stream that paused: the bus away, a slow symbol), are not
        counted: the next frame carries a ping, and lag is measured from it.
        """
        since = self._unread_since
        if since is None or self._reading_paused or not self._pings:
            return 0.0  # no ping asks about what was written since: nothing says it is unread
        return now - max(since, self._resumed_at)

    def ping_age(self, now: float) -> float:
        """How long the oldest ping not answered has waited (0 when none waits)."""
        pings = self._pings
        return now - pings[0][1] if pings else 0.0

    @property
    def pinging(self) -> bool:
        """A ping waits for its pong."""
        return bool(self._pings)

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake; the connection is cut if it is not done in time."""
        if self.state == HEAD:
            self.respond(http.error_response(503, "the server is shutting down"))
            return
        if self.state in (SSE, SSE_PENDING):
            self._end_sse(code, reason)
            return
        if self.protocol is None or self.state != OPEN_STATE:
            return
        self.state = CLOSING
        self.close_code, self.close_reason = code, reason
        try:
            self.protocol.send_close(code, reason)
        except InvalidState:
            pass
        if code == CloseCode.SLOW_CONSUMER:
            self._unlimit_kernel()  # what it was sent, then the close frame, for when it reads
        self._send_protocol_data()
        self._cut_after(self.server.close_timeout)

    def _end_sse(self, code: int, reason: str) -> None:
        """End an SSE stream: a comment says why, then the connection closes once what was
        written is sent (or is cut after the close timeout). The browser reconnects."""
        if self.state == SSE:
            self._write_sse(sse.closing(f"{code} {reason}"))
        self.state = CLOSING
        self.close_code, self.close_reason = code, reason
        if self.transport is not None:
            self.transport.close()
        self._cut_after(self.server.close_timeout)

    def fail(self, code: int, reason: str) -> None:
        """Close after a failure: 500 to a request not yet answered, else ``code``."""
        if self.state in (HEAD, SSE_PENDING):
            self.respond(http.error_response(500, reason))
        else:
            self.close(code, reason)

    def _cut_after(self, seconds: float) -> None:
        transport = self.transport
        if transport is None or self._cut is not None or self.state == DONE:
            return
        self._cut = asyncio.get_running_loop().call_later(seconds, self._cut_now)

    def _cut_now(self) -> None:
        """The closing handshake did not finish in time. When everything, the close frame
        included, is in the kernel, the socket is closed the usual way: the kernel still
        delivers it to a reader that comes back, at no cost to this process. Otherwise the
        connection is reset."""
        transport = self.transport
        if transport is None:
            return
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    def _unlimit_kernel(self) -> None:
        """Let the kernel take as much unsent data as its buffer holds (nothing more is going
        to be measured, only delivered if it can be)."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_NOTSENT_LOWAT, 0)  # 0: the OS default
            except OSError:
                pass

    def set_deadline(self, seconds: float, callback: Callable[..., None], *args: Any) -> None:
        """Call ``callback(*args)`` in ``seconds`` unless the connection is gone by then."""
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = asyncio.get_running_loop().call_later(seconds, callback, *args)

    def _send_protocol_data(self) -> None:
        protocol, transport = self.protocol, self.transport
        if protocol is None or transport is None:
            return
        for data in protocol.data_to_send():
            if transport.is_closing():
                break
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                try:
                    transport.write_eof()
                except OSError:  # the peer is gone already (ENOTCONN): nothing to half-close
                    transport.abort()
                    break
        if protocol.close_expected() or protocol.state is CLOSED:
            if not transport.is_closing():
                transport.close()
            self._cut_after(self.server.close_timeout)

    # --- what the server reads ----------------------------------------------------------------

    @property
    def backlog(self) -> int:
        """Bytes waiting in the transport."""
        transport = self.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def describe(self) -> dict[str, Any]:
        return {"peer": self.peer, "state": self.state}
