"""The benchmarks' receiving client: the load tester's fast WebSocket client
(:mod:`clients.load.wsclient`, an asyncio protocol with no coroutine or queue per message),
with each message handed to a plain callback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clients.load.wsclient import WebSocketClient, open_connection

OnMessage = Callable[[bytes, float], None]


class CallbackClient(WebSocketClient):
    def __init__(self, on_message: OnMessage) -> None:
        super().__init__()
        self._callback = on_message

    def on_message(self, payload: bytes | memoryview, now: float) -> None:
        self._callback(bytes(payload), now)


async def connect(url: str, on_message: OnMessage) -> CallbackClient:
    """Open a connection whose every message goes to ``on_message(payload, arrival time)``."""
    return await open_connection(url, lambda: CallbackClient(on_message))
