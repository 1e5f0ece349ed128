"""The port's own HTTP/WebSocket transport under the attacks a hostile user found: DNS
rebinding, tokens in logs, ambiguous and malformed requests, stalled handshakes, resets,
client-chosen close codes and unfinished frames.

Requests are written by hand on raw sockets (a normal client library would refuse to send
them) to an in-process server on 127.0.0.1, port 0. Every wait is bounded by ``wait_for``.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import socket
import struct
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from streamer.config import ServerConfig
from streamer.server import KNOWN_CLOSE_CODES, StreamServer
from tests.conftest import small_market, timeout, wait_for, ws_url
from wire.frames import OP_CLOSE, OP_CONTINUATION, OP_TEXT, ZERO_MASK, client_frame, header

HOST = "127.0.0.1"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
#: A token with characters that percent-encoding changes ("/"), and that a dashboard file name
#: may hold (so that a traceback about a file name can carry it).
TOKEN = "Hunter2/s3cret/t0ken_x-9"
Headers = Iterable[tuple[str, str]]


# --- helpers ------------------------------------------------------------------------------------


@asynccontextmanager
async def serving(config: ServerConfig, **changes: Any) -> AsyncIterator[StreamServer]:
    """A server like the ``server`` fixture's, with some settings changed."""
    async with StreamServer(replace(config, **changes), market=small_market(time.time())) as srv:
        yield srv


def request(method: str = "GET", target: str = "/healthz", headers: Headers = (),
            version: str = "HTTP/1.1", body: bytes = b"") -> bytes:
    """A request as bytes, exactly as given (characters up to U+00FF become one byte)."""
    lines = [f"{method} {target} {version}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def upgrade(target: str = "/ws", headers: Headers = (), host: str = HOST,
            version: str = "HTTP/1.1", method: str = "GET") -> bytes:
    """A WebSocket upgrade request, with ``headers`` after the usual ones."""
    return request(method, target, [("Host", host), ("Upgrade", "websocket"),
                                    ("Connection", "Upgrade"), ("Sec-WebSocket-Key", KEY),
                                    ("Sec-WebSocket-Version", "13"), *headers], version)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    """Lowercased names."""
    body: bytes
    rest: bytes
    """What came after the body (after a 101: the first frames)."""
    reset: bool
    """The server reset the connection instead of closing it."""


def parse_reply(data: bytes, reset: bool = False) -> Reply:
    head, blank, after = data.partition(b"\r\n\r\n")
    assert blank, f"no complete response head in {data[:300]!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, status, _ = status_line.split(" ", 2)
    assert version == "HTTP/1.1", status_line
    headers = {name.strip().lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    assert len(after) >= length, (headers, after)
    return Reply(int(status), headers, after[:length], after[length:], reset)


async def read_until_closed(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    """Everything until the server closes; and whether it reset the connection."""
    received = bytearray()
    try:
        while chunk := await reader.read(65536):
            received += chunk
    except ConnectionResetError:
        return bytes(received), True
    return bytes(received), False


async def exchange(port: int, data: bytes, seconds: float = 5.0) -> Reply:
    """Send ``data`` in one write; the reply, read until the server closes the connection."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(data)
        received, reset = await wait_for(read_until_closed(reader), seconds)
    finally:
        writer.close()
    return parse_reply(received, reset)


async def upgrade_status(port: int, data: bytes) -> int:
    """The status of the answer to an upgrade request (the connection is then dropped)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(data)
        head = await wait_for(reader.readuntil(b"\r\n\r\n"))
    finally:
        writer.close()
    return int(head.split(b" ", 2)[1])


async def open_ws(port: int, target: str = "/ws") -> tuple[asyncio.StreamReader,
                                                          asyncio.StreamWriter]:
    """A raw upgraded connection."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(upgrade(target))
    head = await wait_for(reader.readuntil(b"\r\n\r\n"))
    assert head.startswith(b"HTTP/1.1 101 "), head
    return reader, writer


def frames_in(data: bytes) -> list[tuple[int, bytes]]:
    """``(opcode, payload)`` of the complete unmasked (server) frames in ``data``."""
    found, i = [], 0
    while i + 2 <= len(data):
        opcode, length, i = data[i] & 0x0F, data[i + 1] & 0x7F, i + 2
        if length == 126:
            length, i = int.from_bytes(data[i:i + 2]), i + 2
        elif length == 127:
            length, i = int.from_bytes(data[i:i + 8]), i + 8
        if i + length > len(data):
            break
        found.append((opcode, data[i:i + length]))
        i += length
    return found


def masked(opcode: int, payload: bytes, *, fin: bool = True, size: int | None = None) -> bytes:
    """A client frame (zero mask); ``size`` announces another length than the payload's."""
    head = bytearray(header(opcode, len(payload) if size is None else size, masked=True))
    if not fin:
        head[0] &= 0x7F
    return bytes(head) + ZERO_MASK + payload


def close_code(data: bytes) -> int | None:
    """The code of the first close frame in server-to-client bytes."""
    for opcode, payload in frames_in(data):
        if opcode == OP_CLOSE:
            return int.from_bytes(payload[:2]) if len(payload) >= 2 else None
    return None


def reset(writer: asyncio.StreamWriter) -> None:
    """Drop a connection with a TCP reset (SO_LINGER 0), not a FIN."""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
    writer.transport.abort()


async def until(condition: Any, seconds: float = 5.0) -> None:
    """Wait (bounded) until ``condition()`` holds."""
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)
    await wait_for(poll(), seconds)


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("streamer") and r.levelno >= logging.ERROR]


