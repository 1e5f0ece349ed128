"""The server-sent events door, GET /sse: the query is a subscribe, the stream its events,
``Last-Event-ID`` a resume; the limits, token and origin rules are the WebSocket door's.

Real servers on loopback, read by a plain HTTP client over asyncio streams (and by curl);
every wait is bounded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from simulation import GBMParams, path
from streamer import sse
from streamer.server import StreamServer
from tests.conftest import small_market, timeout, wait_for, ws_url
from wire import commands, events
from wire.errors import CommandError

# --- the query and the events, with no server ---------------------------------------------------


def test_a_query_becomes_the_websocket_doors_subscribe():
    text = sse.subscribe_text("symbol=ACME&history=5&token=abc")
    assert orjson.loads(text) == {"op": "subscribe", "symbol": "ACME", "history": 5}
    cmd = commands.parse(sse.subscribe_text("mu=0.1&sigma=0.2&seed=7&interval=0.5&t0=1e9"))
    assert isinstance(cmd, commands.Subscribe)
    assert (cmd.spec.mu, cmd.spec.sigma, cmd.spec.seed, cmd.spec.interval, cmd.spec.t0) == (
        0.1, 0.2, 7, 0.5, 1e9)


@pytest.mark.parametrize(("query", "field", "words"), [
    ("mu=abc", "mu", "mu must be a number, got 'abc'"),
    ("seed=1.5", "seed", "seed"),
    ("symbol=ACME&symbol=BOLT", "symbol", "given twice"),
    ("op=list", "op", "unknown query parameter 'op'"),
    ("colour=red", "colour", "unknown query parameter 'colour'"),
    ("seed=" + "9" * 5000, "seed", "seed must be an integer"),
])
def test_a_bad_query_is_refused_naming_the_parameter(query, field, words):
    with pytest.raises(CommandError) as caught:
        commands.parse(sse.subscribe_text(query))
    assert caught.value.field == field and words in caught.value.message


def test_last_event_id_resumes_from_the_next_seq_instead_of_the_history():
    fields = orjson.loads(sse.subscribe_text("symbol=ACME&history=50", "1234"))
    assert fields == {"op": "subscribe", "symbol": "ACME", "fromSeq": 1235}
    private = orjson.loads(sse.subscribe_text("seed=3&t0=1764374400", "9"))
    assert private["fromSeq"] == 10 and private["seed"] == 3
    paced = orjson.loads(sse.subscribe_text("symbol=ACME&fromTime=1764374400.5&pace=asap",
                                            "77"))
    assert paced == {"op": "subscribe", "symbol": "ACME", "pace": "asap", "fromSeq": 78}


@pytest.mark.parametrize("query", ["", "seed=3", "t0=1764374400", "interval=0.5"])
def test_a_private_stream_the_url_does_not_name_starts_afresh_on_a_reconnect(query):
    assert "fromSeq" not in orjson.loads(sse.subscribe_text(query, "9"))


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "9" * 30, "１２", "99999999999999999999",
                                   str(2**63), "9" * 10_000])
def test_a_last_event_id_that_is_not_a_seq_is_refused_by_name(value):
    with pytest.raises(CommandError) as caught:
        sse.subscribe_text("symbol=ACME", value)
    assert caught.value.field == "Last-Event-ID"


def test_ticks_and_ends_carry_their_seq_as_id_and_the_other_events_none():
    parts = [events.Subscribed(1, 1, "ACME", 40, 70.0, 1.0, 0.0, {}).encode(),
             events.Tick(1, 38, 70.1, 0.9).encode(),
             events.Lagging(1, 5, 45).encode(),
             events.Tick(1, 45, 70.2, 1.1).encode(),
             events.End(1, 46).encode()]
    text = sse.events_text(parts).decode()
    blocks = [block.split("\n") for block in text.split("\n\n") if block]
    assert [b[0] for b in blocks] == ["event: subscribed", "event: tick", "event: lagging",
                                      "event: tick", "event: end"]
    assert [line for b in blocks for line in b if line.startswith("id:")] == [
        "id: 38", "id: 45", "id: 46"]
    assert [orjson.loads(b[-1].removeprefix("data: ")) for b in blocks] == [
        orjson.loads(p) for p in parts]


# --- a client of the door -----------------------------------------------------------------------


class Stream:
    """One ``/sse`` response: its status and headers, then its events as they come."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.comments: list[str] = []
        self.retry: int | None = None

    async def read_head(self) -> None:
        head = await wait_for(self.reader.readuntil(b"\r\n\r\n"))
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in
                        (line.partition(":") for line in lines[1:] if line)}
        if self.status != 200:
            self.body = await wait_for(self.reader.read())

    async def event(self, seconds: float = 5.0) -> dict[str, Any] | None:
        """The next event as ``{"event", "id", "data"}``; ``None`` once the stream ends."""
        while True:
            block = await wait_for(self.reader.readuntil(b"\n\n"), seconds)
            fields: dict[str, Any] = {}
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
            if "retry" in fields:
                self.retry = int(fields.pop("retry"))
            if "data" in fields:
                fields["data"] = orjson.loads(fields["data"])
                return fields

    async def ticks(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` tick events."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            event = await self.event()
            assert event is not None
            if event["event"] == "tick":
                found.append(event)
        return found


@asynccontextmanager
async def sse_get(port: int, query: str = "", headers: dict[str, str] | None = None, *,
                  method: str = "GET", receive_buffer: int | None = None
                  ) -> AsyncIterator[Stream]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # a reader whose kernel holds little
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    lines = [f"{method} /sse?{query} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             "Accept: text/event-stream",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    stream = Stream(reader, writer)
    try:
        await stream.read_head()
        yield stream
    finally:
        writer.close()


# --- the door -----------------------------------------------------------------------------------


async def test_a_symbol_streams_as_events_with_their_seq_as_id(server):
    async with sse_get(server.port, "symbol=BOLT&history=3") as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-store"
        ack = await stream.event()
        assert ack is not None and ack["event"] == "subscribed" and "id" not in ack
        assert ack["data"]["symbol"] == "BOLT" and stream.retry == sse.RETRY_MS
        ticks = await stream.ticks(12)
    seqs = [int(t["id"]) for t in ticks]
    assert [t["data"]["seq"] for t in ticks] == seqs
    assert seqs == list(range(seqs[0], seqs[0] + 12))  # history, then live, no gap
    assert seqs[0] == ack["data"]["seq"] - 2
    assert all(t["data"]["type"] == "tick" for t in ticks)


async def test_the_same_ticks_as_the_websocket_door(server):
    async with sse_get(server.port, "symbol=BOLT") as stream, connect(ws_url(server)) as ws:
        await ws.send('{"op": "subscribe", "symbol": "BOLT"}')
        by_ws: dict[int, float] = {}
        by_sse = {t["data"]["seq"]: t["data"]["price"] for t in await stream.ticks(15)}
        while max(by_sse) not in by_ws:
            for event in orjson.loads(await wait_for(ws.recv())):
                if event["type"] == "tick":
                    by_ws[event["seq"]] = event["price"]
    common = set(by_ws) & set(by_sse)
    assert len(common) >= 5 and all(by_ws[k] == by_sse[k] for k in common)


async def test_last_event_id_resumes_a_symbol_with_no_gap_and_no_repeat(server):
    async with sse_get(server.port, "symbol=BOLT") as first:
        seen = await first.ticks(10)
    last = seen[-1]["data"]["seq"]
    async with sse_get(server.port, "symbol=BOLT", {"Last-Event-ID": str(last)}) as again:
        resumed = await again.ticks(30)
    assert [t["data"]["seq"] for t in resumed] == list(range(last + 1, last + 31))


async def test_last_event_id_resumes_a_private_stream_named_by_seed_and_t0(server):
    async with sse_get(server.port, "seed=11&interval=0.02&mu=0.1") as first:
        ack = await first.event()
        assert ack is not None
        t0 = ack["data"]["t0"]
        seen = await first.ticks(5)
    last = seen[-1]["data"]["seq"]
    query = f"seed=11&interval=0.02&mu=0.1&t0={t0!r}"
    async with sse_get(server.port, query, {"Last-Event-ID": str(last)}) as again:
        resumed = await again.ticks(20)
    seqs = [t["data"]["seq"] for t in resumed]
    assert seqs == list(range(last + 1, last + 21))
    expected = path(GBMParams(70.0, 0.1, 0.3, 1.0), 11, last + 21)
    assert [t["data"]["price"] for t in resumed] == expected[last + 1:last + 21].tolist()


@pytest.mark.parametrize(("query", "field"), [
    ("symbol=NOPE", "symbol"), ("mu=abc", "mu"), ("sigma=-1", "sigma"),
    ("interval=0", "interval"), ("colour=red", "colour"), ("history=5&fromSeq=3", "history"),
])
async def test_a_bad_query_is_a_400_naming_what_was_wrong_before_any_event(server, query,
                                                                           field):
    async with sse_get(server.port, query) as stream:
        assert stream.status == 400
        assert stream.headers["content-type"] == "application/json"
        body = orjson.loads(stream.body)
        assert body["field"] == field and body["error"]
    assert server.health()["sse"] == 0


@pytest.mark.parametrize("value", ["yesterday", "99999999999999999999", "1" + "0" * 30])
async def test_a_bad_last_event_id_is_a_400_naming_it(server, value):
    async with sse_get(server.port, "symbol=ACME", {"Last-Event-ID": value}) as stream:
        assert stream.status == 400
        assert orjson.loads(stream.body)["field"] == "Last-Event-ID"
    async with sse_get(server.port, "symbol=ACME", {"Last-Event-ID": "1",
                                                    "last-event-id": "2"}) as stream:
        assert stream.status == 400  # which one? neither


async def test_a_seed_beyond_64_bits_is_refused_in_the_websocket_doors_words(server):
    async with sse_get(server.port, "seed=18446744073709551616") as stream, \
            connect(ws_url(server)) as ws:
        await ws.send('{"op": "subscribe", "seed": 18446744073709551616}')
        by_ws = orjson.loads(await wait_for(ws.recv()))[0]
        assert stream.status == 400
        body = orjson.loads(stream.body)
        assert (body["code"], body["field"], body["error"]) == (
            by_ws["code"], "seed", by_ws["message"])
        assert "got 18446744073709551616" in body["error"]


async def test_a_query_too_long_for_a_subscribe_is_414_not_the_servers_fault(server):
    async with sse_get(server.port, "symbol=" + "A" * 5_000) as stream:
        assert stream.status == 414 and "retry-after" not in stream.headers
        assert "--max-message-bytes" in orjson.loads(stream.body)["error"]


async def test_a_finite_stream_closes_after_its_end_and_a_resume_after_it_gets_204(server):
    async with sse_get(server.port, "interval=0.01&periods=20&seed=3") as first:
        ack = await first.event()
        assert ack is not None
        seen = []
        while (event := await first.event()) is not None and event["event"] != "end":
            seen.append(int(event["id"]))
        assert event is not None and int(event["id"]) == 19 and seen[-1] == 19
        with pytest.raises(asyncio.IncompleteReadError):  # the server closed the stream
            await first.event()
        assert "closed: 1000 the stream ended" in first.comments
    query = f"interval=0.01&periods=20&seed=3&t0={ack['data']['t0']!r}"
    async with sse_get(server.port, query, {"Last-Event-ID": "19"}) as again:
        assert again.status == 204  # EventSource stops reconnecting
    async with sse_get(server.port, query, {"Last-Event-ID": "15"}) as late:
        assert [t["data"]["seq"] for t in await late.ticks(4)] == [16, 17, 18, 19]
    async with sse_get(server.port, query) as fresh:  # no resume: the ack and the end
        events = [await fresh.event(), await fresh.event()]
        assert [e["event"] for e in events if e] == ["subscribed", "end"]


async def test_only_get_is_answered(server):
    async with sse_get(server.port, "symbol=ACME", method="HEAD") as stream:
        assert stream.status == 405 and stream.headers["allow"] == "GET"
    async with sse_get(server.port, "symbol=ACME", method="POST") as stream:
        assert stream.status == 405  # refused with every other door's POSTs


async def test_streams_count_as_connections_and_show_in_health_and_metrics(server):
    async with sse_get(server.port, "symbol=ACME") as stream, connect(ws_url(server)):
        await stream.event()
        health = server.health()
        assert (health["connections"], health["sse"]) == (2, 1)
        assert b"streamer_sse_streams 1.0" in server.metrics.render(None)[0]
    async def gone() -> None:
        while server.health()["connections"]:
            await asyncio.sleep(0.01)
    await wait_for(gone())
    assert server.health()["sse"] == 0


async def test_past_the_connection_limit_a_stream_is_refused_with_503(config):
    one = dataclasses.replace(config, max_connections=1)
    async with StreamServer(one, market=small_market(time.time())) as srv, \
            sse_get(srv.port, "symbol=ACME") as first:
        assert first.status == 200
        async with sse_get(srv.port, "symbol=ACME") as second:
            assert second.status == 503 and second.headers["retry-after"] == "1"
            assert "maximum" in orjson.loads(second.body)["error"]


async def test_a_closing_server_ends_the_stream_saying_why(config):
    async with StreamServer(config, market=small_market(time.time())) as srv:
        async with sse_get(srv.port, "symbol=BOLT") as stream:
            await stream.ticks(2)
            srv.close()
            with pytest.raises(asyncio.IncompleteReadError):
                while True:
                    await stream.event()
            await wait_for(srv.wait_closed())
        assert any(c.startswith("closed: 1001") for c in stream.comments), stream.comments


async def test_curl_shows_a_live_stream(server):
    curl = shutil.which("curl")
    assert curl is not None, "curl is a test dependency (scripts/test installs it)"
    proc = await asyncio.create_subprocess_exec(
        curl, "-sN", f"http://127.0.0.1:{server.port}/sse?symbol=BOLT",
        stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        ids: list[int] = []
        while len(ids) < 5:
            line = await wait_for(proc.stdout.readline())
            if line.startswith(b"id: "):
                ids.append(int(line[4:]))
    finally:
        proc.kill()
        await proc.wait()
    assert ids == list(range(ids[0], ids[0] + 5))


# --- access, the same as the WebSocket door's ----------------------------------------------------


@pytest.fixture
def guarded(config):
    return dataclasses.replace(config, token="t0ken", allow_origins=("https://good.example",))


async def test_the_token_and_origin_rules_are_the_websocket_doors(guarded):
    async with StreamServer(guarded, market=small_market(time.time())) as srv:
        async with sse_get(srv.port, "symbol=ACME") as stream:
            assert stream.status == 401
        bad = {"Origin": "https://evil.example"}
        async with sse_get(srv.port, "symbol=ACME&token=t0ken", bad) as stream:
            assert stream.status == 403
        good = {"Origin": "https://good.example"}
        async with sse_get(srv.port, "symbol=ACME&token=t0ken", good) as stream:
            assert stream.status == 200
            assert stream.headers["access-control-allow-origin"] == "https://good.example"
            event = await stream.event()
            assert event is not None and event["event"] == "subscribed"
        # the token as a bearer header, as a client that is not a browser may send it
        async with sse_get(srv.port, "symbol=ACME", {"Authorization": "Bearer t0ken"}) as stream:
            assert stream.status == 200


# --- a slow reader ------------------------------------------------------------------------------


@pytest.fixture
def slow(config):
    return dataclasses.replace(config, max_send_buffer=16 * 1024, slow_consumer_timeout=30.0,
                               socket_send_buffer=8 * 1024)


async def test_a_slow_reader_is_conflated_and_told_how_many_ticks_it_skipped(slow):
    async with StreamServer(slow, market=small_market(time.time())) as srv, \
            sse_get(srv.port, "interval=0.001&seed=4", receive_buffer=4096) as stream:
        assert stream.status == 200
        stream.writer.transport.pause_reading()  # type: ignore[attr-defined]

        async def conflated() -> None:
            while srv.health()["ticks_conflated"] < 300:
                await asyncio.sleep(0.01)
        await wait_for(conflated(), 15)
        stream.writer.transport.resume_reading()  # type: ignore[attr-defined]
        last = None
        lagging: list[dict[str, Any]] = []
        while not lagging or (len(lagging) and last is not None and last < lagging[0]["seq"] + 50):
            event = await stream.event(timeout(10))
            assert event is not None
            data = event["data"]
            if event["event"] == "lagging":
                lagging.append(data)
                assert data["skipped"] > 0 and data["seq"] == last + data["skipped"] + 1
                last = data["seq"] - 1
            elif event["event"] == "tick":
                if last is not None:
                    assert data["seq"] == last + 1, "a seq jump with no lagging first"
                last = data["seq"]
        assert sum(e["skipped"] for e in lagging) >= 300
