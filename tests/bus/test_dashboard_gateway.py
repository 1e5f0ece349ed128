"""The dashboard behind a gateway: the same page, the bus's market, live and gapless, in a
real browser (Debian's Chromium)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats
import orjson

from streamer import bus, publisher
from streamer.config import ServerConfig
from streamer.server import StreamServer
from tests.bus.nats_node import NatsNode
from tests.dashboard.conftest import browser, open_page, stream, until

__all__ = ["browser", "open_page"]  # the browser fixtures, shared with tests/dashboard


async def test_the_dashboard_works_behind_a_gateway(nats_node: NatsNode,
                                                    published: publisher.Publisher,
                                                    open_page: Any) -> None:
    async with StreamServer(ServerConfig(port=0, nats=(nats_node.url,))) as gateway:
        page = await open_page(f"http://127.0.0.1:{gateway.port}/?symbols=ACME,VOLT")
        await until(page, "() => dashboard.stream('symbol:ACME').ticks >= 60 && "
                          "dashboard.stream('symbol:VOLT').ticks >= 25")
        for key in ("symbol:ACME", "symbol:VOLT"):
            s = await stream(page, key)
            assert s["shown"] and s["state"] == "live", s
            assert s["gaps"] == 0 and s["lagging"] == 0 and s["contiguous"], s
        rows = await page.locator("#watchlist tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.symbol)")
        assert rows == ["ACME", "VOLT"]
        assert gateway.hub is not None and gateway.hub.mismatches == 0


async def test_a_third_partys_symbol_joins_the_watch_list_and_charts(
        nats_node: NatsNode, published: publisher.Publisher, open_page: Any) -> None:
    nc = await nats.connect(nats_node.url)
    js = nc.jetstream()

    async def third_party() -> None:  # as examples/publish_prices.py does, 20 a second
        t0 = time.time()
        for seq in range(100_000):
            body = {"seq": seq, "price": 50.0 + (seq % 7), "time": time.time(), "t0": t0,
                    "interval": 0.05}
            await js.publish("ticks.EXT1", orjson.dumps(body),
                             headers={bus.MSG_ID: bus.msg_id("EXT1", t0, seq)})
            await asyncio.sleep(max(0.0, t0 + (seq + 1) * 0.05 - time.time()))

    async with StreamServer(ServerConfig(port=0, nats=(nats_node.url,))) as gateway:
        page = await open_page(f"http://127.0.0.1:{gateway.port}/?symbols=ACME")
        await until(page, "() => dashboard.stream('symbol:ACME').ticks >= 5")
        task = asyncio.create_task(third_party())  # after the page listed the market
        try:
            await until(page, "() => document.querySelector('#watchlist tr[data-symbol=EXT1]')",
                        seconds=15)
            await page.locator("#watchlist tr[data-symbol=EXT1] button.sym").click()
            await until(page, "() => dashboard.stream('symbol:EXT1').ticks >= 20")
            s = await stream(page, "symbol:EXT1")
            assert s["shown"] and s["state"] == "live", s
            assert s["gaps"] == 0 and s["lagging"] == 0 and s["contiguous"], s
        finally:
            task.cancel()
            await nc.close()