# --- 1. DNS rebinding ---------------------------------------------------------------------------


async def test_a_rebinding_host_and_its_origin_are_refused_while_the_real_own_origin_is_not(
        config):
    async with serving(config, allow_origins=("https://dash.example",)) as server:
        port = server.port
        rebound = f"rebind.example:{port}"
        assert await upgrade_status(port, upgrade(host=rebound, headers=[
            ("Origin", f"http://{rebound}")])) == 403
        assert await upgrade_status(port, upgrade(host=f"{HOST}:{port}", headers=[
            ("Origin", f"http://{HOST}:{port}")])) == 101
        assert await upgrade_status(port, upgrade(host=rebound, headers=[
            ("Origin", "https://dash.example")])) == 101  # listed: allowed whatever the Host
        assert server.io.refused[403] == 1


# --- 2. the token in logs -----------------------------------------------------------------------


def token_spellings(token: str) -> set[str]:
    """The token as given, percent-encoded (either case of hex), and base64-encoded."""
    encoded = quote(token, safe="")
    lower = "%".join(part if i == 0 else part[:2].lower() + part[2:]
                    for i, part in enumerate(encoded.split("%")))
    return {token, encoded, lower, *(
        codec(text.encode()).decode().rstrip("=") for text in (token, f"user:{token}")
        for codec in (base64.b64encode, base64.urlsafe_b64encode))}


def leaks(caplog: pytest.LogCaptureFixture, token: str) -> list[str]:
    """Every logged line that holds a spelling of the token (messages, tracebacks, the
    formatted text)."""
    texts = [caplog.text, *(r.getMessage() for r in caplog.records),
             *(r.exc_text or "" for r in caplog.records)]
    return [line for text in texts for line in text.splitlines()
            if any(spelling in line for spelling in token_spellings(token))]


async def test_the_token_reaches_no_log_in_any_spelling_a_client_sends_it_in(config, caplog):
    caplog.set_level(logging.DEBUG, logger="streamer")
    encoded = quote(TOKEN, safe="")
    basic = base64.b64encode(f"user:{TOKEN}".encode()).decode()
    async with serving(config, token=TOKEN) as server:
        port = server.port
        http_statuses = [(await exchange(port, request(target=target, headers=headers))).status
                         for target, headers in [
            (f"/healthz?tok%65n={encoded}", []),
            (f"/healthz?token={TOKEN}", []),
            (f"/healthz?token={encoded.replace('%2F', '%2f')}", []),
            (f"/healthz?x=1&token={encoded}&y=2", []),
            ("/healthz", [("Authorization", f"Bearer {TOKEN}")]),
            ("/healthz", [("Authorization", f"bearer   {TOKEN}  ")]),
            ("/healthz", [("Authorization", f"Token {TOKEN}")]),
            ("/healthz", [("Authorization", f"Basic {basic}")]),
            ("/healthz", [("Cookie", f"token={TOKEN}")]),
            (f"/static/{TOKEN}{'a' * 300}.js", []),  # a traceback about the file name
        ]]
        assert http_statuses[:6] == [200] * 6 and http_statuses[6:9] == [401] * 3
        authorised = f"/ws?token={encoded}"
        ws_statuses = [await upgrade_status(port, upgrade(target, headers))
                       for target, headers in [
            (authorised, []),
            ("/ws", [("Authorization", f"Bearer {TOKEN}")]),
            (authorised, [("Sec-WebSocket-Protocol", TOKEN)]),  # not a token: a traceback
            (authorised, [("Sec-WebSocket-Protocol", "chat, Hunter2")]),
            (authorised, [("Authorization", f"Token {TOKEN}")]),
            (authorised, [("Authorization", f"Basic {basic}")]),
            (authorised, [("Proxy-Authorization", f"Bearer {TOKEN}")]),
            (authorised, [("Cookie", f"token={encoded}")]),
            (authorised, [("Sec-WebSocket-Key", TOKEN)]),  # an invalid key: a traceback
        ]]
        assert ws_statuses[:2] == [101, 101] and all(s < 500 for s in ws_statuses), ws_statuses
        async with connect(f"{ws_url(server)}?token={encoded}") as ws:
            await ws.close(1000, TOKEN)  # the close reason is logged
        await until(lambda: server.io.closes[1000] >= 1)
    lines = [r.getMessage() for r in caplog.records]
    assert any("token=***" in line for line in lines)  # what was logged, redacted
    assert any("Authorization: ***" in line for line in lines)
    assert any("Traceback" in line for line in lines)
    assert leaks(caplog, TOKEN) == []


