"""The load tester against real servers on loopback port 0: its counts equal what the server
says it sent, thresholds fail the exit status, peers that speak a subset of the protocol work,
and a server that goes away or is not there is measured, not a crash.

Every run is small (1-2 workers, a few connections, about a second) and bounded by a scaled
timeout.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import socket
import sys
from pathlib import Path

import orjson
import pytest

from clients.load import LiveStatus, LoadSpec, ProtocolSubscriber, Threshold, arun_load
from clients.load.cli import exit_status
from tests.conftest import ROOT, timeout, wait_for, ws_url
from tests.load.peers import BareSubscriber


async def until(predicate, seconds: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)
    await wait_for(poll(), seconds)


async def run_cli(*args: str, seconds: float = 30.0) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tick_streamer", "load", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await wait_for(proc.communicate(), seconds)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_counts_equal_what_the_server_sent(server) -> None:
    spec = LoadSpec(ws_url(server), connections=6, subscriptions=4, duration=1.0,
                    ramp_rate=50.0, workers=2,
                    subscriber=ProtocolSubscriber(kind="mix", symbols=("ACME", "BOLT"),
                                                  interval=0.02))
    summary = await wait_for(arun_load(spec), 30)
    await until(lambda: server.health()["connections"] == 0)
    health = server.health()
    m = summary.metrics
    assert m["ticks_received"]["count"] == health["ticks_sent"] > 300
    assert m["ws_msgs_received"]["count"] == health["frames_sent"]
    # bytes_sent counted payloads, and whole frames since the server writes its own frames:
    # the tester reports both (data_received: frames, headers included; payload_received)
    assert health["bytes_sent"] in (m["data_received"]["count"], m["payload_received"]["count"])
    assert (m["payload_received"]["count"] + 2 * m["ws_msgs_received"]["count"]
            <= m["data_received"]["count"]
            <= m["payload_received"]["count"] + 4 * m["ws_msgs_received"]["count"])
    assert m["tick_delay"]["count"] == m["ticks_received"]["count"]
    assert m["subscriptions"]["count"] == m["subscribe_duration"]["count"] == 24
    for name in ("seq_gaps", "seq_duplicates", "ticks_conflated", "lagging", "errors",
                 "ws_connect_failed", "ws_closes_unexpected", "protocol_violations"):
        assert m[name]["count"] == 0, name
    assert m["ws_sessions"]["count"] == 6
    assert m["ws_closes"]["by_code"] == {"1000": 6}
    assert m["ws_connections"]["value"] == 6
    assert health["subscriptions"] == 0 and health["errors"] == {}
    assert [w.connections for w in summary.workers] == [3, 3]
    assert m["ticks_received"]["rate"] == pytest.approx(6 * (2 / 0.02 + 2 / 0.05), rel=0.25)
    assert 0 < m["tick_delay"]["p50"] <= m["tick_delay"]["p99"] <= m["tick_delay"]["max"]
    assert summary.ok and not summary.interrupted


async def test_a_failed_threshold_exits_99_and_names_it(server,
                                                        tmp_path: Path) -> None:
    report = tmp_path / "load.json"
    code, out, err = await run_cli("--url", ws_url(server), "-c", "2", "-s", "2", "-d", "1s",
                                   "-w", "1", "--kind", "shared", "--symbols", "BOLT",
                                   "--max-p99", "1us", "--max-gaps", "0",
                                   "--json", str(report))
    assert code == 99, err
    assert re.search(r"^FAIL tick_delay\.p99<=1us  \(measured [\d.]+(us|ms)\)$", out, re.M)
    assert re.search(r"^ok   seq_gaps\.count<=0  \(measured 0\)$", out, re.M)
    assert "\x1b[" not in out  # not a terminal: no colours, no live progress
    data = orjson.loads(report.read_bytes())
    assert data["ok"] is False
    assert [(t["threshold"], t["ok"]) for t in data["thresholds"]] == [
        ("tick_delay.p99<=1us", False), ("seq_gaps.count<=0", True)]
    assert data["metrics"]["ticks_received"]["count"] > 0


async def test_passing_thresholds_exit_0_with_json_on_standard_output(server) -> None:
    code, out, err = await run_cli("--url", ws_url(server), "-c", "2", "-d", "1s", "-w", "1",
                                   "--interval", "20ms", "--max-gaps", "0", "--max-errors", "0",
                                   "--threshold", "ticks_received.count>0", "--json", "-")
    assert code == 0, err
    data = orjson.loads(out)
    assert data["ok"] is True and data["spec"]["connections"] == 2
    assert "tick_delay" in err  # the table went to standard error


async def test_bad_arguments_exit_2_with_the_reason() -> None:
    code, _, err = await run_cli("--url", "http://example/ws", "--max-p99", "50", seconds=10)
    assert code == 2
    assert "streamer load: error: --max-p99: threshold 'tick_delay.p99<=50' needs a unit" in err


async def test_subscribe_errors_are_counted_by_code(server) -> None:
    spec = LoadSpec(ws_url(server), connections=2, subscriptions=2, duration=0.5, workers=1,
                    subscriber=ProtocolSubscriber(kind="shared", symbols=("NOPE", "ACME")),
                    thresholds=(Threshold.parse("errors==0"),))
    summary = await wait_for(arun_load(spec), 30)
    assert summary.metrics["errors"]["by_code"] == {"unknown_symbol": 2}
    assert summary.metrics["subscriptions"]["count"] == 2
    assert not summary.ok and exit_status(summary) == 99


async def test_a_peer_speaking_a_subset_of_the_protocol_is_measured() -> None:
    naive = await asyncio.to_thread(_start_naive)
    try:
        spec = LoadSpec(naive.url, connections=2, subscriptions=2, duration=1.0, workers=1,
                        subscriber=ProtocolSubscriber(kind="private", interval=0.05),
                        unsubscribe_at_end=False)
        private = await wait_for(arun_load(spec), 30)
        bare = await wait_for(arun_load(LoadSpec(naive.url, connections=1, subscriptions=2,
                                                 duration=1.0, workers=1,
                                                 subscriber=BareSubscriber(),
                                                 unsubscribe_at_end=False)), 30)
    finally:
        naive.kill()
    for summary in (private, bare):
        m = summary.metrics
        assert m["ticks_received"]["count"] > 20
        assert m["seq_gaps"]["count"] == m["seq_duplicates"]["count"] == 0
        assert m["errors"]["count"] == m["protocol_violations"]["count"] == 0
        assert m["ws_closes"]["by_code"] == {"1000": m["ws_sessions"]["count"]}
    assert private.metrics["subscribe_duration"]["count"] == 4  # acks matched by id
    assert bare.metrics["subscriptions"]["count"] == 2
    assert bare.metrics["subscribe_duration"]["count"] == 0  # no id, nothing to match


class _Naive:
    def __init__(self) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "peers" / "naive_server.py"), "--port", "0"],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        match = re.search(r"(ws://\S+/ws)", self.proc.stdout.readline())
        assert match, "the naive server did not start"
        self.url = match.group(1)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout(10))


def _start_naive() -> _Naive:
    return _Naive()


async def test_a_server_that_goes_away_is_measured_and_ends_the_run_early(server) -> None:
    ticking = asyncio.Event()
    loop = asyncio.get_running_loop()

    def progress(status) -> None:
        if status.counters.get("ticks_received", 0) > 0:
            loop.call_soon_threadsafe(ticking.set)

    spec = LoadSpec(ws_url(server), connections=3, subscriptions=1, duration=60.0,
                    ramp_rate=0, workers=1, progress_interval=0.1,
                    subscriber=ProtocolSubscriber(kind="shared", symbols=("BOLT",)))
    run = asyncio.create_task(arun_load(spec, on_progress=progress))
    await wait_for(ticking.wait(), 20)
    server.close()
    summary = await wait_for(run, 15)  # far less than the 60 s hold
    m = summary.metrics
    assert m["ws_closes"]["by_code"] == {"1001": 3}
    assert m["ws_closes_unexpected"]["count"] == 3
    assert any("no connection open or opening" in w and "stopped early" in w
               for w in summary.warnings)
    assert summary.elapsed < 20


async def test_a_server_that_is_not_there_gives_failed_connects() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = LoadSpec(f"ws://127.0.0.1:{port}/ws", connections=3, duration=30.0, workers=1)
    summary = await wait_for(arun_load(spec), 30)
    assert summary.metrics["ws_connect_failed"]["count"] == 3
    assert summary.metrics["ws_connect_failed"]["by_reason"] == {"refused": 3}
    assert "no connection opened: nothing was measured" in summary.warnings
    assert exit_status(summary) == 1


async def test_cancelling_a_run_stops_its_workers(server) -> None:
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    spec = LoadSpec(ws_url(server), connections=2, duration=60.0, workers=1,
                    progress_interval=0.1)

    def on_progress(status: LiveStatus) -> None:
        loop.call_soon_threadsafe(started.set)

    run = asyncio.create_task(arun_load(spec, on_progress=on_progress))
    await wait_for(started.wait(), 20)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await wait_for(run, 15)
    assert multiprocessing.active_children() == []
    await until(lambda: server.health()["connections"] == 0)
