"""Browser fixtures: Debian's headless Chromium driven by Playwright's async API.

Every test gets its own browser (a launch takes a fraction of a second, and a browser bound to
one test's event loop is what pytest-asyncio's function-scoped loops allow). Errors on the
page (``pageerror``) and ``console.error`` messages fail the test that caused them, unless the
test allowed a pattern (a restart test expects the browser's "WebSocket connection failed").

A missing ``playwright`` package or a missing Chromium fails the test with a message that says
how to install it: the browser tests never skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, timeout

CHROMIUM = Path(os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = ROOT / "tests" / "artifacts"
INSTALL_HINT = ("install it with: apt-get install -y --no-install-recommends chromium "
                "(Playwright's own `playwright install` cannot download here)")

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def chromium_path(path: Path = CHROMIUM) -> Path:
    """The Chromium to drive, or a test failure that says how to get one."""
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"chromium is missing: no executable at {path}; {INSTALL_HINT}",
                    pytrace=False)
    return path


def async_playwright() -> Any:
    try:
        from playwright.async_api import async_playwright as start
    except ImportError:
        pytest.fail("the Python package playwright is missing: pip install playwright "
                    "(the browser is Debian's chromium; " + INSTALL_HINT + ")", pytrace=False)
    return start()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    executable = chromium_path()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(executable), headless=True,
                                           args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class PageWatch:
    """What one page did: its errors, the URLs it requested, its WebSocket frames."""

    def __init__(self, page: Any, allowed: list[str]) -> None:
        self.page = page
        self.errors: list[str] = []
        self.allowed = allowed
        self.requests: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("websocket", self._websocket)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console.error: {message.text}")

    def _websocket(self, ws: Any) -> None:
        ws.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: self.received.extend(json.loads(payload)))

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(re.search(p, e) for p in self.allowed)]


OpenPage = Callable[..., Awaitable[Any]]


@pytest.fixture
async def open_page(browser: Any) -> AsyncIterator[OpenPage]:
    """``await open_page(url, width=..., height=..., scheme="light"|"dark", allow=[regex])``:
    a new page at ``url`` whose dashboard has connected; ``page.watch`` is its PageWatch."""
    contexts = []
    watches: list[PageWatch] = []

    async def open_(url: str, *, width: int = DESKTOP["width"], height: int = DESKTOP["height"],
                    scheme: str = "light", allow: list[str] | None = None,
                    connected: bool = True) -> Any:
        context = await browser.new_context(viewport={"width": width, "height": height},
                                            color_scheme=scheme, device_scale_factor=1)
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(timeout(15) * 1000)
        page.watch = PageWatch(page, allow or [])
        watches.append(page.watch)
        await page.goto(url)
        if connected:
            await until(page, "() => window.dashboard && dashboard.status().state === 'open'")
        return page

    yield open_
    for context in contexts:
        await context.close()
    errors = [e for w in watches for e in w.unexpected_errors()]
    assert not errors, "the browser reported errors:\n" + "\n".join(errors)


async def until(page: Any, expression: str, arg: Any = None, seconds: float = 10) -> Any:
    """Wait until a JavaScript expression is truthy on the page; return its value."""
    handle = await page.wait_for_function(expression, arg=arg, polling=50,
                                          timeout=timeout(seconds) * 1000)
    return await handle.json_value()


async def stream(page: Any, key: str, with_data: bool = False) -> dict[str, Any]:
    """The page's summary of one stream (window.dashboard.stream)."""
    summary: dict[str, Any] = await page.evaluate("([key, data]) => dashboard.stream(key, data)",
                                                  [key, with_data])
    return summary


async def in_thread(function: Callable[..., Any], *args: Any) -> Any:
    """Run blocking work (starting a server process) without stalling the event loop."""
    return await asyncio.to_thread(function, *args)
