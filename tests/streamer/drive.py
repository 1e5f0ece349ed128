"""Driving the sans-I/O core by hand: sessions whose frames are read back as events."""

from __future__ import annotations

import json
from typing import Any

from streamer.config import ServerConfig
from streamer.hub import Hub
from streamer.session import Session
from wire import events


def new_session(hub: Hub, config: ServerConfig, now: float = 0.0) -> Session:
    """A session whose frames are their JSON text (no WebSocket header), for :func:`sent`."""
    return Session(hub, config, now, frame=events.payload)


def sent(session: Session) -> list[dict[str, Any]]:
    """The events of the frame the session would send now (``[]`` when it has none)."""
    data = session.data_to_send()
    return json.loads(data) if data else []
