"""WebSocket frames (RFC 6455 section 5.2), for the peers that write their own: the server's
hot path, which builds each instant's frame once and hands it to many transports, and the load
tester's client. Everyone else goes through the websockets library; a test pins these bytes to
its ``Frame.serialize()``.

Only final (unfragmented) frames are built, and only the header is computed here: payloads are
passed through as they are.
"""

from __future__ import annotations

import struct

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: A client's masking key. RFC 6455 section 5.3 lets the client pick any key; the zero key
#: leaves the payload as it is, which spares a load tester the XOR of every byte.
ZERO_MASK = b"\0\0\0\0"

_FIN = 0x80
_RSV1 = 0x40
_MASKED = 0x80


def header(opcode: int, size: int, masked: bool = False, compressed: bool = False) -> bytes:
    """The header of a final frame of ``opcode`` carrying ``size`` bytes (with a masking
    key's flag when ``masked``; the key itself follows the header). ``compressed`` sets RSV1,
    which says that a message's payload is deflated (RFC 7692)."""
    first = _FIN | opcode | (_RSV1 if compressed else 0)
    mask_bit = _MASKED if masked else 0
    if size < 126:
        return bytes((first, mask_bit | size))
    if size < 65536:
        return struct.pack("!BBH", first, mask_bit | 126, size)
    return struct.pack("!BBQ", first, mask_bit | 127, size)


def server_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A final, unmasked frame, as a server sends it (a text frame by default)."""
    return header(opcode, len(payload)) + payload


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A final frame masked with :data:`ZERO_MASK`, as this project's clients send it."""
    return header(opcode, len(payload), masked=True) + ZERO_MASK + payload
