"""The connection of a publisher or a gateway to the bus (NATS): made once, then kept."""

from __future__ import annotations

import logging
from typing import Any

import nats

logger = logging.getLogger("streamer.bus")

#: Attempts at each server of the bus before a process that starts gives up.
FIRST_ATTEMPTS = 3


async def connect(urls: list[str], name: str) -> Any:
    """A connection that, once made, reconnects for ever (a publisher or gateway outlives the
    bus's restarts), logging each loss and return; the first connection is given up after
    :data:`FIRST_ATTEMPTS` tries of each server (``NoServersError``). Its losses and returns
    are logged under ``streamer.bus``, whichever process it serves."""

    made: list[Any] = []

    async def disconnected() -> None:
        if made and made[0].is_closed:  # closed on purpose, not lost
            return
        logger.warning("lost the bus; reconnecting")

    async def reconnected() -> None:
        logger.info("back on the bus")

    async def error(exc: Exception) -> None:
        logger.debug("bus: %s", exc)

    nc = await nats.connect(servers=urls, name=name, max_reconnect_attempts=FIRST_ATTEMPTS,
                            reconnect_time_wait=0.5, connect_timeout=2.0,
                            disconnected_cb=disconnected, reconnected_cb=reconnected,
                            error_cb=error)
    nc.options["max_reconnect_attempts"] = -1  # read at each attempt: from now on, for ever
    made.append(nc)
    return nc