async def test_the_token_percent_encoded_in_lower_case_hex_is_not_logged(config, caplog):
    caplog.set_level(logging.DEBUG, logger="streamer")
    lower = quote(TOKEN, safe="").replace("%2F", "%2f")
    async with serving(config, token=TOKEN) as server:
        assert (await exchange(server.port, request(target=f"/{lower}"))).status == 401
    assert leaks(caplog, TOKEN) == []


# --- 3. ambiguous headers -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "first", "second"), [
    ("Origin", "https://dash.example", "https://evil.example"),
    ("Authorization", f"Bearer {TOKEN}", "Bearer wrong"),
    ("origin", "https://dash.example", "https://dash.example"),  # even the same, any case
])
async def test_a_repeated_origin_or_authorization_header_is_400(config, caplog, name, first,
                                                               second):
    async with serving(config, token=TOKEN, allow_origins=("https://dash.example",)) as server:
        target = f"/ws?token={quote(TOKEN, safe='')}"
        assert await upgrade_status(server.port, upgrade(target, [(name, first)])) == 101
        reply = await exchange(server.port, upgrade(target, [(name.title(), first),
                                                             (name, second)]))
    assert reply.status == 400
    assert orjson.loads(reply.body) == {
        "error": f"the {name} header is given more than once"}
    assert errors_logged(caplog) == []


# --- 4. pipelining ------------------------------------------------------------------------------


async def test_pipelined_requests_get_the_first_answered_then_a_clean_close(server):
    """Every response closes its connection (streamer/http.py): the second request is not
    read, which ``Connection: close`` tells the client (RFC 9112, 9.3.2: it retries)."""
    reply = await exchange(server.port, request() + request() + request(target="/metrics"))
    assert reply.status == 200 and reply.headers["connection"] == "close"
    assert orjson.loads(reply.body)["status"] == "ok"
    assert reply.rest == b""  # nothing after the first response
    assert not reply.reset  # a FIN: the response is not cut by a reset


# --- 5. a body on GET ---------------------------------------------------------------------------


@pytest.mark.parametrize(("framing", "body"), [
    (("Content-Length", "5"), b"hello"),
    (("Transfer-Encoding", "chunked"), b"5\r\nhello\r\n0\r\n\r\n"),
])
@pytest.mark.parametrize("target", ["/healthz", "/ws"])
async def test_a_get_with_a_body_is_400(server, framing, body, target):
    reply = await exchange(server.port, request(target=target, headers=[("Host", HOST), framing],
                                                body=body))
    assert reply.status == 400
    assert orjson.loads(reply.body) == {"error": "a GET request carries no body"}
    assert not reply.reset


# --- 6. other methods ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["DELETE", "TRACE", "OPTIONS", "BREW"])
@pytest.mark.parametrize("target", ["/healthz", "/ws"])
async def test_a_method_other_than_get_or_head_is_405_with_allow(server, method, target):
    data = (upgrade(target, method=method) if target == "/ws"
            else request(method, target, [("Host", HOST)]))
    reply = await exchange(server.port, data)
    assert reply.status == 405
    assert reply.headers["allow"] == "GET, HEAD"
    assert method in orjson.loads(reply.body)["error"]


