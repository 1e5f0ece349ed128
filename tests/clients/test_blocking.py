"""BlockingFeed against a real server process: plain ``for`` loops, for scripts and notebooks."""

from __future__ import annotations

import itertools
import time

import pytest

from clients.errors import ArgumentError, ConnectError, UnknownSymbol
from clients.feed import BlockingFeed
from simulation import demo_market


def test_a_script_reads_ticks_with_a_plain_for_loop(server_process):
    srv = server_process().start()
    with BlockingFeed(srv.url) as feed:
        sub = feed.subscribe(seed=7, sigma=0.3, interval=0.005)
        ticks = list(itertools.islice(sub, 20))
        assert sub.seed == 7 and sub.t0 is not None
        assert feed.ping() >= 0 and len(feed.symbols()) == len(demo_market(time.time()).symbols)
        acme, bolt = feed.subscribe("ACME"), feed.subscribe("BOLT")
        merged = list(itertools.islice(feed.merge(acme, bolt), 10))
        feed.unsubscribe(sub)
    assert [t.seq for t in ticks] == list(range(20)) and ticks[0].price == 70.0
    assert {t.sub for t in merged} <= {acme, bolt}
    assert not feed._thread.is_alive()


async def test_it_works_where_an_event_loop_is_already_running(server_process):
    """As in a Jupyter cell: blocking calls from a thread whose loop is running."""
    srv = server_process().start()
    with BlockingFeed(srv.url) as feed:
        ticks = list(itertools.islice(feed.subscribe("BOLT"), 5))
    assert [t.seq for t in ticks] == list(range(ticks[0].seq, ticks[0].seq + 5))


def test_errors_reach_the_caller_of_the_blocking_call(server_process):
    srv = server_process().start()
    with BlockingFeed(srv.url) as feed:
        with pytest.raises(ArgumentError, match="sigma must be a finite number >= 0, got -1"):
            feed.subscribe(sigma=-1)
        with pytest.raises(UnknownSymbol):
            feed.subscribe("NOPE")
    with pytest.raises(ConnectError):
        BlockingFeed("ws://127.0.0.1:9/ws").connect()
