"""Parts of the deployment killed (SIGKILL) in the middle of a stream: a gateway, with the
Python client moving to the other one; a node of a three-node JetStream cluster, under a
publisher and a gateway that know every node. The client sees no gap and no duplicate, and
every price is the path's."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.feed.aio import Feed
from clients.feed.protocol import Tick
from simulation import path_and_vols
from simulation.market import load_market
from streamer import buslink, publisher
from tests.bus.nats_node import NatsNode, free_ports
from tests.bus.test_publisher import market_file
from tests.conftest import ServerProcess, wait_for


async def take(ticks: list[Tick], source: object, up_to: int) -> None:
    """Read ``source``'s ticks into ``ticks`` until one has seq ``up_to`` or later."""
    while not ticks or ticks[-1].seq < up_to:
        ticks.append(await wait_for(anext(source), 15))  # type: ignore[call-overload]


def assert_whole_path(path: Path, symbol: str, ticks: list[Tick]) -> None:
    seqs = [t.seq for t in ticks]
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "a gap or a duplicate"
    spec = load_market(path, time.time()).get(symbol)
    assert spec is not None
    prices, _ = path_and_vols(spec.params, spec.seed, seqs[-1] + 1)
    assert [t.price for t in ticks] == prices[seqs[0]:].tolist()


async def across_a_killed_gateway(gateways: list[ServerProcess], symbol: str) -> list[Tick]:
    """A Python client's ticks of ``symbol``, given every gateway: the one it uses is killed
    (SIGKILL) after 20 ticks, and 60 more are read from the other."""
    async with Feed([g.url for g in gateways]) as feed:
        source = aiter(feed.subscribe(symbol=symbol))
        ticks: list[Tick] = []
        await take(ticks, source, 0)
        await take(ticks, source, ticks[0].seq + 20)
        first = next(g for g in gateways if g.url == feed.url)
        first.signal(signal.SIGKILL)
        await take(ticks, source, ticks[-1].seq + 60)
        assert feed.url != first.url  # it moved to the other gateway
    return ticks


async def test_a_killed_gateway_loses_its_client_to_the_other_without_a_gap(
        nats_node: NatsNode, published: publisher.Publisher, tmp_path: Path,
        server_process: type[ServerProcess]) -> None:
    gateways = [server_process("--nats", nats_node.url).start() for _ in range(2)]
    ticks = await across_a_killed_gateway(gateways, "ACME")
    assert_whole_path(tmp_path / "market.toml", "ACME", ticks)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[NatsNode]]:
    routes = free_ports(3)
    nodes = [NatsNode(tmp_path, f"n{i}", cluster=routes, cluster_port=routes[i])
             for i in range(3)]
    try:
        for node in nodes:
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def test_a_killed_node_of_a_three_node_cluster_loses_nothing(
        cluster: list[NatsNode], tmp_path: Path, server_process: type[ServerProcess]) -> None:
    urls = [node.url for node in cluster]
    now = time.time()
    path = market_file(tmp_path, now)
    market = load_market(path, now)
    nc = await buslink.connect(urls, "test publisher")
    js = nc.jetstream()
    deadline = time.monotonic() + 30
    while True:  # the cluster elects its meta leader a moment after its nodes start
        try:
            await publisher.ensure_stream(js, 10_000, 3)
            break
        except Exception:
            assert time.monotonic() < deadline, "the cluster never took the stream"
            await asyncio.sleep(0.2)
    await publisher.agree_market(js, market, market, replace=False, replicas=3, now=now)
    runner = publisher.Publisher(nc, market, time.time())
    task = asyncio.create_task(runner.run())
    args = [arg for url in urls for arg in ("--nats", url)]
    gateway = server_process(*args).start()
    try:
        async with Feed(gateway.url) as feed:
            source = aiter(feed.subscribe(symbol="ACME"))
            ticks: list[Tick] = []
            await take(ticks, source, 0)
            await take(ticks, source, ticks[0].seq + 20)
            cluster[0].kill()
            await take(ticks, source, ticks[-1].seq + 100)
    finally:
        runner.stop()
        await wait_for(task, 20)
        await nc.close()
    assert_whole_path(path, "ACME", ticks)