# --- 7. handshakes that never complete ----------------------------------------------------------

HANDSHAKE_TIMEOUT = 0.5


async def dribble(port: int, data: bytes, pace: float) -> tuple[Reply, float]:
    """Send ``data`` a byte every ``pace`` seconds until the server answers; the answer and
    how long after connecting it came."""
    reader, writer = await asyncio.open_connection(HOST, port)
    started = time.monotonic()
    try:
        first = b""
        for byte in data:
            writer.write(bytes([byte]))
            try:  # the pace of the attack (not a deadline): the answer ends it
                first = await asyncio.wait_for(reader.read(65536), pace)
                break
            except TimeoutError:
                continue
        answered = time.monotonic() - started
        rest, was_reset = await wait_for(read_until_closed(reader))
    finally:
        writer.close()
    return parse_reply(first + rest, was_reset), answered


@pytest.mark.parametrize(("sent", "pace"), [
    (request(headers=[("Host", HOST), ("User-Agent", "dribbler/1.0")]), 0.2),  # a byte at a time
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", 0.0),  # a head never finished
    (b"", 0.0),  # nothing at all
], ids=["dribbled", "unfinished", "silent"])
async def test_a_head_not_complete_within_handshake_timeout_gets_408_and_others_are_served(
        config, sent, pace):
    async with serving(config, handshake_timeout=HANDSHAKE_TIMEOUT) as server:
        port = server.port
        attack = asyncio.create_task(dribble(port, sent, pace) if pace else stall(port, sent))
        healthz = await exchange(port, request())  # answered meanwhile
        assert not attack.done()
        reply, answered = await wait_for(attack, HANDSHAKE_TIMEOUT + 5)
    assert healthz.status == 200
    assert reply.status == 408 and reply.headers["connection"] == "close"
    assert HANDSHAKE_TIMEOUT * 0.9 <= answered <= HANDSHAKE_TIMEOUT + timeout(1.0)
    assert server.io.http[408] == 1


async def stall(port: int, data: bytes) -> tuple[Reply, float]:
    """Send ``data`` at once, then nothing."""
    reader, writer = await asyncio.open_connection(HOST, port)
    started = time.monotonic()
    try:
        writer.write(data)
        first = await wait_for(reader.read(65536), HANDSHAKE_TIMEOUT + 5)
        answered = time.monotonic() - started
        rest, was_reset = await wait_for(read_until_closed(reader))
    finally:
        writer.close()
    return parse_reply(first + rest, was_reset), answered


# --- 8. resets under a fast stream --------------------------------------------------------------


async def subscribe_then_reset(port: int) -> None:
    reader, writer = await open_ws(port)
    writer.write(client_frame(b'{"op": "subscribe", "interval": 0.001}'))
    await wait_for(reader.readuntil(b'"subscribed"'))
    await wait_for(reader.readuntil(b'"tick"'))  # the stream flows
    reset(writer)


async def test_clients_that_reset_under_a_fast_stream_cause_no_send_warnings(server, caplog):
    caplog.set_level(logging.WARNING, logger="asyncio")
    async with connect(ws_url(server)) as control:
        await control.send('{"op": "subscribe", "interval": 0.001}')
        for _ in range(3):
            await asyncio.gather(*(subscribe_then_reset(server.port) for _ in range(40)))
        await until(lambda: server.health()["connections"] == 1)
        for _ in range(50):  # the stream goes on: writes continue after the resets
            await wait_for(control.recv())
    warnings = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not [w for w in warnings if "socket.send() raised exception" in w], warnings
    assert errors_logged(caplog) == []


# --- 9. client-chosen close codes ---------------------------------------------------------------


async def close_with(port: int, code: int) -> None:
    reader, writer = await open_ws(port)
    try:
        writer.write(client_frame(struct.pack("!H", code), OP_CLOSE))
        await wait_for(read_until_closed(reader))
    finally:
        writer.close()


