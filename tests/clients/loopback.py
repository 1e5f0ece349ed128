"""A transport to the real server core, in memory (as httpx tests use a mock transport): each
connection is a real :class:`~streamer.session.Session` on one real :class:`~streamer.hub.Hub`,
driven by a stepped clock, so client tests need no network and can break the connection on
purpose. What the client is told is exactly what the server would send.

Time passes as the client reads: when a connection has nothing to hand out, the clock moves to
the hub's next instant and the hub steps every stream due then (replies always go out first).
:class:`LoopbackTransport` breaks things on purpose: it drops a connection every ``drop_every``
frames, refuses ``refuse`` connection attempts, lets ``steps_while_down`` instants pass while a
connection is down, and every ``lag_every`` instants makes the session see a full send buffer
for ``lag_skip`` instants, so that the real slow-reader policy conflates and sends ``lagging``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import numpy as np
import orjson

from clients.errors import ConnectionLost
from simulation import GBMParams, path
from streamer.config import ServerConfig
from streamer.hub import Hub
from streamer.session import Session
from wire import events
from tests.conftest import small_market

NOW = 1_800_000_000.0
MARKET = small_market(NOW)
#: A private stream's parameters when a subscribe leaves them out.
DEFAULT_PARAMS = {"startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0}


def prices(params: dict[str, Any], seed: int, n: int) -> np.ndarray:
    """The first ``n`` prices of a stream, as ``/gbm`` computes them."""
    return path(GBMParams(params["startPrice"], params["mu"], params["sigma"],
                          params["delta"]), seed, n)


def symbol_params(symbol: str) -> tuple[dict[str, Any], int]:
    """The parameters and seed of a symbol of :data:`MARKET`, as :func:`prices` takes them."""
    spec = MARKET.get(symbol)
    assert spec is not None
    return spec.params.values(), spec.seed


class LoopbackServer:
    """The hub every connection shares, and the clock."""

    def __init__(self, **settings: Any) -> None:
        self.config = dataclasses.replace(ServerConfig(), **settings)
        self.now = NOW
        self.hub = Hub(MARKET, NOW, ring=max(self.config.max_history, self.config.max_replay))
        self.ops: list[dict[str, Any]] = []
        """Every operation received, in order, on any connection."""

    def step(self) -> None:
        """Move the clock to the next instant and step every stream due then."""
        self.now = self.hub.next_due()
        self.hub.advance(self.now)


class LoopbackTransport:
    def __init__(self, server: LoopbackServer | None = None, *, drop_every: int | None = None,
                 refuse: int = 0, lag_every: int | None = None, lag_skip: int = 3,
                 steps_while_down: int = 0) -> None:
        self.server = server or LoopbackServer()
        self.drop_every = drop_every
        self.refuse = refuse
        self.lag_every = lag_every
        self.lag_skip = lag_skip
        self.steps_while_down = steps_while_down
        self.attempts = 0
        self.connections: list[LoopbackConnection] = []

    async def connect(self, url: str) -> LoopbackConnection:
        self.attempts += 1
        if self.refuse > 0:
            self.refuse -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        connection = LoopbackConnection(self)
        self.connections.append(connection)
        return connection

    @property
    def live(self) -> LoopbackConnection:
        return self.connections[-1]


class LoopbackConnection:
    def __init__(self, transport: LoopbackTransport) -> None:
        self.transport = transport
        self.server = transport.server
        self.session = Session(self.server.hub, self.server.config, self.server.now,
                               frame=events.payload)
        self.closed: ConnectionLost | None = None
        self.close_code: int | None = None
        self.frames = 0
        self.steps = 0
        self._wake = asyncio.Event()

    # --- the Connection protocol --------------------------------------------------------------

    async def send(self, message: bytes) -> None:
        if self.closed is not None:
            raise self.closed
        self.server.ops.append(orjson.loads(message))
        self.session.receive(message, self.server.now)
        while self.session.busy:  # a far resume's catch-up, all of it (no other client waits)
            self.session.work()
        self._wake.set()

    async def recv(self) -> bytes:
        await asyncio.sleep(0)  # let the application run, as a real socket would
        while True:
            if self.closed is not None:
                raise self.closed
            data = self.session.data_to_send()
            if data:
                break
            if self.session.subs:
                self._step()
                continue
            self._wake.clear()  # nothing to send and nothing subscribed: wait for an operation
            await self._wake.wait()
        self.frames += 1
        every = self.transport.drop_every
        if every and self.frames % every == 0:
            self.drop()
            raise self.closed  # type: ignore[misc]
        return data

    async def close(self) -> None:
        if self.closed is None:
            self.close_code = 1000
            self.closed = ConnectionLost(1000)
            self.session.close()
            self._wake.set()

    # --- the test's side ----------------------------------------------------------------------

    def drop(self, code: int | None = None, reason: str = "", final: bool = False) -> None:
        """Break the connection (no close frame unless ``code``); time goes on meanwhile."""
        if self.closed is None:
            self.close_code = code
            self.closed = ConnectionLost(code, reason, final=final)
            self.session.close()
            for _ in range(self.transport.steps_while_down):
                self.server.step()
            self._wake.set()

    def _step(self) -> None:
        self.server.step()
        self.steps += 1
        lag = self.transport.lag_every
        if lag and self.steps % lag == 0:  # the client "reads too slowly" for a while
            session, server = self.session, self.server
            session.buffered(server.config.max_send_buffer + 1, server.now)
            for _ in range(self.transport.lag_skip):
                server.step()
            session.buffered(0, server.now)
