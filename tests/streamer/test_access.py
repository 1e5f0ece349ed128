"""Access control, off by default: a token for every door but the dashboard's files, and an
allow-list of browser origins for the WebSocket."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import http_url, wait_for, ws_url

TOKEN = "s3cret-token"


@pytest.fixture
def config(config):
    return dataclasses.replace(config, token=TOKEN)


async def get(url: str, headers: dict[str, str] | None = None) -> int:
    def fetch() -> int:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
                status: int = r.status  # urlopen returns Any in typeshed
                return status
        except urllib.error.HTTPError as exc:
            return exc.code
    return await wait_for(asyncio.to_thread(fetch))


async def upgrade_status(url: str, **kwargs) -> int:
    try:
        async with connect(url, **kwargs) as ws:
            await ws.send('{"op": "ping"}')
            await wait_for(ws.recv())
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


@pytest.mark.parametrize("path", ["/gbm?periods=3&startPrice=1&mu=0&sigma=0&delta=1",
                                  "/healthz", "/metrics"])
async def test_http_without_the_token_is_401(server, path):
    assert await get(http_url(server, path)) == 401


async def test_http_with_the_token_in_the_query_or_a_bearer_header_is_served(server):
    assert await get(http_url(server, f"/healthz?token={TOKEN}")) == 200
    assert await get(http_url(server, "/healthz"), {"Authorization": f"Bearer {TOKEN}"}) == 200


async def test_a_wrong_token_is_401(server):
    assert await get(http_url(server, "/healthz?token=s3cret-tokeN")) == 401
    assert await get(http_url(server, "/healthz"), {"Authorization": "Bearer nope"}) == 401


async def test_a_websocket_upgrade_needs_the_token(server):
    assert await upgrade_status(ws_url(server)) == 401
    assert await upgrade_status(f"{ws_url(server)}?token={TOKEN}") == 101
    assert await upgrade_status(ws_url(server),
                                additional_headers={"Authorization": f"Bearer {TOKEN}"}) == 101


async def test_the_dashboard_files_need_no_token(server):
    assert await get(http_url(server, "/static/no-such-file.js")) == 404  # not 401


async def test_the_token_is_never_logged(server, caplog):
    caplog.set_level(logging.DEBUG)
    await upgrade_status(f"{ws_url(server)}?token={TOKEN}")
    await get(http_url(server, f"/healthz?token={TOKEN}"))
    server_lines = [r.getMessage() for r in caplog.records if r.name.startswith("streamer")]
    assert any("token=***" in line for line in server_lines)  # the request line, redacted
    assert not [line for line in server_lines if TOKEN in line]
    assert TOKEN not in repr(server.config)


async def test_a_foreign_origin_is_refused_with_403(server):
    server.config = dataclasses.replace(server.config, token=None,
                                        allow_origins=("https://dash.example",))
    url = ws_url(server)
    assert await upgrade_status(url, origin="https://evil.example") == 403
    assert await upgrade_status(url, origin="https://dash.example") == 101
    assert await upgrade_status(url) == 101  # no Origin: not a browser
    own = f"http://127.0.0.1:{server.port}"
    assert await upgrade_status(url, origin=own) == 101  # the dashboard served by this server
