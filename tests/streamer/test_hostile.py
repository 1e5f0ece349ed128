"""Hostile clients, each attack as a user found it, against a server in a child process (so that
its event loop is its own and SIGTERM is real). Numbers are scaled for a slow machine; every
wait is bounded, and a control client checks that everyone else is still served."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any
from contextlib import asynccontextmanager

import orjson
from websockets.asyncio.client import ClientConnection, connect

from simulation import CatchUp, GBMParams
from tests.conftest import ServerProcess, timeout, wait_for
from wire.frames import client_frame
from wire.names import STREAM_DEFAULTS


def get(port: int, path: str) -> tuple[int, bytes, float]:
    """``GET path``: status, body and how long the answer took."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                    timeout=timeout(5)) as reply:
            return reply.status, reply.read(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.monotonic() - started


class Control:
    """A well-behaved client following a 50 Hz symbol; ``worst`` is its worst tick delay."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.worst = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with connect(self.url) as ws:
            await ws.send('{"op": "subscribe", "symbol": "BOLT"}')
            while True:
                try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancel
                    async with asyncio.timeout(timeout(2)):
                        frame = await ws.recv()
                except TimeoutError:
                    self.worst = max(self.worst, timeout(2))
                    continue
                for event in orjson.loads(frame):
                    if event["type"] == "tick":
                        self.ticks += 1
                        self.worst = max(self.worst, time.time() - event["time"])

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Control]:
        self._task = asyncio.create_task(self._run())
        try:
            yield self
        finally:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def healthz_latencies(port: int, seconds: float, every: float = 0.25) -> list[float]:
    """Ask /healthz every ``every`` seconds for ``seconds``; how long each answer took."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, _, took = await asyncio.to_thread(get, port, "/healthz")
        assert status == 200
        latencies.append(took)
        await asyncio.sleep(every)
    return latencies


async def silent(url: str) -> ClientConnection:
    """A connection whose application never reads (its library stops reading when one
    message is queued, so the server's writes back up)."""
    return await connect(url, max_queue=1, close_timeout=1)


# --- the wedge: queued subscribes at 1 ms from connections that never read ----------------------


async def test_connections_flooding_1ms_subscribes_without_reading_do_not_wedge_the_server(
        server_process):
    proc: ServerProcess = server_process().start()
    async with Control(proc.url).running() as control:
        floods = [await silent(proc.url) for _ in range(3)]
        for ws in floods:
            for _ in range(300):
                await wait_for(ws.send('{"op": "subscribe", "interval": 0.001}'), 10)
        latencies = await healthz_latencies(proc.port, seconds=1.5)
        for ws in floods:
            ws.transport.abort()  # gone, with whatever it still had queued
        latencies += await healthz_latencies(proc.port, seconds=1.0)
    assert max(latencies) < 1.0, latencies
    assert control.ticks > 50 and control.worst < 1.0, (control.ticks, control.worst)
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 10) == 0
    assert time.monotonic() - started < 2.0


async def test_the_budget_refuses_what_would_exceed_it_and_names_it(server_process):
    proc: ServerProcess = server_process("--max-ticks-per-second", "2500").start()
    async with connect(proc.url) as ws:
        for op_id in range(3):
            await ws.send(orjson.dumps({"op": "subscribe", "id": op_id, "interval": 0.001}),
                          text=True)
        replies: dict[int, dict[str, Any]] = {}
        while len(replies) < 3:
            for event in orjson.loads(await wait_for(ws.recv())):
                if event.get("id") is not None:
                    replies[event["id"]] = event
    assert [replies[i]["type"] for i in range(3)] == ["subscribed", "subscribed", "error"]
    assert replies[2]["code"] == "limit_exceeded"
    assert "past its budget of 2500 a second" in replies[2]["message"]


# --- resumes from far back: millions of steps of catch-up each ---------------------------------


async def resume_far_back(url: str, count: int, steps: int) -> list[dict[str, Any]]:
    """``count`` private streams resumed ``steps`` steps after their t0, sent at once; the
    ``subscribed`` events (or errors) that answer them."""
    t0 = time.time() - steps  # a 1 s interval: seq is about ``steps``
    async with connect(url) as ws:
        for seed in range(count):
            await ws.send(orjson.dumps({"op": "subscribe", "id": seed, "seed": seed,
                                        "interval": 1.0, "t0": t0}), text=True)
        answers: list[dict[str, Any]] = []
        while len(answers) < count:
            frame = await wait_for(ws.recv(), 60)
            answers += [event for event in orjson.loads(frame) if "id" in event]
    return answers


