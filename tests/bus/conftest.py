"""A NATS server with JetStream, started for the test that asks for one and stopped after."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from simulation.market import load_market
from streamer import buslink, publisher
from tests.bus.nats_node import NatsNode
from tests.bus.test_publisher import market_file
from tests.conftest import wait_for


@pytest.fixture
def nats_node(tmp_path: Path) -> Iterator[NatsNode]:
    node = NatsNode(tmp_path).start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
async def published(nats_node: NatsNode, tmp_path: Path) -> AsyncIterator[publisher.Publisher]:
    """A publisher of :func:`market_file`'s market, running in this event loop."""
    now = time.time()
    market = load_market(market_file(tmp_path, now), now)
    nc = await buslink.connect([nats_node.url], "test publisher")
    js = nc.jetstream()
    await publisher.ensure_stream(js, 10_000, 1)
    await publisher.agree_market(js, market, market, replace=False, replicas=1, now=now)
    runner = publisher.Publisher(nc, market, time.time())
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        runner.stop()
        await wait_for(task, 15)
        await nc.close()
