"""The dashboard against a server with ``--compression deflate``: Chromium offers
permessage-deflate, the server accepts it, and the page's prices are still exactly GBM's
(every frame compressed here, however small)."""

from __future__ import annotations

import dataclasses

import pytest

from streamer import deflate
from tests.conftest import http_url
from tests.dashboard.conftest import until
from tests.dashboard.test_page import private_stream_to_its_end


@pytest.fixture
def config(config):
    return dataclasses.replace(config, compression="deflate")


async def test_the_dashboard_negotiates_deflate_and_draws_exact_prices(server, open_page,
                                                                        monkeypatch):
    monkeypatch.setattr(deflate, "COMPRESS_FROM", 0)  # every frame compressed, one tick's too
    page = await open_page(http_url(server, "/?symbols=ACME,BOLT"))
    assert server.health()["compressed"] == 1  # the page's one connection
    ended, expected = await private_stream_to_its_end(page, server)
    assert ended["contiguous"] and ended["prices"] == expected[ended["seqs"][0]:]
    await until(page, "() => dashboard.stream('symbol:BOLT')?.ticks >= 20")
