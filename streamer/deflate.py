"""permessage-deflate (RFC 7692) for the frames the server builds itself, off by default.

websockets negotiates the extension and decompresses what clients send (bounded by
``--max-frame-bytes`` after decompression); the data frames, which the server writes without
the library, are compressed here. The server always asks for ``server_no_context_takeover``:
each message is compressed on its own, so the same events make the same bytes for every
connection, and a frame shared by the subscribers of a symbol is compressed once per instant
(its framing is one more key of the instant's frame cache). It asks for
``client_no_context_takeover`` too, so that no connection keeps a decompressor between
messages.

A message may be sent uncompressed even when the extension is in use (its RSV1 bit says), and
frames shorter than :data:`COMPRESS_FROM` bytes are: one tick's frame shrinks by a few bytes at
best, for the cost of a compressor.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from functools import cache

from websockets.extensions.base import ServerExtensionFactory
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)

from wire import events
from wire.frames import OP_TEXT, header

#: Frames shorter than this (bytes of JSON) go uncompressed.
COMPRESS_FROM = 256
#: zlib's fastest level: on frames of ticks it compresses about as well as the default, in a
#: third of the time.
LEVEL = 1
_TAIL = b"\x00\x00\xff\xff"  # what a sync flush ends with, and RFC 7692 has the sender remove


def factories(compression: str) -> list[ServerExtensionFactory] | None:
    """The extensions offered to websockets' handshake for the ``--compression`` setting."""
    if compression != "deflate":
        return None
    return [ServerPerMessageDeflateFactory(server_no_context_takeover=True,
                                           client_no_context_takeover=True,
                                           compress_settings={"level": LEVEL})]


def framing(extensions: Sequence[object]) -> Callable[[Sequence[str]], bytes] | None:
    """The framing of a connection that negotiated ``extensions`` (``None``: plain frames)."""
    for extension in extensions:
        if isinstance(extension, PerMessageDeflate):
            return deflate_framing(extension.local_max_window_bits)
    return None


@cache
def deflate_framing(window_bits: int) -> Callable[[Sequence[str]], bytes]:
    """A framing per window size, built once, so that connections with the same parameters
    share one entry of the frame cache."""
    def frame(parts: Sequence[str]) -> bytes:
        payload = events.payload(parts)
        if len(payload) < COMPRESS_FROM:
            return header(OP_TEXT, len(payload)) + payload
        return compressed(payload, window_bits)
    frame.__qualname__ = f"deflate_framing({window_bits})"
    return frame


def compressed(payload: bytes, window_bits: int = 15) -> bytes:
    """A final text frame carrying ``payload`` compressed on its own (RSV1 set)."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -window_bits)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    data = data[:-4] if data.endswith(_TAIL) else data
    return header(OP_TEXT, len(data), compressed=True) + data
