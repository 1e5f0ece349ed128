"""The frames this project writes itself (wire/frames.py) are byte for byte those of the
websockets library, so that an upgrade of either cannot silently break them."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from wire import frames

OP_TEXT, OP_BINARY, OP_CLOSE = Opcode.TEXT, Opcode.BINARY, Opcode.CLOSE
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000]


@pytest.mark.parametrize(("opcode", "size"), [
    *((op, size) for op in (OP_TEXT, OP_BINARY) for size in SIZES),
    (OP_CLOSE, 2), (OP_CLOSE, 125),  # control frames carry at most 125 bytes
])
def test_a_server_frame_is_the_librarys_unmasked_frame(size, opcode):
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert frames.server_frame(payload, opcode) == Frame(opcode, payload).serialize(
        mask=False)


@pytest.mark.parametrize("size", SIZES)
def test_a_client_frame_is_the_librarys_frame_masked_with_the_zero_key(size, monkeypatch):
    payload = b"x" * size
    monkeypatch.setattr("websockets.frames.secrets.token_bytes", lambda n: b"\0" * n)
    assert frames.client_frame(payload) == Frame(OP_TEXT, payload).serialize(mask=True)


@pytest.mark.parametrize("size", SIZES)
def test_a_compressed_frames_header_is_the_librarys_with_rsv1(size):
    payload = b"y" * size
    built = frames.header(OP_TEXT, size, compressed=True) + payload
    plain = Frame(OP_TEXT, payload).serialize(mask=False)  # the library sets RSV1 only
    assert built == bytes((plain[0] | 0x40,)) + plain[1:]  # through its own extension