async def test_resumes_from_far_back_are_computed_a_piece_at_a_time_and_delay_no_one(
        server_process):
    proc: ServerProcess = server_process().start()
    steps = 9_000_000  # each about 0.2 s of stepping on this machine
    async with Control(proc.url).running() as control:
        await wait_for(until_ticking(control))
        attack = asyncio.gather(*(resume_far_back(proc.url, 4, steps) for _ in range(4)))
        latencies = await healthz_latencies(proc.port, seconds=1.5, every=0.1)
        answers = [event for answered in await wait_for(attack, 120) for event in answered]
    assert [event["type"] for event in answers] == ["subscribed"] * 16, answers[:3]
    assert all(steps <= event["seq"] <= steps + 200 for event in answers), answers[:3]
    first = min(answers, key=lambda event: event["seq"])
    d = STREAM_DEFAULTS
    params = GBMParams(d["startPrice"], d["mu"], d["sigma"], d["delta"])
    walk = CatchUp(params, first["id"], first["seq"], first["seq"] + 1)
    walk.run(first["seq"])
    assert first["price"] == walk.price  # the price computed in pieces is the path's
    assert max(latencies) < 0.25, latencies
    assert control.ticks > 50 and control.worst < 0.25, (control.ticks, control.worst)


async def until_ticking(control: Control) -> None:
    while not control.ticks:
        await asyncio.sleep(0.01)


# --- replay amplification: replays that nobody reads --------------------------------------------


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def mute_socket(port: int) -> socket.socket:
    """An upgraded connection that will never read a byte."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(UPGRADE)
    return sock


async def test_replays_nobody_reads_cost_no_memory_and_delay_nobody(server_process, tmp_path):
    t0 = int(time.time()) - 1200  # a 10 ms symbol with 120,000 ticks behind it
    market = tmp_path / "market.toml"
    market.write_text(f"t0 = {t0}\n"
                      "[symbols.FAST]\nstartPrice = 50.0\nmu = 0.05\nsigma = 0.3\n"
                      "delta = 0.0001\ninterval = 0.01\nseed = 5\n"
                      "[symbols.BOLT]\nstartPrice = 10.0\nmu = 0.05\nsigma = 0.3\n"
                      "delta = 0.0001\ninterval = 0.02\nseed = 6\n")
    proc: ServerProcess = server_process("--market", str(market)).start()
    assert proc.proc is not None
    await asyncio.sleep(0.5)
    base = rss_mb(proc.proc.pid)
    sock = mute_socket(proc.port)
    try:
        back = int((time.time() - t0) / 0.01) - 99_000
        frames = b"".join(client_frame(orjson.dumps(
            {"op": "subscribe", "symbol": "FAST", "fromSeq": back})) for _ in range(400))
        await asyncio.to_thread(sock.sendall, frames)  # about 28 KB asking for 40M ticks
        async with Control(proc.url).running() as control:
            peak = base
            for _ in range(16):
                await asyncio.sleep(0.25)
                peak = max(peak, rss_mb(proc.proc.pid))
        status, body, _ = await asyncio.to_thread(get, proc.port, "/healthz")
    finally:
        sock.close()
    assert peak - base < 100, (base, peak)
    assert control.ticks > 50 and control.worst < 0.25, (control.ticks, control.worst)
    assert status == 200 and orjson.loads(body)["subscriptions"] >= 400  # held, and replaying


async def test_replies_nobody_reads_are_bounded_then_the_connection_is_closed(server_process):
    proc: ServerProcess = server_process().start()
    assert proc.proc is not None
    await asyncio.sleep(0.5)
    base = rss_mb(proc.proc.pid)
    socks = [mute_socket(proc.port) for _ in range(4)]
    subscribes = b"".join(client_frame(b'{"op": "subscribe", "symbol": "BOLT"}')
                          for _ in range(500))
    lists = b"".join(client_frame(b'{"op": "list"}') for _ in range(10))  # each about 60 KB
    try:
        async with Control(proc.url).running() as control:
            for sock in socks:
                await asyncio.to_thread(sock.sendall, subscribes)
            peak = base
            for _ in range(30):  # 300 lists each, at the rate limit: about 18 MB unread each
                for sock in socks:
                    with contextlib.suppress(OSError):  # closed by the server: the point
                        sock.send(lists)
                await asyncio.sleep(0.1)
                peak = max(peak, rss_mb(proc.proc.pid))

            async def only_control_left() -> None:
                while orjson.loads((await asyncio.to_thread(get, proc.port, "/healthz"))[1])[
                        "connections"] > 1:
                    await asyncio.sleep(0.1)
            await wait_for(only_control_left(), 10)
        _, metrics, _ = await asyncio.to_thread(get, proc.port, "/metrics")
    finally:
        for sock in socks:
            sock.close()
    assert peak - base < 40, (base, peak)
    assert b'streamer_closes_total{code="4008"} 4.0' in metrics
    assert control.ticks > 50 and control.worst < 0.25, (control.ticks, control.worst)


# --- /gbm: big batch replies nobody reads, and one read slowly ----------------------------------

GBM = "/gbm?startPrice=70&mu=0.05&sigma=0.3&delta=0.001&seed=1&periods="


def gbm_request(port: int, periods: int, small_buffer: bool = True) -> socket.socket:
    """A /gbm request from a socket that reads nothing unless asked."""
    sock = socket.create_connection(("127.0.0.1", port))
    if small_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(f"GET {GBM}{periods} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def status_of(sock: socket.socket) -> int:
    sock.settimeout(timeout(10))
    line = b""
    while not line.endswith(b"\r\n"):
        line += sock.recv(1)
    return int(line.split()[1])


async def test_big_gbm_replies_nobody_reads_are_capped_and_delay_nobody(server_process):
    proc: ServerProcess = server_process().start()  # at most 4 /gbm replies in flight
    assert proc.proc is not None
    await asyncio.to_thread(get, proc.port, f"{GBM}1000")  # the thread pool, numpy: warmed up
    base = rss_mb(proc.proc.pid)
    socks: list[socket.socket] = []
    try:
        async with Control(proc.url).running() as control:
            for _ in range(30):
                socks.append(await asyncio.to_thread(gbm_request, proc.port, 1_000_000))
            statuses = [await asyncio.to_thread(status_of, sock) for sock in socks]
            latencies = await healthz_latencies(proc.port, seconds=2.0)
            peak = rss_mb(proc.proc.pid)
        assert statuses.count(200) == 4 and statuses.count(503) == 26, statuses
        assert peak - base < 300, (base, peak)
        assert max(latencies) < 0.25, latencies
        assert control.ticks > 20 and control.worst < 0.25, (control.ticks, control.worst)
        print(f"RSS {base:.0f} -> {peak:.0f} MB; /healthz worst {max(latencies):.3f} s; "
              f"control worst {control.worst:.3f} s")
    finally:
        for sock in socks:
            sock.close()

    async def answered_again() -> int:  # the four slots come back once their readers went
        while (status := (await asyncio.to_thread(get, proc.port, f"{GBM}10"))[0]) != 200:
            await asyncio.sleep(0.1)
        return status
    assert await wait_for(answered_again(), 10) == 200
    assert rss_mb(proc.proc.pid) - base < 100


async def test_a_gbm_reply_read_slowly_arrives_whole_and_one_not_read_is_cut(server_process):
    proc: ServerProcess = server_process("--send-timeout", "1").start()
    periods = 200_000  # about 3.7 MB, read at about 1 MB/s: several send timeouts long

    def read_slowly() -> bytes:
        sock = gbm_request(proc.port, periods, small_buffer=False)
        sock.settimeout(timeout(5))
        data = bytearray()
        with sock:
            while chunk := sock.recv(25_000):
                data += chunk
                time.sleep(0.025)  # the reader's pace, not a wait for the server
        return bytes(data)

    head, _, body = (await asyncio.to_thread(read_slowly)).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert len(orjson.loads(body)["result"]) == periods

    stalled = await asyncio.to_thread(gbm_request, proc.port, periods)
    try:
        assert await asyncio.to_thread(status_of, stalled) == 200
        started = time.monotonic()

        def until_cut() -> None:  # read nothing more, then find the connection gone
            stalled.settimeout(timeout(10))
            time.sleep(1.5)
            while stalled.recv(65536):
                pass
        with contextlib.suppress(ConnectionResetError):
            await asyncio.to_thread(until_cut)
        assert time.monotonic() - started < 1.5 + 5
    finally:
        stalled.close()


# --- the open-files limit -----------------------------------------------------------------------

def upgrade(port: int) -> tuple[socket.socket, int]:
    """A WebSocket upgrade by hand: the socket, and the status it got (0: none, the server hung
    up without one)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout(15))
    sock.sendall(UPGRADE)
    head = b""
    with contextlib.suppress(ConnectionResetError):
        while b"\r\n\r\n" not in head and (chunk := sock.recv(4096)):
            head += chunk
    return sock, int(head.split()[1]) if head else 0


