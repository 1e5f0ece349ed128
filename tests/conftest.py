"""Fixtures shared by every test: servers on 127.0.0.1 port 0, a small fast market, timeouts.

Every wait in the suite is ``asyncio.wait_for(..., timeout(seconds))``: the waits scale with
the ``TEST_TIMEOUT_SCALE`` environment variable so a slow machine can be given more time
without editing tests.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from simulation import GBMParams, Market, SymbolSpec
from streamer.config import ServerConfig
from streamer.server import StreamServer

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
TIMEOUT_SCALE = float(os.environ.get("TEST_TIMEOUT_SCALE", "1"))


def timeout(seconds: float) -> float:
    """A deadline for one wait, scaled for slow machines."""
    return seconds * TIMEOUT_SCALE


def small_market(now: float) -> Market:
    """Three symbols whose t0 is a few seconds back, so a server starts in milliseconds."""
    t0 = float(int(now) - 5)
    return Market((
        SymbolSpec("ACME", GBMParams(70.0, 0.05, 0.3, 1.0), 0.05, 1, t0),
        SymbolSpec("BOLT", GBMParams(12.5, 0.12, 0.55, 0.5), 0.02, 2, t0),
        SymbolSpec("SLOW", GBMParams(240.0, 0.03, 0.18, 1.0), 1.0, 3, t0),
    ))


def spec_of(market: Market, name: str) -> SymbolSpec:
    """The symbol ``name`` of a market the test built, so known to be there."""
    spec = market.get(name)
    assert spec is not None, name
    return spec


@pytest.fixture
def config() -> ServerConfig:
    """Settings for in-process test servers; tests replace fields with dataclasses.replace."""
    return ServerConfig(port=0)


@pytest.fixture
async def server(config: ServerConfig) -> AsyncIterator[StreamServer]:
    """A real server in this event loop, on a free loopback port, with :func:`small_market`."""
    async with StreamServer(config, market=small_market(time.time())) as srv:
        yield srv


def ws_url(server: StreamServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


def http_url(server: StreamServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


class ServerProcess:
    """``python -m streamer serve`` in a child process; ``port`` is read from its banner."""

    def __init__(self, *args: str, port: int = 0, files: int | None = None) -> None:
        self.args = ["--port", str(port), "--log-level", "warning", *args]
        self.proc: subprocess.Popen[str] | None = None
        self.port = port
        self.files = files
        """A limit of open files for the server (``ulimit -n``), if given."""

    def start(self) -> ServerProcess:
        command = [sys.executable, "-m", "streamer", "serve", *self.args]
        if self.files is not None:  # as a user would: ulimit, then exec (the pid stays)
            command = ["sh", "-c", f'ulimit -n {self.files} && exec "$@"', "sh", *command]
        self.proc = subprocess.Popen(  # a session of its own: stop() ends its workers too
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            start_new_session=True)
        assert self.proc.stdout is not None and self.proc.stderr is not None  # both piped
        line = self.proc.stdout.readline()  # the banner; blocks until the server listens
        match = re.search(r"ws://[^:]+:(\d+)/ws", line)
        if match is None:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r} {self.proc.stderr.read()!r}")
        self.port = int(match.group(1))
        return self

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout(10))

    def wait(self, seconds: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout(seconds))

    def stop(self) -> None:
        """Kill the server and every process of its session (the workers of ``--workers``)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the whole group is gone already
        if self.proc.poll() is None:
            self.proc.wait(timeout(10))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@pytest.fixture
def server_process() -> Iterator[type[ServerProcess]]:
    """A factory of child-process servers; every one started is killed at the end of the test."""
    started: list[ServerProcess] = []

    class Tracked(ServerProcess):
        def start(self) -> ServerProcess:
            started.append(self)
            return super().start()

    yield Tracked
    for proc in started:
        proc.stop()


async def take(source: AsyncIterator[T], n: float) -> list[T]:
    """The next ``n`` items of an async iterator (a subscription, a merge); fewer if it ends
    first (``math.inf``: until it ends)."""
    items: list[T] = []
    async for item in source:
        items.append(item)
        if len(items) == n:
            break
    return items


async def wait_for(awaitable: Awaitable[T], seconds: float = 5.0) -> T:
    """``asyncio.wait_for`` with a scaled timeout."""
    return await asyncio.wait_for(awaitable, timeout(seconds))
