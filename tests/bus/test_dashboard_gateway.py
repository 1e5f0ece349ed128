"""The dashboard behind a gateway: the same page, the bus's market, live and gapless, in a
real browser (Debian's Chromium)."""

from __future__ import annotations

from typing import Any

from streamer import publisher
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
