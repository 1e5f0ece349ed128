"""The plain-upgrade handshake (streamer/handshake.py) decides as websockets does: where it
answers, websockets would accept with the same Sec-WebSocket-Accept and nothing negotiated;
everything else it leaves to websockets."""

from __future__ import annotations

import logging
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.server import ServerProtocol

from streamer import deflate, handshake, http

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
GOOD = [("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")]


def request(headers: list[tuple[str, str]], method: str = "GET",
            version: str = "HTTP/1.1") -> http.HttpRequest:
    head = f"{method} /ws {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return http.parse_head(head.encode("latin-1"))


def websockets_answer(req: http.HttpRequest, compression: str) -> tuple[int, str | None,
                                                                        str | None]:
    """What websockets answers: the status, Sec-WebSocket-Accept, Sec-WebSocket-Extensions."""
    protocol = ServerProtocol(logger=logging.getLogger("test"),
                              extensions=deflate.factories(compression))
    protocol.receive_data(req.head)
    response = protocol.accept(protocol.events_received()[0])  # type: ignore[arg-type]
    return (response.status_code, response.headers.get("Sec-WebSocket-Accept"),
            response.headers.get("Sec-WebSocket-Extensions"))


def test_a_plain_upgrade_gets_the_same_accept_key_as_from_websockets():
    ours = handshake.accept_plain(request(GOOD))
    assert ours is not None and ours.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    accept = re.search(rb"Sec-WebSocket-Accept: (\S+)\r\n", ours)
    assert accept is not None
    assert websockets_answer(request(GOOD), "none") == (101, accept[1].decode(), None)
    assert accept[1] == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455's own example


def test_extensions_offered_are_websockets_to_negotiate_only_when_compression_is_on():
    offer = [*GOOD, ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]
    assert handshake.accept_plain(request(offer), negotiate=False) is not None
    assert handshake.accept_plain(request(offer), negotiate=True) is None
    assert websockets_answer(request(offer), "none")[2] is None  # ignored without it


VARIANTS = {
    "Upgrade": ["websocket", "WebSocket", "h2c", "websocket, h2c", ""],
    "Connection": ["Upgrade", "keep-alive, Upgrade", "upgrade", "keep-alive", "Upgrade2", ""],
    "Sec-WebSocket-Key": [KEY, "short", "dGhlIHNhbXBsZSBub25jZQ", "!!!!", "AAAAAAAAAAAAAAAAAAAAAA==",
                          "dGhlIHNhbXBsZSBub25jZQ==dGhl", ""],
    "Sec-WebSocket-Version": ["13", "8", "13, 8", ""],
}


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({name: st.sampled_from([None, *values])
                              for name, values in VARIANTS.items()}),
       st.sampled_from(["GET", "HEAD"]), st.sampled_from(["HTTP/1.1", "HTTP/1.0"]),
       st.booleans())
def test_it_answers_exactly_where_websockets_would_accept_with_nothing_negotiated(
        values, method, version, offer):
    headers = [("Host", "x")] + [(k, v) for k, v in values.items() if v is not None]
    if offer:
        headers.append(("Sec-WebSocket-Extensions", "permessage-deflate"))
    req = request(headers, method, version)
    for compression in ("none", "deflate"):
        ours = handshake.accept_plain(req, negotiate=compression != "none")
        status, accept, extensions = websockets_answer(req, compression)
        if ours is not None:
            assert (status, extensions) == (101, None)
            assert f"Sec-WebSocket-Accept: {accept}\r\n".encode() in ours
        else:  # left to websockets: a refusal, or an extension negotiated
            assert status != 101 or (compression == "deflate" and offer)
