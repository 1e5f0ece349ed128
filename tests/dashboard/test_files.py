"""The dashboard's files: served from the server's own port, nothing from another host, and the
vendored uPlot at the version the project pins."""

from __future__ import annotations

import asyncio
import hashlib
import re
import urllib.request
from pathlib import Path

import pytest

from streamer.server import DASHBOARD
from tests.conftest import http_url, timeout
from tests.dashboard.conftest import chromium_path

VENDOR = DASHBOARD / "vendor"


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=timeout(5)) as response:
        return response.status, response.headers["Content-Type"], response.read()


def referenced(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


async def test_the_page_and_every_file_it_loads_come_from_the_server(server):
    status, kind, body = await asyncio.to_thread(get, http_url(server, "/"))
    assert status == 200 and kind.startswith("text/html")
    html = body.decode()
    urls = referenced(html)
    assert "/static/vendor/uPlot.iife.min.js" in urls and "/static/vendor/uPlot.min.css" in urls
    assert isinstance(DASHBOARD, Path)  # a directory where the tests run: Traversable has no glob
    modules = [path.name for path in DASHBOARD.glob("*.js")]
    for name in modules:  # every module an import statement names is served too
        source = (DASHBOARD / name).read_text()
        for imported in re.findall(r'from "\./([^"]+)"', source):
            assert (DASHBOARD / imported).is_file(), f"{name} imports a missing {imported}"
    expected = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for url in urls + [f"/static/{name}" for name in modules]:
        assert url.startswith("/static/"), f"{url} is not served by the dashboard's own port"
        status, kind, body = await asyncio.to_thread(get, http_url(server, url))
        assert status == 200 and body
        assert kind.startswith(expected[Path(url).suffix]), (url, kind)


def test_no_dashboard_file_loads_anything_from_another_host():
    loads = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|import[^;]*?["'](?:https?:)?//|"""
                       r"""url\(\s*["']?(?:https?:)?//|fetch\(\s*["'](?:https?:)?//""")
    assert isinstance(DASHBOARD, Path)  # as above, for rglob
    for path in DASHBOARD.rglob("*"):
        if path.suffix in (".html", ".js", ".css", ".svg"):
            text = path.read_text()
            assert not loads.search(text), f"{path.name} loads from another host"


def test_vendored_uplot_is_the_pinned_version_with_its_licence():
    versions = (VENDOR / "VERSIONS").read_text()
    pinned = re.search(r"^uPlot\s+(\d+\.\d+\.\d+)\s+MIT", versions, re.M)
    assert pinned is not None and pinned.group(1) == "1.6.32"
    banner = (VENDOR / "uPlot.iife.min.js").read_text()[:200]
    assert f"(v{pinned.group(1)})" in banner
    for line in re.findall(r"^sha256 ([0-9a-f]{64})  (\S+)$", versions, re.M):
        digest, name = line
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    licence = (VENDOR / "uPlot.LICENSE.txt").read_text()
    assert "MIT License" in licence and "Leon Sorokin" in licence


def test_a_missing_chromium_fails_with_how_to_install_it(tmp_path):
    with pytest.raises(pytest.fail.Exception, match=r"chromium is missing.*apt-get install"):
        chromium_path(tmp_path / "chromium")
