"""The I/O shell (streamer/server.py, the CLI): a real server on a free loopback port, real
clients (websockets, urllib, websocat), and child-process servers for signals and restarts.

Every wait is bounded by ``wait_for``; nothing sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from simulation import GBMParams, path
from streamer.server import DASHBOARD, StreamServer
from tests.conftest import http_url, small_market, timeout, wait_for, ws_url

WEBSOCAT = Path(sys.executable).parent / "websocat"  # installed beside this Python
ARTICLE = "periods=100&startPrice=70.0&mu=0.05&sigma=0.30&delta=1.0"


# --- helpers ------------------------------------------------------------------------------------


async def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of a GET, 4xx and 5xx included."""
    def get() -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(url, timeout=timeout(10)) as reply:
                return reply.status, dict(reply.headers), reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()
    return await wait_for(asyncio.to_thread(get), 15)


async def events(ws: ClientConnection) -> list[dict[str, Any]]:
    """The events of the next frame, which must be a JSON array."""
    frame = orjson.loads(await wait_for(ws.recv()))
    assert isinstance(frame, list) and frame, frame
    return frame


async def subscribe(ws: ClientConnection, **fields: Any) -> list[dict[str, Any]]:
    """Send a subscribe; return the frame that carries its ack."""
    await ws.send(json.dumps({"op": "subscribe", **fields}))
    while True:
        frame = await events(ws)
        if frame[0]["type"] in ("subscribed", "error"):
            return frame


