"""A fake transport (as httpx tests use a mock transport): an in-memory stand-in for the
server, so that client tests need no network and can break the connection on purpose.

:class:`FakeServer` speaks the wire protocol (PROTOCOL.md) for private streams and symbols,
with prices from :func:`simulation.path`, so a stream's tick ``k`` equals ``/gbm``'s
``result[k]`` for the same parameters and seed. Time is counted in steps, not seconds: every
stream advances one seq per step, and a step passes each time a connection hands out a frame
of ticks (replies go out first). ``t0`` is the step at which a private stream started.

:class:`FakeTransport` opens :class:`FakeConnection` objects and breaks them on purpose:
``drop_every`` frames, failing ``refuse`` connection attempts, conflating ticks every
``lag_every`` steps (``lagging`` then a seq jump), refusing every ``rate_limit_every``-th
operation with an id-less ``rate_limited`` error (as the real server does), and letting
``steps_while_down`` steps pass while a connection is down.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from clients.errors import ConnectionLost
from simulation import GBMParams, path

DEFAULTS = {"startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0, "interval": 1.0}
SYMBOLS = {"ACME": ({"startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0,
                     "interval": 0.05}, 1),
           "BOLT": ({"startPrice": 12.5, "mu": 0.12, "sigma": 0.55, "delta": 0.5,
                     "interval": 0.02}, 2)}


def prices(params: dict[str, Any], seed: int, n: int) -> np.ndarray:
    """The first ``n`` prices of a stream, as ``/gbm`` computes them."""
    return path(GBMParams(params["startPrice"], params["mu"], params["sigma"],
                          params["delta"]), seed, n)


@dataclass
class Stream:
    params: dict[str, Any]
    seed: int
    t0: float
    symbol: str | None = None
    periods: int | None = None
    _prices: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def price(self, seq: int) -> float:
        if seq >= len(self._prices):
            self._prices = prices(self.params, self.seed, max(2 * seq + 16, 256))
        return float(self._prices[seq])

    def current(self, clock: int) -> int:
        seq = clock - int(self.t0)
        return seq if self.periods is None else min(seq, self.periods - 1)

    def describe(self) -> dict[str, Any]:
        return {"model": "gbm", **self.params, "seed": self.seed, "periods": self.periods}


class FakeServer:
    """The streams and the clock shared by every connection."""

    def __init__(self, *, max_replay: int = 100_000, start: int = 100) -> None:
        self.clock = start
        self.max_replay = max_replay
        self.symbols = {name: Stream(params, seed, 0.0, name)
                        for name, (params, seed) in SYMBOLS.items()}
        self.ops: list[dict[str, Any]] = []
        """Every operation received, in order, on any connection."""
        self.next_seed = 1000

    def tick(self, stream: Stream, sub: int, seq: int) -> dict[str, Any]:
        return {"type": "tick", "sub": sub, "seq": seq, "price": stream.price(seq),
                "time": stream.t0 + seq}


class FakeTransport:
    def __init__(self, server: FakeServer | None = None, *, drop_every: int | None = None,
                 refuse: int = 0, lag_every: int | None = None, lag_skip: int = 3,
                 rate_limit_every: int | None = None, steps_while_down: int = 0) -> None:
        self.server = server or FakeServer()
        self.drop_every = drop_every
        self.refuse = refuse
        self.lag_every = lag_every
        self.lag_skip = lag_skip
        self.rate_limit_every = rate_limit_every
        self.steps_while_down = steps_while_down
        self.attempts = 0
        self.connections: list[FakeConnection] = []

    async def connect(self, url: str) -> FakeConnection:
        self.attempts += 1
        if self.refuse > 0:
            self.refuse -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        connection = FakeConnection(self)
        self.connections.append(connection)
        return connection

    @property
    def live(self) -> FakeConnection:
        return self.connections[-1]


class FakeConnection:
    def __init__(self, transport: FakeTransport) -> None:
        self.transport = transport
        self.server = transport.server
        self.subs: dict[int, tuple[Stream, list[int]]] = {}
        """sub -> (stream, [next seq to send])"""
        self.replies: list[dict[str, Any]] = []
        self.closed: ConnectionLost | None = None
        self.close_code: int | None = None
        self.frames = 0
        self.steps = 0
        self.ops = 0
        self._next_sub = 1
        self._wake = asyncio.Event()

    # --- the Connection protocol --------------------------------------------------------------

    async def send(self, message: bytes) -> None:
        if self.closed is not None:
            raise self.closed
        op = orjson.loads(message)
        self.server.ops.append(op)
        self.ops += 1
        every = self.transport.rate_limit_every
        if every and self.ops % every == 0:
            self.replies.append({"type": "error", "id": None, "code": "rate_limited",
                                 "field": None, "message": "more than 50 operations a second"})
        else:
            self.replies.extend(self._handle(op))
        self._wake.set()

    async def recv(self) -> bytes:
        await asyncio.sleep(0)  # let the application run, as a real socket would
        while True:
            if self.closed is not None:
                raise self.closed
            if self.replies or self.subs:
                break
            self._wake.clear()
            await self._wake.wait()
        self.frames += 1
        every = self.transport.drop_every
        if every and self.frames % every == 0:
            self.drop()
            raise self.closed  # type: ignore[misc]
        if self.replies:
            events, self.replies = self.replies, []
        else:
            events = self._step()
        return orjson.dumps(events)

    async def close(self) -> None:
        if self.closed is None:
            self.close_code = 1000
            self.closed = ConnectionLost(1000)
            self._wake.set()

    # --- the test's side ----------------------------------------------------------------------

    def drop(self, code: int | None = None, reason: str = "", final: bool = False) -> None:
        """Break the connection (no close frame unless ``code``); time goes on meanwhile."""
        if self.closed is None:
            self.close_code = code
            self.closed = ConnectionLost(code, reason, final=final)
            self.server.clock += self.transport.steps_while_down
            self._wake.set()

    def push(self, *events: dict[str, Any]) -> None:
        """Send these events in the next frame."""
        self.replies.extend(events)
        self._wake.set()

    # --- the server's behaviour ---------------------------------------------------------------

    def _step(self) -> list[dict[str, Any]]:
        server = self.server
        server.clock += 1
        self.steps += 1
        lag = self.transport.lag_every
        conflate = bool(lag) and self.steps % lag == 0
        if conflate:  # the client "read too slowly": time passed, only the newest tick is sent
            server.clock += self.transport.lag_skip
        events: list[dict[str, Any]] = []
        for sub, (stream, cursor) in list(self.subs.items()):
            current = stream.current(server.clock)
            if conflate and current > cursor[0]:
                events.append({"type": "lagging", "sub": sub, "skipped": current - cursor[0],
                               "seq": current})
                cursor[0] = current
            while cursor[0] <= current:
                events.append(server.tick(stream, sub, cursor[0]))
                cursor[0] += 1
            if stream.periods is not None and cursor[0] >= stream.periods:
                events.append({"type": "end", "sub": sub, "seq": stream.periods - 1})
                del self.subs[sub]
        return events

    def _handle(self, op: dict[str, Any]) -> list[dict[str, Any]]:
        kind, op_id = op.get("op"), op.get("id")
        if kind == "ping":
            return [{"type": "pong", "id": op_id, "time": float(self.server.clock)}]
        if kind == "unsubscribe":
            if self.subs.pop(op["sub"], None) is None:
                return [_error(op_id, "unknown_subscription", "sub",
                               f"no subscription {op['sub']} on this connection")]
            return [{"type": "unsubscribed", "id": op_id, "sub": op["sub"]}]
        if kind == "symbols":
            return [{"type": "symbols", "id": op_id, "symbols": [
                {"symbol": s.symbol, "t0": s.t0, "params": s.describe()}
                for s in self.server.symbols.values()]}]
        if kind != "subscribe":
            return [_error(op_id, "bad_request", "op", f"unknown op {kind!r}")]
        return self._subscribe(op)

    def _subscribe(self, op: dict[str, Any]) -> list[dict[str, Any]]:
        server, op_id = self.server, op.get("id")
        if "symbol" in op:
            stream = server.symbols.get(op["symbol"])
            if stream is None:
                return [_error(op_id, "unknown_symbol", "symbol",
                               f"unknown symbol {op['symbol']!r}")]
            if "t0" in op and op["t0"] != stream.t0:
                return [_error(op_id, "invalid_params", "t0", "t0 of the symbol changed")]
        else:
            if op.get("sigma", 0) < 0:
                return [_error(op_id, "invalid_params", "sigma",
                               f"sigma must be a finite number >= 0, got {op['sigma']}")]
            params = {name: op.get(name, default) for name, default in DEFAULTS.items()}
            seed = op.get("seed")
            if seed is None:
                seed = server.next_seed
                server.next_seed += 1
            t0 = float(op.get("t0", server.clock))
            stream = Stream(params, seed, t0, periods=op.get("periods"))
        seq = stream.current(server.clock)
        first = seq + 1
        if op.get("fromSeq") is not None:
            first = op["fromSeq"]
            if first > seq + 1:
                return [_error(op_id, "invalid_params", "fromSeq",
                               f"fromSeq {first} is ahead of the stream, whose current seq is "
                               f"{seq}")]
            if seq + 1 - first > server.max_replay:
                return [_error(op_id, "limit_exceeded", "fromSeq",
                               f"fromSeq {first} would replay {seq + 1 - first} ticks; the "
                               f"limit is {server.max_replay}")]
        elif op.get("history"):
            first = max(0, seq - op["history"] + 1)
        sub = self._next_sub
        self._next_sub += 1
        events = [{"type": "subscribed", "id": op_id, "sub": sub, "symbol": stream.symbol,
                   "seq": seq, "price": stream.price(seq), "time": stream.t0 + seq,
                   "t0": stream.t0, "params": stream.describe()}]
        events += [server.tick(stream, sub, k) for k in range(first, seq + 1)]
        if stream.periods is not None and seq >= stream.periods - 1:
            events.append({"type": "end", "sub": sub, "seq": seq})
        else:
            self.subs[sub] = (stream, [seq + 1])
        return events


def _error(op_id: object, code: str, field: str | None, message: str) -> dict[str, Any]:
    return {"type": "error", "id": op_id, "code": code, "field": field, "message": message}
