"""``streamer serve --nats URL``: a server whose market comes from the bus.

The gateway reads the market's definition from the bus (so it needs no market file), then
follows every ``ticks.*`` subject with an ordered JetStream consumer: each tick read is handed
to the hub (:meth:`streamer.hub.Hub.feed`), which steps the symbol to it, fills any tick the
bus skipped with its computed bits, and checks the bus's bits against its own. The ticks of
one read of the socket are handed over together, at the end of the event loop's turn.

When the bus goes away, the connection retries for ever: the symbols stand still (nothing
stale is passed off as fresh), ``/healthz`` says ``"bus": "disconnected"`` with status
``degraded``, and the clients keep their connections. When it is back, the ordered consumer
resumes after the last message it delivered, so the ticks published meanwhile arrive in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import api

from simulation import Market, MarketError
from streamer import bus
from streamer.buslink import connect

logger = logging.getLogger("streamer.gateway")

Ticks = list[tuple[str, int, float, float | None]]
#: Seconds between the bus's heartbeats to a gateway's consumer; two missed ones (the bus
#: restarted, the consumer is gone) make it start again after the last message it delivered.
HEARTBEAT = 0.5


class Gateway:
    """One server's link to the bus."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        self.urls = list(urls)
        self.nc: Any = None
        self.read = 0
        """Messages read from the bus."""
        self.refused: dict[str, int] = {}
        """Messages that are not ticks (a third party's malformed ones), by subject."""
        self._batch: Ticks = []
        self._deliver: Callable[[Ticks], None] | None = None
        self._scheduled = False

    @property
    def connected(self) -> bool:
        return bool(self.nc is not None and self.nc.is_connected)

    async def open(self, now: float) -> Market:
        """Connect, and read the market the publishers agreed on."""
        try:
            self.nc = await connect(self.urls, "streamer serve")
        except (OSError, nats.errors.NoServersError) as exc:
            raise MarketError(f"cannot reach NATS at {', '.join(self.urls)}: {exc}") from None
        js = self.nc.jetstream()
        try:
            kv = await js.key_value(bus.MARKET_BUCKET)
            entry = await kv.get(bus.MARKET_KEY)
        except nats.js.errors.NotFoundError:
            await self.close()
            raise MarketError(f"the bus at {', '.join(self.urls)} has no market yet: start "
                              "streamer publish --nats there first") from None
        assert entry.value is not None
        return bus.decode_market(entry.value, now)

    async def follow(self, deliver: Callable[[Ticks], None]) -> None:
        """Hand every tick published from now on to ``deliver``, in order."""
        self._deliver = deliver
        js = self.nc.jetstream()
        await js.subscribe(bus.SUBJECTS, ordered_consumer=True, cb=self._message,
                           deliver_policy=api.DeliverPolicy.NEW, idle_heartbeat=HEARTBEAT)

    async def _message(self, msg: Msg) -> None:
        self.read += 1
        try:
            tick = bus.decode_tick(msg.subject, msg.data)
        except bus.BusError as exc:
            count = self.refused.get(msg.subject, 0)
            self.refused[msg.subject] = count + 1
            if not count:  # once per subject: a misbehaving publisher must not flood the log
                logger.warning("ignoring a message on the bus: %s", exc)
            return
        self._batch.append((tick.symbol, tick.seq, tick.price, tick.vol))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._hand_over)

    def _hand_over(self) -> None:
        self._scheduled = False
        batch, self._batch = self._batch, []
        if batch and self._deliver is not None:
            self._deliver(batch)

    def health(self) -> dict[str, Any]:
        return {"bus": "connected" if self.connected else "disconnected",
                "bus_messages": self.read, "bus_refused": sum(self.refused.values())}

    async def close(self) -> None:
        if self.nc is not None:
            try:
                await asyncio.wait_for(self.nc.close(), 5.0)
            except (TimeoutError, nats.errors.Error):
                pass
            self.nc = None
