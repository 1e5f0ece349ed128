"""The Feed against a real server on a loopback port (the ``server`` fixture)."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import logging
import re
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from clients.errors import ArgumentError, ConnectError, FeedClosed, InvalidParams, UnknownSymbol
from clients.feed import Feed, Tick
from simulation import path
from streamer.server import StreamServer
from tests.conftest import ROOT, http_url, small_market, take, wait_for, ws_url



async def gbm(url: str, **query) -> list[float]:
    """``GET /gbm`` of the server, the batch door with the same model."""
    text = "&".join(f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in query.items())
    def get() -> bytes:
        with urllib.request.urlopen(f"{url}?{text}", timeout=5) as response:
            body: bytes = response.read()  # urlopen returns Any in typeshed
            return body
    result: list[float] = orjson.loads(await asyncio.to_thread(get))["result"]
    return result


def consecutive(ticks: list[Tick]) -> bool:
    return [t.seq for t in ticks] == list(range(ticks[0].seq, ticks[0].seq + len(ticks)))


async def until(predicate, seconds: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.005)
    await wait_for(poll(), seconds)


async def test_a_symbol_starts_with_its_current_tick_then_every_seq_in_order(server):
    async with Feed(ws_url(server)) as feed:
        sub = await feed.subscribe(symbol="BOLT")
        ticks = await wait_for(take(sub, 20))
    assert consecutive(ticks)
    assert sub.params is not None and sub.t0 is not None  # both known once acked
    assert sub.symbol == "BOLT" and sub.params["interval"] == 0.02 and sub.seed == 2
    assert ticks[0].time == pytest.approx(sub.t0 + ticks[0].seq * 0.02)


async def test_a_private_stream_carries_the_prices_of_gbm_with_the_same_seed(server):
    async with Feed(ws_url(server)) as feed:
        sub = await feed.subscribe(start_price=70.0, mu=0.05, sigma=0.3, delta=1.0,
                                   interval=0.005, seed=7)
        ticks = await wait_for(take(sub, 30))
    assert consecutive(ticks) and ticks[0].seq == 0 and ticks[0].price == 70.0
    expected = await gbm(http_url(server, "/gbm"), periods=ticks[-1].seq + 1, startPrice=70.0,
                         mu=0.05, sigma=0.3, delta=1.0, seed=7)
    assert [t.price for t in ticks] == expected[ticks[0].seq:]


async def test_the_server_picks_and_reports_a_seed_when_none_is_given(server):
    async with Feed(ws_url(server)) as feed:
        sub = await feed.subscribe(interval=0.01)
        assert isinstance(sub.seed, int) and 0 <= sub.seed < 2**53
        assert sub.params is not None
        assert sub.params["startPrice"] == 70.0


async def test_history_comes_first_then_live_ticks(server):
    async with Feed(ws_url(server)) as feed:
        sub = feed.subscribe(symbol="ACME", history=10)
        ticks = await wait_for(take(sub, 15))
    assert consecutive(ticks)


async def test_several_subscriptions_share_one_connection_and_each_is_gapless(server):
    async with Feed(ws_url(server)) as feed:
        subs = [feed.subscribe(symbol="ACME"), feed.subscribe(symbol="BOLT"),
                feed.subscribe(seed=7, interval=0.01)]
        ticks = await wait_for(take(feed.merge(*subs), 120))
        assert server.health()["connections"] == 1
        assert server.health()["subscriptions"] == 3
    for sub in subs:
        mine = [t for t in ticks if t.sub is sub]
        assert len(mine) > 5 and consecutive(mine)


async def test_a_finite_stream_ends_after_its_last_period(server):
    async with Feed(ws_url(server)) as feed:
        ticks = await wait_for(take(feed.subscribe(seed=3, interval=0.002, periods=25), 100))
    assert [t.seq for t in ticks] == list(range(25))
    expected = await gbm(http_url(server, "/gbm"), periods=25, startPrice=70.0, mu=0.05,
                         sigma=0.3, delta=1.0, seed=3)
    assert [t.price for t in ticks] == expected


async def test_server_errors_are_typed_with_code_field_and_message(server):
    async with Feed(ws_url(server)) as feed:
        good = feed.subscribe(symbol="BOLT")
        with pytest.raises(UnknownSymbol) as unknown:
            await feed.subscribe(symbol="NOPE")
        with pytest.raises(InvalidParams) as too_fast:
            await feed.subscribe(interval=1e-6)
        with pytest.raises(InvalidParams) as ahead:
            await feed.subscribe(symbol="ACME", t0=(await good).t0, from_seq=10**9)
        assert len(await wait_for(take(good, 5))) == 5  # the connection is still fine
    assert (unknown.value.code, unknown.value.field) == ("unknown_symbol", "symbol")
    assert "NOPE" in unknown.value.message
    assert (too_fast.value.code, too_fast.value.field) == ("invalid_params", "interval")
    assert "got 1e-06" in too_fast.value.message
    assert ahead.value.field == "fromSeq"


async def test_unsubscribe_tells_the_server_and_ends_the_iteration(server):
    async with Feed(ws_url(server)) as feed:
        sub = await feed.subscribe(symbol="BOLT")
        await wait_for(take(sub, 3))
        await wait_for(sub.unsubscribe())
        assert server.health()["subscriptions"] == 0
        await wait_for(take(sub, 10**9))  # drains what was queued, then stops


async def test_async_with_on_a_subscription_unsubscribes_on_exit(server):
    async with Feed(ws_url(server)) as feed:
        async with feed.subscribe(symbol="ACME") as sub:
            await wait_for(take(sub, 2))
            assert server.health()["subscriptions"] == 1
        assert server.health()["subscriptions"] == 0


async def test_ping_and_symbols(server):
    async with Feed(ws_url(server)) as feed:
        assert 0 <= await wait_for(feed.ping()) < 5
        symbols = await wait_for(feed.symbols())
    assert [s["symbol"] for s in symbols] == ["ACME", "BOLT", "SLOW"]


async def test_leaving_async_with_closes_the_connection_with_1000(server, caplog):
    caplog.set_level(logging.INFO, logger="streamer.server")
    async with Feed(ws_url(server)) as feed:
        sub = feed.subscribe(symbol="BOLT")
        await wait_for(take(sub, 2))
    await until(lambda: server.health()["connections"] == 0)
    assert any("code 1000" in r.getMessage() for r in caplog.records
               if r.getMessage().startswith("close "))
    with pytest.raises(FeedClosed):
        feed.subscribe(symbol="BOLT")


async def test_cancelling_the_task_that_reads_closes_the_connection_cleanly(server, caplog):
    caplog.set_level(logging.INFO, logger="streamer.server")
    started = asyncio.Event()

    async def strategy() -> None:
        async with Feed(ws_url(server)) as feed:
            async for _ in feed.subscribe(symbol="BOLT"):
                started.set()

    task = asyncio.create_task(strategy())
    await wait_for(started.wait())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await wait_for(task)
    await until(lambda: server.health()["connections"] == 0)
    closes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("close ")]
    assert closes and "code 1000" in closes[-1]


async def test_connecting_to_nothing_fails_at_once_with_connect_error():
    with pytest.raises(ConnectError, match=re.escape("cannot connect to ws://127.0.0.1:9/ws")):
        async with Feed("ws://127.0.0.1:9/ws"):
            pass


def test_the_client_never_runs_an_event_loop_of_its_own_nor_imports_the_server():
    # the feed is library code; the load tester's worker processes and the tail command (its
    # cli module, the one entry point) own their loops
    library = [f for f in sorted((ROOT / "clients" / "feed").rglob("*.py")) if f.name != "cli.py"]
    for file in [*library, ROOT / "clients" / "errors.py"]:
        tree = ast.parse(Path(file).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert not (node.func.attr in ("run", "run_until_complete")
                            and getattr(node.func.value, "id", "") == "asyncio"), file
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [
                    alias.name for alias in node.names]
                assert not any(n and n.split(".")[0] in ("streamer", "simulation")
                               for n in names), f"{file}: imports {names}"


async def test_of_several_urls_the_first_that_answers_is_used(server):
    down = "ws://127.0.0.1:9/ws"  # nothing listens on the discard port
    async with Feed([down, ws_url(server)]) as feed:
        tick = await wait_for(anext(aiter(feed.subscribe(symbol="ACME"))))
        assert tick.seq >= 0 and feed.url == ws_url(server)
        assert feed.urls == (down, ws_url(server))


async def test_when_no_url_answers_the_error_names_each():
    with pytest.raises(ConnectError, match=r"cannot connect to any of .*:9/ws.*:7/ws"):
        await Feed(["ws://127.0.0.1:9/ws", "ws://127.0.0.1:7/ws"]).connect()
    with pytest.raises(ArgumentError, match="url must be a ws:// or wss:// URL, got 'http://x'"):
        Feed(["ws://127.0.0.1:9/ws", "http://x"])


async def test_asap_replays_a_symbol_from_seq_zero_past_the_servers_ring(config):
    """``pace="asap"`` from the Python client: every tick from 0 (the server keeps ten), the
    ``replayed`` marker passed over, then live ticks, in order."""
    small = dataclasses.replace(config, max_history=10, max_replay=10)
    now = time.time()
    market = small_market(now)
    async with StreamServer(small, market=market) as srv, Feed(ws_url(srv)) as feed:
        sub = await feed.subscribe(symbol="BOLT", from_seq=0, pace="asap")
        assert srv.hub is not None
        bolt = srv.hub.symbol("BOLT")
        assert bolt is not None
        current = srv.hub.current(bolt)[0]
        ticks = await wait_for(take(sub, current + 30))
    spec = market.get("BOLT")
    assert spec is not None and current > 50
    assert [t.seq for t in ticks] == list(range(current + 30))
    assert [t.price for t in ticks] == path(spec.params, spec.seed, current + 30).tolist()


async def test_a_symbol_from_a_time_starts_at_the_tick_of_that_time(server):
    async with Feed(ws_url(server)) as feed:
        probe = await feed.subscribe(symbol="BOLT")
        first = await wait_for(anext(aiter(probe)))
        assert probe.t0 is not None
        at = probe.t0 + (first.seq - 30) * 0.02  # 30 ticks back
        sub = await feed.subscribe(symbol="BOLT", from_time=at, pace="asap")
        ticks = await wait_for(take(sub, 40))
    assert ticks[0].seq == first.seq - 30 and ticks[0].time == pytest.approx(at)
    assert consecutive(ticks)
