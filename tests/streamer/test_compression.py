"""permessage-deflate, off by default (``--compression deflate``): negotiated with clients
that offer it, each message compressed on its own (so a frame shared by many connections is
compressed once per instant), small frames sent as they are, and the size of what a client
sends bounded after decompression."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import zlib
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamer import deflate
from streamer.config import ServerConfig
from streamer.server import StreamServer
from tests.conftest import small_market, wait_for, ws_url

TICK = '{"type":"tick","sub":1,"seq":1,"price":1.5,"time":2.0}'


@pytest.fixture
def config(config):
    return dataclasses.replace(config, compression="deflate")


def inflate(frame: bytes, bits: int = 15) -> bytes:
    """The payload of a compressed server frame (RSV1 set), inflated on its own."""
    assert frame[0] == 0x80 | 0x40 | 0x1, hex(frame[0])  # FIN, RSV1, text
    length = frame[1] & 0x7F
    start = 2 if length < 126 else 4 if length == 126 else 10
    return zlib.decompressobj(-bits).decompress(frame[start:] + b"\x00\x00\xff\xff")


# --- the frames, with no server -----------------------------------------------------------------


def test_a_compressed_frame_inflates_back_to_its_payload_on_its_own():
    payload = orjson.dumps([{"type": "tick", "sub": 1, "seq": k, "price": 70.0 + k / 7,
                             "time": 1.0 + k} for k in range(50)])
    for bits in (9, 12, 15):
        wire = deflate.compressed(payload, bits)
        assert inflate(wire, bits) == payload
        assert len(wire) < len(payload) / 2


def test_small_frames_go_uncompressed_and_each_window_size_has_one_framing():
    framing = deflate.deflate_framing(15)
    assert framing is deflate.deflate_framing(15)
    assert framing is not deflate.deflate_framing(12)
    assert framing([TICK])[0] == 0x81  # FIN, text, no RSV1
    assert inflate(framing([TICK] * 10)) == ("[" + ",".join([TICK] * 10) + "]").encode()
    assert deflate.framing([]) is None  # a connection without the extension: plain frames


def test_compression_is_a_setting_with_two_values():
    with pytest.raises(ValueError, match="compression must be one of none, deflate"):
        ServerConfig(compression="gzip")


# --- a server -----------------------------------------------------------------------------------


async def history_frame(url: str, **options: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """The extensions negotiated, and the events of the ack's frame (with 5 ticks of history),
    as a websockets client reads them."""
    async with connect(url, **options) as ws:
        await ws.send('{"op": "subscribe", "symbol": "SLOW", "history": 5}')
        frame = orjson.loads(await wait_for(ws.recv()))
        assert ws.response is not None
        return ws.response.headers.get("Sec-WebSocket-Extensions"), frame


async def test_a_client_that_offers_deflate_gets_it_without_context_takeover(server):
    extensions, frame = await history_frame(ws_url(server))
    assert extensions is not None
    assert "permessage-deflate" in extensions and "server_no_context_takeover" in extensions
    assert frame[0]["type"] == "subscribed" and len(frame) == 6


async def test_a_client_that_does_not_offer_it_gets_plain_frames(server):
    extensions, frame = await history_frame(ws_url(server), compression=None)
    assert extensions is None and len(frame) == 6


async def test_off_by_default(config):
    async with StreamServer(dataclasses.replace(config, compression="none"),
                            market=small_market(time.time())) as srv:
        extensions, _ = await history_frame(ws_url(srv))
    assert extensions is None


async def test_compressed_and_plain_clients_read_the_same_events(server):
    async with connect(ws_url(server)) as packed, connect(ws_url(server),
                                                          compression=None) as plain:
        got: dict[str, dict[int, float]] = {"packed": {}, "plain": {}}
        for ws in (packed, plain):
            await ws.send('{"op": "subscribe", "symbol": "BOLT", "history": 30}')
        while min(len(v) for v in got.values()) < 60:
            for name, ws in (("packed", packed), ("plain", plain)):
                for event in orjson.loads(await wait_for(ws.recv())):
                    if event["type"] in ("tick", "subscribed"):
                        got[name][event["seq"]] = event["price"]
    common = set(got["packed"]) & set(got["plain"])
    assert len(common) >= 50
    assert all(got["packed"][k] == got["plain"][k] for k in common)


async def test_the_bytes_on_the_wire_are_compressed(server):
    """A raw client offering deflate: the history frame has RSV1 set and is far smaller."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
    head = await wait_for(reader.readuntil(b"\r\n\r\n"))
    assert b" 101 " in head and b"permessage-deflate" in head
    message = orjson.dumps({"op": "subscribe", "symbol": "BOLT", "history": 200})
    writer.write(bytes((0x81, 0x80 | len(message))) + b"\0\0\0\0" + message)
    first = await wait_for(reader.readexactly(2))
    size = first[1] & 0x7F
    extended = await wait_for(reader.readexactly({126: 2, 127: 8}.get(size, 0)))
    if extended:
        size = int.from_bytes(extended, "big")
    body = await wait_for(reader.readexactly(size))
    payload = inflate(first + extended + body)
    events = orjson.loads(payload)
    assert events[0]["type"] == "subscribed" and len(events) == 201
    assert size < len(payload) / 3, (size, len(payload))
    writer.close()


async def test_a_message_too_big_once_inflated_is_closed_with_1009_and_others_go_on(config):
    small = dataclasses.replace(config, max_frame_bytes=4096)
    async with StreamServer(small, market=small_market(time.time())) as srv, \
            connect(ws_url(srv)) as bystander, connect(ws_url(srv), max_size=None) as bomb:
        await bystander.send('{"op": "subscribe", "symbol": "BOLT"}')
        await wait_for(bystander.recv())
        # 1 MB of spaces compresses to about a kilobyte: under the limit on the wire only
        await bomb.send('{"op": "ping"' + " " * 1_000_000 + "}")
        with pytest.raises(ConnectionClosed):
            while True:
                await wait_for(bomb.recv())
        assert bomb.close_code == 1009
        for _ in range(5):  # the other connection streams on
            assert orjson.loads(await wait_for(bystander.recv()))[0]["type"] == "tick"


async def test_a_shared_frame_is_compressed_once_per_instant_for_all_its_readers(
        server, monkeypatch):
    calls: list[int] = []
    real = deflate.compressed

    def counted(payload: bytes, window_bits: int = 15) -> bytes:
        calls.append(len(payload))
        return real(payload, window_bits)
    monkeypatch.setattr(deflate, "COMPRESS_FROM", 0)  # so that one tick's frame is compressed
    monkeypatch.setattr(deflate, "compressed", counted)
    clients = [await connect(ws_url(server)) for _ in range(8)]
    try:
        for ws in clients:
            await ws.send('{"op": "subscribe", "symbol": "BOLT"}')
            await wait_for(ws.recv())  # the ack, each compressed for its own connection
        calls.clear()
        seqs = []
        for ws in clients:
            for _ in range(10):
                seqs.append(orjson.loads(await wait_for(ws.recv()))[0]["seq"])
    finally:
        for ws in clients:
            await ws.close()
    instants = len(set(seqs))
    assert 10 <= instants <= 20
    assert len(calls) <= instants + 2, (len(calls), instants)  # not eight times as many