async def until_closed(ws: ClientConnection) -> int | None:
    """Read (and drop) frames until the server closes; return the close code it sent."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed:
        return ws.close_code


# --- GET /gbm: the original batch service -------------------------------------------------------


async def test_gbm_answers_the_original_articles_request(server):
    status, headers, body = await http_get(http_url(server, f"/gbm?{ARTICLE}"))
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    result = orjson.loads(body)["result"]
    assert len(result) == 100
    assert result[0] == 70.0
    assert all(isinstance(p, float) and p > 0 for p in result)


async def test_gbm_with_a_seed_equals_simulation_path_bit_for_bit(server):
    status, _, body = await http_get(http_url(server, f"/gbm?{ARTICLE}&seed=42"))
    assert status == 200
    reply = orjson.loads(body)
    assert reply["seed"] == 42
    assert reply["result"] == path(GBMParams(70.0, 0.05, 0.3, 1.0), 42, 100).tolist()


async def test_gbm_without_a_seed_reports_the_seed_it_picked(server):
    _, _, first = await http_get(http_url(server, f"/gbm?{ARTICLE}"))
    picked = orjson.loads(first)
    assert isinstance(picked["seed"], int) and 0 <= picked["seed"] < 2**53
    _, _, again = await http_get(http_url(server, f"/gbm?{ARTICLE}&seed={picked['seed']}"))
    assert orjson.loads(again)["result"] == picked["result"]


async def test_gbm_with_a_seed_equals_the_ticks_of_a_stream_with_that_seed(server):
    _, _, body = await http_get(http_url(server, f"/gbm?{ARTICLE}&seed=1234"))
    result = orjson.loads(body)["result"]
    async with connect(ws_url(server)) as ws:
        [ack] = await subscribe(ws, startPrice=70.0, mu=0.05, sigma=0.30, delta=1.0,
                                interval=0.01, seed=1234)
        prices = {ack["seq"]: ack["price"]}
        while max(prices) < 5:
            prices.update((e["seq"], e["price"]) for e in await events(ws) if e["type"] == "tick")
    assert [prices[k] for k in range(1, 6)] == result[1:6]


# --- GET /path: every model ---------------------------------------------------------------------

MODEL_STREAMS = [
    {"model": "gbm"},
    {"model": "merton", "jumpRate": 300.0, "jumpMean": -0.02, "jumpStd": 0.05},
    {"model": "heston", "xi": 1.2, "rho": -0.5},
    {"model": "ou", "kappa": 30.0, "level": 80.0},
]


@pytest.mark.parametrize("fields", MODEL_STREAMS, ids=lambda f: f["model"])
async def test_path_of_every_model_equals_the_ticks_of_its_stream_bit_for_bit(server, fields):
    async with connect(ws_url(server)) as ws:
        [ack] = await subscribe(ws, interval=0.005, seed=77, history=0, **fields)
        ticks = {ack["seq"]: ack}
        while max(ticks) < 140:  # past the first block of 128 steps
            ticks.update((e["seq"], e) for e in await events(ws) if e["type"] == "tick")
    query = "&".join(f"{k}={v}" for k, v in ack["params"].items()
                     if k != "periods" and v is not None)  # interval is taken, and ignored
    status, _, body = await http_get(http_url(server, f"/path?{query}&periods=141"))
    assert status == 200, body
    reply = orjson.loads(body)
    assert (reply["model"], reply["seed"]) == (fields["model"], 77)
    assert [ticks[k]["price"] for k in range(1, 141)] == reply["result"][1:141]
    if fields["model"] == "heston":
        assert [ticks[k]["vol"] for k in range(1, 141)] == reply["vol"][1:141]
        assert ack["vol"] == reply["vol"][0] == math.sqrt(0.09)
    else:
        assert "vol" not in reply and all("vol" not in t for t in ticks.values())


async def test_path_of_gbm_is_gbm_bit_for_bit(server):
    _, _, old = await http_get(http_url(server, f"/gbm?{ARTICLE}&seed=5"))
    _, _, new = await http_get(http_url(server, f"/path?model=gbm&{ARTICLE}&seed=5"))
    assert orjson.loads(new) == {**orjson.loads(old), "model": "gbm"}


async def test_path_of_a_symbol_is_its_ticks_a_correlated_groups_too(config):
    from simulation import Market, SymbolSpec
    from simulation.kernels import cholesky
    from simulation.market import Group
    matrix = ((1.0, 0.6), (0.6, 1.0))
    lower = tuple(tuple(row) for row in cholesky(matrix) or ())
    t0 = float(int(time.time()) - 20)
    market = Market((SymbolSpec("A", GBMParams(70.0, 0.05, 0.3, 1.0), 0.05, 1, t0),
                     SymbolSpec("B", GBMParams(20.0, 0.0, 0.5, 1.0), 0.05, 2, t0)),
                    (Group("G", ("A", "B"), matrix, lower),))
    async with StreamServer(config, market=market) as srv:
        async with connect(ws_url(srv)) as ws:
            ack, *history = await subscribe(ws, symbol="B", history=50)
        seq = ack["seq"]
        status, _, body = await http_get(http_url(srv, f"/path?symbol=B&periods={seq + 1}"))
        assert status == 200, body
        reply = orjson.loads(body)
        assert (reply["symbol"], reply["t0"], reply["model"]) == ("B", t0, "gbm")
        assert [e["price"] for e in history] == reply["result"][seq - 49:]
        assert reply["result"] != path(GBMParams(20.0, 0.0, 0.5, 1.0), 2, seq + 1).tolist()
        status, _, body = await http_get(http_url(srv, "/path?symbol=B&periods=3&seed=1"))
        assert (status, orjson.loads(body)["error"]) == (
            400, "seed cannot be combined with symbol: a symbol's parameters are fixed by the "
                 "market")
        status, _, body = await http_get(http_url(srv, "/path?symbol=NOPE&periods=3"))
        assert (status, orjson.loads(body)["error"]) == (
            400, "unknown symbol 'NOPE'; the symbols op lists the market")


PATH_ERRORS = [
    ("model=heston", "missing parameter periods"),
    ("model=vasicek&periods=3", "model must be one of gbm, merton, heston, ou, got 'vasicek'"),
    ("model=heston&periods=3&sigma=0.2", "unknown parameter 'sigma' for model heston; it takes "
     "periods, seed and startPrice, mu, delta, v0, kappa, theta, xi, rho"),
    ("model=ou&periods=3&mu=0.1", "unknown parameter 'mu' for model ou; it takes periods, "
     "seed and startPrice, sigma, delta, kappa, level"),
    ("model=merton&periods=3&jumpRate=-1",
     "jumpRate must be a finite number >= 0 and <= 1000, got -1.0"),
    ("model=merton&periods=3&jumpStd=x", "jumpStd must be a number, got 'x'"),
    ("model=heston&periods=3&rho=1.5", "rho must be a finite number >= -1 and <= 1, got 1.5"),
    ("model=heston&periods=3&xi=0", "xi must be a finite number >= 0.001 and <= 5, got 0.0"),
    ("model=ou&periods=3&level=0", "level must be a finite number > 0 and <= 1e+09, got 0.0"),
    ("model=ou&periods=3&kappa=nan", "kappa must be a finite number >= 0.001 and <= 1000, "
     "got nan"),
    ("model=ou&periods=3&delta=1e-12", "delta must be a finite number >= 1e-09 and <= 2520, "
     "got 1e-12"),
    ("model=heston&periods=3&kappa=1&kappa=2", "kappa is given 2 times; give it once"),
    ("model=gbm&periods=30000&startPrice=70&mu=0&sigma=5&delta=1&seed=3",
     "the path leaves the range of normal doubles at period 14854 (underflow); lower sigma, "
     "delta or periods, or raise mu"),
]


@pytest.mark.parametrize(("query", "message"), PATH_ERRORS)
async def test_path_with_a_bad_value_is_400_naming_the_parameter(server, query, message):
    status, _, body = await http_get(http_url(server, f"/path?{query}"))
    assert (status, orjson.loads(body)) == (400, {"error": message})


GBM_ERRORS = [
    ("periods=100&startPrice=70.0&mu=0.05&delta=1.0",
     "missing parameter sigma (required: periods, startPrice, mu, sigma, delta)"),
    ("", "missing parameter periods (required: periods, startPrice, mu, sigma, delta)"),
    (ARTICLE.replace("mu=0.05", "mu=abc"), "mu must be a number, got 'abc'"),
    (ARTICLE.replace("mu=0.05", "mu="), "mu must be a number, got ''"),
    (ARTICLE.replace("mu=0.05", "mu=1_0"), "mu must be a number, got '1_0'"),
    (ARTICLE.replace("periods=100", "periods=ten"), "periods must be an integer, got 'ten'"),
    (ARTICLE.replace("periods=100", "periods=1e2"), "periods must be an integer, got '1e2'"),
    (ARTICLE.replace("sigma=0.30", "sigma=nan"),
     "sigma must be a finite number >= 0 and <= 10, got nan"),
    (ARTICLE.replace("startPrice=70.0", "startPrice=inf"),
     "startPrice must be a finite number > 0 and <= 1e+09, got inf"),
    (ARTICLE.replace("delta=1.0", "delta=-Infinity"),
     "delta must be a finite number >= 1e-09 and <= 2520, got -inf"),
    (ARTICLE.replace("sigma=0.30", "sigma=-0.3"),
     "sigma must be a finite number >= 0 and <= 10, got -0.3"),
    (ARTICLE.replace("periods=100", "periods=0"),
     "periods must be an integer from 1 to 1000000, got 0"),
    (ARTICLE.replace("periods=100", "periods=1000001"),
     "periods must be an integer from 1 to 1000000, got 1000001"),
    (f"{ARTICLE}&seed=-1", "seed must be an integer from 0 to 2**64-1, got -1"),
    (f"{ARTICLE}&seed={2**64}",
     "seed must be an integer from 0 to 2**64-1, got 18446744073709551616"),
    (f"{ARTICLE}&seed=1.5", "seed must be an integer, got '1.5'"),
    (f"{ARTICLE}&sigma=0.2", "sigma is given 2 times; give it once"),
    ("periods=10&startPrice=1e9&mu=10&sigma=0&delta=2520",
     "the path leaves the range of normal doubles at period 7 (overflow); lower mu, sigma, delta "
     "or periods"),
    ("periods=30000&startPrice=70&mu=0&sigma=5&delta=1&seed=3",  # it answered 14,258 zeros
     "the path leaves the range of normal doubles at period 14854 (underflow); lower sigma, "
     "delta or periods, or raise mu"),
    (ARTICLE.replace("delta=1.0", "delta=1e-12"),  # dt of 4e-15 years: every step alike
     "delta must be a finite number >= 1e-09 and <= 2520, got 1e-12"),
]


@pytest.mark.parametrize(("query", "message"), GBM_ERRORS)
async def test_gbm_with_a_bad_value_is_400_naming_the_parameter(server, query, message):
    status, headers, body = await http_get(http_url(server, f"/gbm?{query}"))
    assert (status, headers["Content-Type"]) == (400, "application/json")
    assert orjson.loads(body) == {"error": message}


# --- other HTTP doors ---------------------------------------------------------------------------


async def test_healthz_reports_status_connections_and_subscriptions(server):
    async with connect(ws_url(server)) as ws:
        await subscribe(ws, symbol="ACME")
        await subscribe(ws, symbol="BOLT")
        status, headers, body = await http_get(http_url(server, "/healthz"))
    assert (status, headers["Content-Type"]) == (200, "application/json")
    health = orjson.loads(body)
    assert (health["status"], health["connections"], health["subscriptions"]) == ("ok", 1, 2)
    assert isinstance(health["uptime"], float) and health["uptime"] >= 0


async def test_healthz_counts_a_connection_until_it_is_gone(server):
    async with connect(ws_url(server)) as ws:
        await subscribe(ws, symbol="ACME")

    async def drained() -> dict[str, Any]:
        while True:
            health: dict[str, Any] = orjson.loads((await http_get(http_url(server, "/healthz")))[2])
            if health["connections"] == 0:
                return health
            await asyncio.sleep(0.01)  # polling an event with a deadline, not a fixed wait

    health = await wait_for(drained())
    assert health["subscriptions"] == 0


async def test_an_unknown_path_is_404_with_a_json_error(server):
    status, _, body = await http_get(http_url(server, "/nope"))
    assert status == 404
    error = orjson.loads(body)["error"]
    assert error.startswith("no such path '/nope'; try /ws, /sse, /gbm, ")  # doors, in order


async def test_root_serves_the_dashboard_html(server):
    status, headers, body = await http_get(http_url(server, "/"))
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert body == (DASHBOARD / "index.html").read_bytes()


async def test_a_missing_static_file_is_404(server):
    status, _, _ = await http_get(http_url(server, "/static/no-such-file.js"))
    assert status == 404


async def test_a_static_path_cannot_leave_the_dashboard_folder(server):
    status, _, body = await http_get(http_url(server, "/static/../streamer/server.py"))
    assert status == 404
    assert b"import" not in body


# --- the WebSocket door -------------------------------------------------------------------------


async def test_every_frame_is_a_json_array_and_history_shares_the_acks_frame(server):
    async with connect(ws_url(server)) as ws:
        frame = await subscribe(ws, id=1, symbol="BOLT", history=3)
    assert [e["type"] for e in frame] == ["subscribed", "tick", "tick", "tick"]
    ack = frame[0]
    assert [e["seq"] for e in frame[1:]] == [ack["seq"] - 2, ack["seq"] - 1, ack["seq"]]


async def test_two_connections_get_the_same_tick_of_a_symbol(server):
    async def first_seq(ws: ClientConnection, got: dict[int, tuple[float, float]]) -> int:
        await subscribe(ws, symbol="BOLT")
        while not got:
            got.update((e["seq"], (e["price"], e["time"])) for e in await events(ws))
        return min(got)

    async def read_until(ws: ClientConnection, got: dict[int, tuple[float, float]],
                         seq: int) -> None:
        while seq not in got:
            got.update((e["seq"], (e["price"], e["time"])) for e in await events(ws))

    got_a: dict[int, tuple[float, float]] = {}
    got_b: dict[int, tuple[float, float]] = {}
    async with connect(ws_url(server)) as a, connect(ws_url(server)) as b:
        target = max(await first_seq(a, got_a), await first_seq(b, got_b)) + 3
        await read_until(a, got_a, target)
        await read_until(b, got_b, target)
    common = sorted(set(got_a) & set(got_b))
    assert len(common) >= 4 and target in common
    assert [got_a[k] for k in common] == [got_b[k] for k in common]


async def test_private_streams_share_instants_per_connection_not_across_connections(server):
    # one frame per connection per instant, but connections spread over the interval
    async def two_streams(ws: ClientConnection) -> tuple[float, float]:
        first = (await subscribe(ws, interval=0.5))[0]
        second = (await subscribe(ws, interval=1.0))[0]
        return first["t0"], second["t0"]

    t0s = []
    async with connect(ws_url(server)) as a, connect(ws_url(server)) as b, \
            connect(ws_url(server)) as c:
        for ws in (a, b, c):
            half, whole = await two_streams(ws)
            # the same phase: every instant of the 1 s stream is one of the 0.5 s stream's
            steps = (whole - half) / 0.5
            assert abs(steps - round(steps)) < 1e-6, (half, whole)
            t0s.append(whole)
    phases = sorted(t0 % 1.0 for t0 in t0s)
    assert min(np.diff(phases)) > 0.05, phases  # three connections, three distinct instants


async def test_ping_gets_pong(server):
    async with connect(ws_url(server)) as ws:
        await ws.send('{"op": "ping", "id": "p"}')
        [pong] = await events(ws)
    assert (pong["type"], pong["id"]) == ("pong", "p")
    assert isinstance(pong["time"], float)


def oversize(server: StreamServer) -> str:
    return '{"op": "ping", "id": 1}'.ljust(server.config.max_message_bytes + 1)


def oversize_utf8(server: StreamServer) -> str:
    # over the limit in UTF-8 bytes (what travels), under it in characters
    symbol = "é" * (server.config.max_message_bytes // 2 + 1)
    return json.dumps({"op": "subscribe", "symbol": symbol}, ensure_ascii=False)


# kind -> (the message to send, the error code it gets, the field the error names)
BAD_INPUTS: dict[str, tuple[Callable[[StreamServer], str | bytes], str, str | None]] = {
    "not_json": (lambda s: "not json", "bad_json", None),
    "array": (lambda s: "[1, 2, 3]", "bad_request", None),
    "nan": (lambda s: '{"op": "subscribe", "id": 7, "sigma": NaN}', "invalid_params", "sigma"),
    "oversize": (oversize, "limit_exceeded", None),
    "oversize_utf8": (oversize_utf8, "limit_exceeded", None),
    "binary": (lambda s: b'{"op": "ping"}', "bad_request", None),
}


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
async def test_bad_input_gets_an_error_while_another_subscription_keeps_ticking(server, kind):
    make, code, field = BAD_INPUTS[kind]
    async with connect(ws_url(server)) as ws:
        [ack] = await subscribe(ws, id=1, symbol="BOLT")
        seqs: list[int] = []
        while len(seqs) < 3:
            seqs += [e["seq"] for e in await events(ws)]
        await ws.send(make(server))
        errors: list[dict[str, Any]] = []
        after = len(seqs)
        while not errors or len(seqs) < after + 5:
            for event in await events(ws):
                if event["type"] == "tick":
                    assert event["sub"] == ack["sub"]
                    seqs.append(event["seq"])
                else:
                    errors.append(event)
    assert [(e["type"], e["code"], e["field"]) for e in errors] == [("error", code, field)]
    assert seqs == list(range(ack["seq"] + 1, ack["seq"] + 1 + len(seqs)))


async def test_an_id_beyond_64_bits_is_answered_and_the_connection_stays_open(server):
    async with connect(ws_url(server)) as ws:
        [ack] = await subscribe(ws, symbol="BOLT")
        await ws.send(f'{{"op": "ping", "id": {2**64}}}')
        replies: list[dict[str, Any]] = []
        seqs: list[int] = []
        try:
            while not replies or len(seqs) < 3:
                for event in await events(ws):
                    if event["type"] == "tick":
                        seqs.append(event["seq"])
                    else:
                        replies.append(event)
        except ConnectionClosed:
            pytest.fail(f"the server closed the connection with code {ws.close_code} "
                        f"{ws.close_reason!r}")
    [reply] = replies
    assert (reply["type"], reply["id"]) == ("pong", 2**64) or (
        reply["type"], reply["code"], reply["field"]) == ("error", "bad_request", "id")
    assert seqs == list(range(ack["seq"] + 1, ack["seq"] + 1 + len(seqs)))


async def test_a_frame_larger_than_max_frame_bytes_closes_with_1009(server):
    async with connect(ws_url(server)) as ws:
        await subscribe(ws, symbol="BOLT")
        await ws.send("x" * (server.config.max_frame_bytes + 1))
        assert await wait_for(until_closed(ws)) == 1009


async def test_a_frame_of_max_frame_bytes_is_answered_not_closed(server):
    async with connect(ws_url(server)) as ws:
        await ws.send("x" * server.config.max_frame_bytes)
        frame = await events(ws)
    assert [(e["type"], e["code"]) for e in frame] == [("error", "limit_exceeded")]


async def test_a_closed_connection_frees_its_subscriptions_for_the_next_one(server):
    async with connect(ws_url(server)) as ws:
        await subscribe(ws, interval=0.01, seed=1)
    async with connect(ws_url(server)) as ws:
        [ack] = await subscribe(ws, symbol="ACME")
    assert ack["sub"] == 1


# --- keepalive ----------------------------------------------------------------------------------


@pytest.fixture
async def brisk_server(config):
    """A server that pings every 0.2 s and gives up after 0.2 s without a pong."""
    brisk = replace(config, ping_interval=0.2, ping_timeout=0.2)
    async with StreamServer(brisk, market=small_market(time.time())) as srv:
        yield srv


def close_code_in(data: bytes) -> int | None:
    """The code of the first close frame in unmasked server-to-client WebSocket bytes."""
    i = 0
    while i + 2 <= len(data):
        opcode, length = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if length == 126:
            length, i = int.from_bytes(data[i:i + 2]), i + 2
        elif length == 127:
            length, i = int.from_bytes(data[i:i + 8]), i + 8
        if opcode == 0x8:
            return int.from_bytes(data[i:i + 2]) if length >= 2 else None
        i += length
    return None


async def test_a_peer_that_stops_answering_pings_is_closed(brisk_server):
    reader, writer = await asyncio.open_connection("127.0.0.1", brisk_server.port)
    try:
        writer.write((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{brisk_server.port}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await wait_for(reader.readuntil(b"\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 101 ")
        data = await wait_for(reader.read(), 5)  # never answer: read until the server hangs up
    finally:
        writer.close()
    assert close_code_in(data) == 1011


async def test_a_client_that_answers_pings_stays_connected(brisk_server):
    async with connect(ws_url(brisk_server)) as ws:
        [ack] = await subscribe(ws, symbol="BOLT")
        last = ack["time"]
        while last < ack["time"] + 1.0:  # five ping intervals
            last = (await events(ws))[-1]["time"]
        assert ws.close_code is None


# --- third-party client -------------------------------------------------------------------------


async def test_websocat_subscribes_and_prints_the_ack_and_ticks(server):
    proc = await asyncio.create_subprocess_exec(
        str(WEBSOCAT), "-t", "-n", "--max-messages-rev", "3", ws_url(server),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await wait_for(proc.communicate(
            b'{"op": "subscribe", "id": 1, "symbol": "BOLT"}\n'), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    frames = [orjson.loads(line) for line in out.decode().splitlines()]
    assert len(frames) == 3, (out, err)
    ack = frames[0][0]
    assert (ack["type"], ack["id"], ack["symbol"]) == ("subscribed", 1, "BOLT")
    seqs = [e["seq"] for frame in frames[1:] for e in frame]
    assert seqs == list(range(ack["seq"] + 1, ack["seq"] + 1 + len(seqs)))


# --- child-process servers: signals and restarts ------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_closes_every_client_with_1001_and_exits_0(server_process, signum):
    proc = await asyncio.to_thread(server_process().start)
    async with connect(proc.url) as ws:
        [ack] = await subscribe(ws, symbol="ACME")
        assert ack["type"] == "subscribed"
        proc.signal(signum)
        assert await wait_for(until_closed(ws), 3) == 1001
    assert await asyncio.to_thread(proc.wait, 3) == 0


async def test_a_symbol_resumes_after_a_server_restart_with_no_gap(server_process):
    # Both processes serve the demo market, whose t0 is the start of the UTC day: a run that
    # straddles midnight UTC would see the t0 change (and an invalid_params on t0).
    first = await asyncio.to_thread(server_process().start)
    port = first.port
    seen: dict[int, float] = {}
    async with connect(first.url) as ws:
        [ack] = await subscribe(ws, symbol="ACME")
        seen[ack["seq"]] = ack["price"]
        while len(seen) < 6:
            seen.update((e["seq"], e["price"]) for e in await events(ws))
    await asyncio.to_thread(first.kill)

    second = await asyncio.to_thread(server_process(port=port).start)
    from_seq = min(seen)
    async with connect(second.url) as ws:
        frame = await subscribe(ws, symbol="ACME", t0=ack["t0"], fromSeq=from_seq)
        resumed = frame[0]
        assert resumed["type"] == "subscribed", resumed
        got = [(e["seq"], e["price"]) for e in frame[1:]]
        while got[-1][0] < resumed["seq"] + 3:  # and a few live ticks after the replay
            got += [(e["seq"], e["price"]) for e in await events(ws)]
    assert resumed["t0"] == ack["t0"]
    assert [seq for seq, _ in got] == list(range(from_seq, from_seq + len(got)))
    assert resumed["seq"] > max(seen)  # the restart took time; ticks were made meanwhile
    assert {seq: price for seq, price in got if seq in seen} == seen


async def test_a_server_process_serves_gbm_like_the_in_process_one(server_process, server):
    proc = await asyncio.to_thread(server_process().start)
    url = f"http://127.0.0.1:{proc.port}/gbm?{ARTICLE}&seed=7"
    (s1, _, child), (s2, _, local) = await asyncio.gather(
        http_get(url), http_get(http_url(server, f"/gbm?{ARTICLE}&seed=7")))
    assert (s1, s2) == (200, 200)
    assert orjson.loads(child)["result"] == orjson.loads(local)["result"]

