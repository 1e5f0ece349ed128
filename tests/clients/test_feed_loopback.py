"""The asyncio Feed over an in-memory transport to the real server core (a Session per
connection on one Hub, on a stepped clock): dropped connections, conflation, refusals and slow
readers, without a network. Prices are checked against simulation.path (what /gbm serves)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from clients.errors import (ArgumentError, ConnectError, ConnectionLost, FeedClosed,
                            TicksLost, UnknownSymbol)
from clients.feed import Backoff, BlockingFeed, Feed, Tick, aio
from tests.clients.loopback import (DEFAULT_PARAMS, LoopbackServer, LoopbackTransport, prices,
                                    symbol_params)
from tests.conftest import take, wait_for
import itertools

URL = "ws://loopback/ws"
FAST = Backoff(initial=0.0, maximum=0.0)


def feed(transport: LoopbackTransport, **options) -> Feed:
    return Feed(URL, transport=transport, reconnect=options.pop("reconnect", FAST), **options)



async def until(predicate, seconds: float = 5.0) -> None:
    """Wait for a condition that the event loop makes true, without a fixed sleep."""
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.001)
    await wait_for(poll(), seconds)


def assert_gapless(ticks: list[Tick], params: dict[str, Any], seed: int) -> None:
    seqs = [t.seq for t in ticks]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    expected = prices(params, seed, seqs[-1] + 1)
    assert [t.price for t in ticks] == [float(expected[s]) for s in seqs]


# --- reconnect and resume ---------------------------------------------------------------------


async def test_a_connection_dropped_every_few_frames_loses_no_tick_and_repeats_none():
    transport = LoopbackTransport(drop_every=4, steps_while_down=3)
    async with feed(transport) as client:
        sub = await client.subscribe(sigma=0.3, interval=0.1, seed=7)
        ticks = await wait_for(take(sub, 150))
    assert_gapless(ticks, DEFAULT_PARAMS, 7)
    assert len(transport.connections) > 30
    assert sub.stats.resumes == len(transport.connections) - 1


async def test_every_resume_sends_the_same_params_seed_t0_and_the_next_seq():
    transport = LoopbackTransport(drop_every=3, steps_while_down=2)
    async with feed(transport) as client:
        sub = await client.subscribe(sigma=0.3, interval=0.1)  # the server picks the seed
        ticks = await wait_for(take(sub, 40))
    resumes = [op for op in transport.server.ops if op["op"] == "subscribe"][1:]
    assert resumes
    for op in resumes:
        assert {k: v for k, v in op.items() if k not in ("id", "fromSeq")} == {
            "op": "subscribe", "startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0,
            "interval": 0.1, "seed": sub.seed, "t0": sub.t0}
    from_seqs = [op["fromSeq"] for op in resumes]
    assert from_seqs == sorted(from_seqs) and set(from_seqs) <= {t.seq for t in ticks} | {
        ticks[-1].seq + 1, ticks[-1].seq + 2}


async def test_a_heston_stream_resumes_gaplessly_with_its_vol_and_its_model():
    from simulation import HestonParams, path_and_vols
    transport = LoopbackTransport(drop_every=4, steps_while_down=3)
    async with feed(transport) as client:
        sub = await client.subscribe(model="heston", xi=0.8, interval=0.1, seed=3)
        ticks = await wait_for(take(sub, 300))  # past the first block of 128 steps
    prices, vols = path_and_vols(HestonParams(70.0, 0.05, 1.0, 0.09, 2.0, 0.09, 0.8, -0.7), 3,
                                 ticks[-1].seq + 1)
    assert vols is not None and [t.seq for t in ticks] == list(range(ticks[0].seq,
                                                                    ticks[-1].seq + 1))
    assert [(t.price, t.vol) for t in ticks] == [(prices[t.seq], vols[t.seq]) for t in ticks]
    resumes = [op for op in transport.server.ops if op["op"] == "subscribe"][1:]
    assert resumes and all(op["model"] == "heston" and op["xi"] == 0.8 and "sigma" not in op
                           for op in resumes)


async def test_several_subscriptions_on_one_connection_all_resume_gaplessly():
    transport = LoopbackTransport(drop_every=5, steps_while_down=4)
    async with feed(transport) as client:
        subs = [client.subscribe(symbol="ACME"), client.subscribe(seed=7, sigma=0.3,
                                                                  interval=0.04),
                client.subscribe(symbol="BOLT", history=5)]
        ticks = await wait_for(take(client.merge(*subs), 300))
    for sub in subs:
        mine = [t for t in ticks if t.sub is sub]
        params, seed = symbol_params(sub.symbol) if sub.symbol else (DEFAULT_PARAMS, 7)
        assert len(mine) > 50
        assert_gapless(mine, params, seed)


async def test_reconnecting_waits_with_backoff_and_gives_up_after_max_attempts():
    transport = LoopbackTransport(refuse=0)
    backoff = Backoff(initial=0.001, maximum=0.002, max_attempts=3)
    async with feed(transport, reconnect=backoff) as client:
        sub = await client.subscribe(seed=7)
        await wait_for(take(sub, 3))
        transport.refuse = 100
        transport.live.drop()
        with pytest.raises(ConnectError) as caught:
            await wait_for(take(sub, 100))
    assert caught.value.attempts == 3
    assert transport.attempts == 1 + 3


async def test_refused_attempts_are_retried_until_the_server_is_back():
    transport = LoopbackTransport()
    async with feed(transport, reconnect=Backoff(initial=0.001, maximum=0.004)) as client:
        sub = await client.subscribe(seed=7)
        before = await wait_for(take(sub, 3))
        transport.refuse = 5
        transport.live.drop()
        after = await wait_for(take(sub, 10))
    assert transport.attempts == 1 + 5 + 1
    assert_gapless(before + after, {"startPrice": 70.0, "mu": 0.05, "sigma": 0.3,
                                    "delta": 1.0}, 7)


async def test_without_reconnect_a_drop_ends_every_subscription_with_connection_lost():
    transport = LoopbackTransport()
    async with feed(transport, reconnect=False) as client:
        sub = await client.subscribe(seed=7)
        await wait_for(take(sub, 2))
        transport.live.drop(1011, "internal error")
        with pytest.raises(ConnectionLost) as caught:
            await wait_for(take(sub, 1000))
    assert (caught.value.code, caught.value.reason) == (1011, "internal error")
    assert transport.attempts == 1


async def test_a_final_close_code_is_not_retried():
    transport = LoopbackTransport()
    async with feed(transport) as client:
        sub = await client.subscribe(seed=7)
        await wait_for(take(sub, 2))
        transport.live.drop(1009, "message too big", final=True)
        with pytest.raises(ConnectionLost):
            await wait_for(take(sub, 1000))
        with pytest.raises(ConnectionLost):
            client.subscribe(seed=8)
    assert transport.attempts == 1


async def test_a_feed_with_no_subscription_reconnects_only_when_asked_to():
    transport = LoopbackTransport()
    async with feed(transport) as client:
        sub = await client.subscribe(seed=7)
        await sub.unsubscribe()
        transport.live.drop(1008, "idle")
        await until(lambda: not client.connected)
        for _ in range(20):
            await asyncio.sleep(0)
        assert transport.attempts == 1
        assert await wait_for(client.ping()) >= 0
        assert transport.attempts == 2


async def test_a_resume_beyond_the_replay_limit_raises_ticks_lost_once_then_goes_on():
    transport = LoopbackTransport(LoopbackServer(max_replay=5), steps_while_down=50)
    async with feed(transport) as client:
        sub = await client.subscribe(seed=7, interval=0.02)  # a tick every step of the clock
        before = await wait_for(take(sub, 3))
        transport.live.drop()
        with pytest.raises(TicksLost) as caught:
            async for tick in sub:
                before.append(tick)
        after = await wait_for(take(sub, 3))
    lost = caught.value
    assert lost.first == before[-1].seq + 1 and lost.last == after[0].seq - 1
    assert lost.subscription is sub and sub.stats.lost == lost.last - lost.first + 1
    assert [t.seq for t in after] == list(range(after[0].seq, after[0].seq + 3))


# --- lagging --------------------------------------------------------------------------------


async def test_conflated_ticks_are_fetched_back_so_every_seq_is_seen():
    transport = LoopbackTransport(lag_every=4, lag_skip=6)
    async with feed(transport) as client:
        sub = await client.subscribe(seed=7, sigma=0.3, interval=0.02)
        ticks = await wait_for(take(sub, 120))
    assert_gapless(ticks, DEFAULT_PARAMS, 7)
    assert sub.stats.lagging > 3 and sub.stats.refetches == sub.stats.lagging
    kinds = [op["op"] for op in transport.server.ops]
    assert kinds.count("unsubscribe") == sub.stats.refetches
    refetches = [op for op in transport.server.ops if op.get("fromSeq") is not None]
    assert all(op["t0"] == sub.t0 and op["seed"] == 7 for op in refetches)


async def test_with_fill_gaps_off_conflated_ticks_are_skipped_and_counted():
    transport = LoopbackTransport(lag_every=4, lag_skip=6)
    async with feed(transport, fill_gaps=False) as client:
        sub = await client.subscribe(seed=7, interval=0.02)
        ticks = await wait_for(take(sub, 60))
    seqs = [t.seq for t in ticks]
    jumps = sum(b - a - 1 for a, b in itertools.pairwise(seqs))
    assert jumps > 0 and seqs == sorted(set(seqs))
    assert sub.stats.skipped >= jumps and sub.stats.refetches == 0
    assert "unsubscribe" not in [op["op"] for op in transport.server.ops]


# --- refusals, bounds, arguments --------------------------------------------------------------


async def test_operations_refused_by_the_rate_limit_are_sent_again(monkeypatch):
    monkeypatch.setattr(aio, "RETRY_DELAY", 0.01)
    transport = LoopbackTransport(LoopbackServer(ops_burst=2, max_ops_per_second=20.0))
    async with feed(transport) as client:
        subs = [client.subscribe(seed=seed) for seed in range(1, 6)]
        await wait_for(asyncio.gather(*subs))
    assert [sub.seed for sub in subs] == [1, 2, 3, 4, 5]
    assert len([op for op in transport.server.ops if op["op"] == "subscribe"]) > 5


async def test_operations_are_paced_to_the_rate_limit():
    transport = LoopbackTransport()
    loop = asyncio.get_running_loop()
    async with feed(transport, max_ops_per_second=200.0, ops_burst=5) as client:
        start = loop.time()
        await wait_for(asyncio.gather(*[client.subscribe(seed=s) for s in range(1, 26)]))
        elapsed = loop.time() - start
    assert elapsed >= (25 - 5) / 200.0 * 0.9


async def test_a_full_queue_pauses_its_subscription_and_resumes_it_without_a_gap():
    transport = LoopbackTransport()
    async with feed(transport, max_queue=16) as client:
        sub = await client.subscribe(seed=7)
        await until(lambda: sub.stats.overflows > 0 and not transport.live.session.subs)
        assert sub.pending == 16  # the bound holds while nobody reads
        ticks = await wait_for(take(sub, 100))
    assert_gapless(ticks, DEFAULT_PARAMS, 7)
    assert sub.stats.last_seq is not None
    assert ticks[0].seq == sub.stats.last_seq - 99 - sub.pending
    ops = [op for op in transport.server.ops if op["op"] != "ping"]
    assert [op["op"] for op in ops[:3]] == ["subscribe", "unsubscribe", "subscribe"]
    assert ops[2]["fromSeq"] == ticks[16].seq


async def test_a_full_queue_holds_up_neither_other_subscriptions_nor_replies():
    transport = LoopbackTransport()
    async with feed(transport, max_queue=8) as client:
        unread = await client.subscribe(seed=7)
        await until(lambda: unread.stats.overflows > 0)
        other = await wait_for(client.subscribe(seed=8))
        assert await wait_for(client.ping()) >= 0
        assert len(await wait_for(take(other, 50))) == 50
        assert unread.pending == 8


async def test_with_fill_gaps_off_a_full_queue_skips_ticks():
    transport = LoopbackTransport()
    async with feed(transport, max_queue=8, fill_gaps=False) as client:
        sub = await client.subscribe(seed=7)
        await until(lambda: sub.stats.skipped > 20)
        ticks = await wait_for(take(sub, 12))
    seqs = [t.seq for t in ticks]
    assert seqs[:8] == list(range(seqs[0], seqs[0] + 8)) and seqs[8] > seqs[7] + 20
    assert "unsubscribe" not in [op["op"] for op in transport.server.ops]


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"sigma": -0.3}, "sigma"), ({"interval": 0}, "interval"), ({"seed": 1.5}, "seed"),
    ({"symbol": "ACME", "seed": 3}, "seed"), ({"history": -2}, "history"),
])
async def test_a_bad_argument_fails_before_anything_is_sent(kwargs, argument):
    transport = LoopbackTransport()
    async with feed(transport) as client:
        with pytest.raises(ArgumentError) as caught:
            client.subscribe(**kwargs)
        await client.ping()
    assert caught.value.argument == argument
    assert [op["op"] for op in transport.server.ops] == ["ping"]


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"max_queue": 0}, "max_queue"), ({"reconnect": 3}, "reconnect"),
    ({"max_ops_per_second": -1}, "max_ops_per_second"), ({"reply_timeout": 0}, "reply_timeout"),
])
def test_a_bad_setting_of_the_feed_is_refused_naming_it(kwargs, argument):
    with pytest.raises(ArgumentError) as caught:
        Feed(URL, **kwargs)
    assert caught.value.argument == argument


def test_a_url_that_is_not_a_websocket_url_is_refused():
    with pytest.raises(ArgumentError, match="url must be a ws:// or wss:// URL, got 'http://x'"):
        Feed("http://x")


async def test_a_refused_subscription_raises_its_server_error_and_the_others_go_on():
    transport = LoopbackTransport()
    async with feed(transport) as client:
        good = client.subscribe(seed=7)
        bad = client.subscribe(symbol="NOPE")
        with pytest.raises(UnknownSymbol) as caught:
            await bad
        with pytest.raises(UnknownSymbol):
            await wait_for(take(bad, 1))
        assert len(await wait_for(take(good, 5))) == 5
    assert (caught.value.code, caught.value.field) == ("unknown_symbol", "symbol")


# --- the end of things ------------------------------------------------------------------------


async def test_a_finite_stream_ends_the_iteration_after_its_last_tick():
    transport = LoopbackTransport(drop_every=4)
    async with feed(transport) as client:
        ticks = await wait_for(take(client.subscribe(seed=7, periods=30), 1000))
    assert [t.seq for t in ticks] == list(range(30))
    assert_gapless(ticks, DEFAULT_PARAMS, 7)
    assert ticks[0].price == 70.0


async def test_unsubscribe_ends_the_iteration_and_tells_the_server():
    transport = LoopbackTransport()
    async with feed(transport) as client:
        sub = await client.subscribe(seed=7)
        await wait_for(take(sub, 3))
        await wait_for(sub.unsubscribe())
        rest = await wait_for(take(sub, 10_000))
    assert [op["op"] for op in transport.server.ops] == ["subscribe", "unsubscribe"]
    assert len(rest) < 10_000
    assert not transport.connections[0].session.subs


async def test_closing_the_feed_stops_iterators_in_other_tasks_and_refuses_new_work():
    transport = LoopbackTransport()
    client = await feed(transport).connect()
    sub = await client.subscribe(seed=7)
    reader = asyncio.create_task(take(sub, math.inf))
    await until(lambda: sub.stats.last_seq is not None and sub.stats.last_seq > 5)
    await client.close()
    await wait_for(reader)
    assert transport.live.close_code == 1000
    with pytest.raises(FeedClosed):
        client.subscribe(seed=8)


def test_the_blocking_feed_reads_with_for_over_dropped_connections():
    transport = LoopbackTransport(drop_every=5, steps_while_down=2)
    with BlockingFeed(URL, transport=transport, reconnect=FAST) as client:
        sub = client.subscribe(seed=7, sigma=0.3)
        ticks = []
        for tick in sub:
            ticks.append(tick)
            if len(ticks) == 100:
                break
        assert client.ping() >= 0
    assert_gapless(ticks, DEFAULT_PARAMS, 7)
    assert len(transport.connections) > 10


def test_an_asyncio_subscription_is_not_read_with_a_plain_for():
    client = Feed(URL, transport=LoopbackTransport())
    with pytest.raises(TypeError, match="async for"):
        iter(client.subscribe(seed=7))
