"""The minimal WebSocket client's pure parts, and its frame reader fed by hand."""

from __future__ import annotations

import struct

from clients.load.wsclient import WebSocketClient, accept_key, handshake_request
from wire.frames import OP_CLOSE, OP_TEXT, client_frame
from wire.frames import server_frame as final_frame


def server_frame(payload: bytes, opcode: int = OP_TEXT, final: bool = True) -> bytes:
    """A server frame; a fragment (not final) has its FIN bit cleared."""
    frame = final_frame(payload, opcode)
    return frame if final else bytes([frame[0] & 0x7F]) + frame[1:]


def test_the_accept_key_is_rfc_6455s_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_the_upgrade_request_carries_path_query_host_and_token() -> None:
    request = handshake_request("ws://127.0.0.1:8765/ws?x=1", "KEY", token="t0k").decode()
    lines = request.split("\r\n")
    assert lines[0] == "GET /ws?x=1 HTTP/1.1"
    assert "Host: 127.0.0.1:8765" in lines
    assert "Sec-WebSocket-Key: KEY" in lines
    assert "Authorization: Bearer t0k" in lines
    assert request.endswith("\r\n\r\n")


class Recorder(WebSocketClient):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[bytes] = []
        self.opened.set_result(None)

    def on_message(self, payload, now) -> None:
        self.messages.append(bytes(payload))


def feed(client: WebSocketClient, data: bytes, chunk: int) -> None:
    """Deliver ``data`` as asyncio would, ``chunk`` bytes per read, through get_buffer."""
    start = 0
    while start < len(data):
        buffer = client.get_buffer(-1)
        piece = data[start:start + min(chunk, len(buffer))]
        buffer[:len(piece)] = piece
        client.buffer_updated(len(piece))
        start += len(piece)


async def test_frames_split_anywhere_across_reads_arrive_whole_and_in_order() -> None:
    payloads = [b"[1]", b"a" * 200, b"b" * 70_000, b"[2]", b"c" * 400_000, b"[3]"]
    stream = b"".join(server_frame(p) for p in payloads)
    for chunk in (1, 7, 125, 4096, 65536, len(stream)):
        client = Recorder()
        feed(client, stream, chunk)
        assert client.messages == payloads, chunk


async def test_fragmented_messages_are_joined() -> None:
    client = Recorder()
    stream = (server_frame(b"[1,", final=False) + server_frame(b"2,", opcode=0, final=False)
              + server_frame(b"3]", opcode=0))
    feed(client, stream, 5)
    assert client.messages == [b"[1,2,3]"]


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_a_close_from_the_server_is_echoed_and_its_code_kept() -> None:
    client = Recorder()
    transport = FakeTransport()
    client.connection_made(transport)  # type: ignore[arg-type]
    feed(client, server_frame(struct.pack("!H", 1001) + b"bye", opcode=OP_CLOSE), 64)
    assert client.close_code == 1001 and client.close_reason == "bye"
    assert transport.written == [client_frame(struct.pack("!H", 1001), OP_CLOSE)]
    assert transport.closed and client.closing and not client.initiated_close