async def test_near_the_open_files_limit_new_connections_get_503_and_the_others_are_served(
        server_process):
    proc: ServerProcess = server_process(files=256).start()
    assert proc.proc is not None and proc.proc.stderr is not None
    socks: list[socket.socket] = []
    try:
        async with Control(proc.url).running() as control:  # one of the connections it keeps
            results = await asyncio.gather(*(asyncio.to_thread(upgrade, proc.port)
                                             for _ in range(300)))
            socks = [sock for sock, _ in results]
            statuses = [status for _, status in results]
            latencies = await healthz_latencies(proc.port, seconds=1.0)
        assert statuses.count(101) > 150, statuses
        assert statuses.count(101) + statuses.count(503) == 300, statuses
        assert max(latencies) < 1.0, latencies
        assert control.ticks > 10 and control.worst < 1.0, (control.ticks, control.worst)
    finally:
        for sock in socks:
            sock.close()

    async def upgraded_again() -> None:  # recovers once the connections are gone
        while (await asyncio.to_thread(upgrade, proc.port))[1] != 101:
            await asyncio.sleep(0.1)
    await wait_for(upgraded_again(), 10)
    proc.signal(signal.SIGTERM)
    await asyncio.to_thread(proc.wait, 10)
    log = proc.proc.stderr.read().splitlines()
    assert len(log) < 10, log[:20]  # aggregated: one line per kind and interval
    refused = [line for line in log if "refused at the" in line]
    assert len(refused) == 1 and f"{statuses.count(503)} " in refused[0], log
