"""The Feed across a server restart: kill the server process mid-stream, start it again on
the same port, and the iterators go on with no gap and no duplicate, with the prices of
``/gbm`` for the same seed. Both server processes load the same market file, so a symbol's
``t0`` (and so its seq numbers) is the same in both."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from clients.feed import Backoff, Feed, Tick
from tests.conftest import wait_for

MODEL = {"startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0}


def market_file(tmp_path: Path) -> Path:
    file = tmp_path / "market.toml"
    file.write_text(f"t0 = {float(int(time.time()) - 3)}\n"
                    "[symbols.ACME]\nstartPrice = 70.0\nmu = 0.05\nsigma = 0.3\ndelta = 0.01\n"
                    "interval = 0.05\nseed = 11\n")
    return file


async def gbm(port: int, periods: int, params: dict[str, Any], seed: int) -> list[float]:
    query = "&".join(f"{k}={params[k]!r}" for k in MODEL) + f"&periods={periods}&seed={seed}"

    def get() -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/gbm?{query}", timeout=5) as reply:
            body: bytes = reply.read()  # urlopen returns Any in typeshed
            return body
    result: list[float] = orjson.loads(await asyncio.to_thread(get))["result"]
    return result


async def until(predicate, seconds: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)
    await wait_for(poll(), seconds)


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
async def test_a_server_restart_loses_no_tick_and_repeats_none(server_process, tmp_path, how):
    market = market_file(tmp_path)
    first = server_process("--market", str(market)).start()
    port = first.port
    ticks: dict[str, list[Tick]] = {"private": [], "ACME": []}
    backoff = Backoff(initial=0.05, maximum=0.3)
    async with Feed(first.url, reconnect=backoff) as feed:
        private = feed.subscribe(start_price=70.0, mu=0.05, sigma=0.3, delta=1.0,
                                 interval=0.02, seed=7)
        symbol = feed.subscribe(symbol="ACME")

        async def collect() -> None:
            async for tick in feed.merge(private, symbol):
                ticks["ACME" if tick.sub is symbol else "private"].append(tick)

        reader = asyncio.create_task(collect())
        await until(lambda: min(map(len, ticks.values())) >= 10)
        seen = {name: len(got) for name, got in ticks.items()}
        if how == "sigkill":
            first.kill()
        else:
            first.signal(signal.SIGTERM)
            assert first.wait(10) == 0
        await until(lambda: not feed.connected)
        second = server_process("--market", str(market), port=port).start()
        await until(lambda: feed.connected and all(
            len(ticks[name]) >= seen[name] + 20 for name in ticks))
        reader.cancel()
        assert feed.stats.connects == 2
    for name, sub in (("private", private), ("ACME", symbol)):
        got = ticks[name]
        seqs = [t.seq for t in got]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{name}: gap or duplicate"
        assert sub.params is not None and sub.seed is not None  # both known once acked
        expected = await gbm(second.port, seqs[-1] + 1, sub.params, sub.seed)
        assert [t.price for t in got] == expected[seqs[0]:], name
    assert private.stats.resumes == symbol.stats.resumes == 1