async def test_client_chosen_close_codes_are_counted_under_a_bounded_set_of_labels(server):
    codes = [*range(4000, 4100), 3000, 4999, 1000, 1001, 1004, 2999, 5000, 65535]
    await asyncio.gather(*(close_with(server.port, code) for code in codes))
    await until(lambda: sum(server.io.closes.values()) == len(codes))
    reply = await exchange(server.port, request(target="/metrics"))
    counts = {s.labels["code"]: s.value
              for family in text_string_to_metric_families(reply.body.decode())
              for s in family.samples if s.name == "streamer_closes_total"}
    assert set(counts) <= {str(code) for code in KNOWN_CLOSE_CODES} | {"other"}
    assert counts["other"] == sum(3000 <= c < 5000 and c not in KNOWN_CLOSE_CODES for c in codes)
    assert counts["1000"] == 1 and sum(counts.values()) == len(codes)


# --- 10. unfinished frames ----------------------------------------------------------------------


async def test_a_frame_announcing_1_mib_is_closed_with_1009_before_its_payload_is_sent(server):
    reader, writer = await open_ws(server.port)
    try:
        writer.write(masked(OP_TEXT, b"x" * 1024, size=1 << 20))
        data, _ = await wait_for(read_until_closed(reader))  # the server hangs up
    finally:
        writer.close()
    assert close_code(data) == 1009  # having read 1 KiB of the 1 MiB announced


async def test_a_message_fragmented_past_max_frame_bytes_is_closed_with_1009(server):
    reader, writer = await open_ws(server.port)
    fragment = b"x" * 1024
    try:
        writer.write(masked(OP_TEXT, fragment, fin=False))
        for _ in range(server.config.max_frame_bytes // len(fragment)):
            writer.write(masked(OP_CONTINUATION, fragment, fin=False))
        data, _ = await wait_for(read_until_closed(reader))
    finally:
        writer.close()
    assert close_code(data) == 1009


async def test_a_hundred_unfinished_frames_of_60_kib_cost_the_server_little_beyond_them(server):
    port, count, sent = server.port, 100, 60 * 1024
    announce = masked(OP_TEXT, b"", size=server.config.max_frame_bytes)
    payload = b"x" * sent
    writers: list[asyncio.StreamWriter] = []
    await exchange(port, request())  # warm up: the code paths of a request
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            _, writer = await open_ws(port)
            writers.append(writer)
            writer.write(announce)
            writer.write(payload)
            await wait_for(writer.drain())
        for _ in range(2):  # the server has read what was sent before it answers these
            assert (await exchange(port, request())).status == 200
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        for writer in writers:
            writer.close()
    assert server.health()["connections"] == count
    # what the clients sent is held once (websockets' reader), plus about 20 KiB a connection
    assert grown < count * (sent + 20 * 1024), f"{grown / 2**20:.1f} MiB for {count} connections"


# --- 11. heads too large, other versions --------------------------------------------------------


@pytest.mark.parametrize("data", [
    request(headers=[("Host", HOST), ("X-Big", "a" * 20_000)]),
    request(headers=[("Host", HOST), *((f"X-{i}", "1") for i in range(101))]),
    b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 17_000,  # never finished: refused at once
], ids=["one-large-header", "101-headers", "unfinished"])
async def test_a_head_too_large_is_431(server, data):
    reply = await exchange(server.port, data)
    assert reply.status == 431


@pytest.mark.parametrize(("data", "status"), [
    (request(version="HTTP/1.0"), 200),
    (request(version="HTTP/2.0"), 505),
    (request(version="HTTP/2"), 505),
    (request(version="HTTP/1.2"), 505),
    (request(version="HTTP/0.9"), 505),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),  # HTTP/2 with prior knowledge
    (upgrade(version="HTTP/1.0"), 505),  # WebSocket needs 1.1
    (request(version="http/1.1"), 400),
], ids=["1.0", "2.0", "2", "1.2", "0.9", "h2-preface", "1.0-upgrade", "lower-case"])
async def test_http_1_0_is_answered_and_other_versions_are_505(server, data, status):
    assert (await exchange(server.port, data)).status == status


# --- tracebacks a request could cause -----------------------------------------------------------


async def test_a_byte_outside_ascii_in_the_target_is_400_without_a_traceback(server, caplog):
    reply = await exchange(server.port, request(target="/healthz?x=\xff"))
    assert (reply.status, errors_logged(caplog)) == (400, [])


async def test_a_dashboard_file_name_too_long_for_the_file_system_is_404_without_a_traceback(
        server, caplog):
    reply = await exchange(server.port, request(target=f"/static/{'a' * 300}.js"))
    assert (reply.status, errors_logged(caplog)) == (404, [])
