"""One load connection: reads every frame, checks every tick, counts.

The hot path is :meth:`LoadConnection.on_message`: one ``orjson.loads`` per frame and, per
tick, a dict lookup for the subscription's next seq and one list append of the tick's delay
(recorded into the HDR histogram later, in bulk; see :mod:`clients.load.histogram`). Anything
unusual (a jump, a duplicate, a reply, an error) leaves the hot path for a method of its own.

Counters live on the connection (attribute updates are the cheapest); the worker sums them
when it reports.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from clients.load.spec import Operation
from wire.events import TICK
from wire.names import EventType
from wire.pacing import TokenBucket
from clients.load.wsclient import WebSocketClient

#: Per-connection counters, in the order of :meth:`LoadConnection.counters`.
COUNTERS = ("ticks_received", "ws_msgs_received", "data_received", "payload_received",
            "subscriptions",
            "seq_gaps", "ticks_missing", "seq_duplicates", "ticks_conflated", "lagging",
            "errors", "stream_ends", "protocol_violations", "subscribe_timed")


class LoadConnection(WebSocketClient):
    """A connection of the load: subscriptions' next seqs, counters, pending operations."""

    def __init__(self, index: int, delays: list[float], subscribe_times: list[float],
                 errors: Counter[str], on_closed: Callable[[LoadConnection], None]) -> None:
        super().__init__()
        self.index = index
        """The connection's global index in the run."""
        self._delay = delays.append
        self._subscribe_time = subscribe_times.append
        self._errors = errors
        self._closed_callback = on_closed
        self.expect: dict[int, int] = {}
        """Subscription -> the seq its next tick should carry."""
        self.announced: dict[int, int] = {}
        """Subscription -> the seq a ``lagging`` event said the next tick jumps to."""
        self.sent: dict[Any, float] = {}
        """Operation id -> when the subscribe was sent, until its reply."""
        self.unsubscribing: set[Any] = set()
        """Ids of unsubscribe operations waiting for their reply."""
        self.unsubscribed: asyncio.Event = asyncio.Event()
        """Set when no unsubscribe is waiting for its reply."""
        self.unsubscribed.set()
        self.bucket: TokenBucket | None = None
        """Paces this connection's operations (set when it starts subscribing)."""
        self.counted_open = self.counted_closed = False
        """Whether the worker counted this connection's opening, and its close."""
        # counters (see COUNTERS)
        # (``frame_bytes``, counted by the WebSocket layer, is ``data_received``)
        self.ticks_received = self.ws_msgs_received = self.payload_bytes = 0
        self.subscriptions = self.seq_gaps = self.ticks_missing = self.seq_duplicates = 0
        self.ticks_conflated = self.lagging = self.errors = self.stream_ends = 0
        self.protocol_violations = self.subscribe_timed = 0

    def counters(self) -> tuple[int, ...]:
        return (self.ticks_received, self.ws_msgs_received, self.frame_bytes, self.payload_bytes,
                self.subscriptions, self.seq_gaps, self.ticks_missing, self.seq_duplicates,
                self.ticks_conflated, self.lagging, self.errors, self.stream_ends,
                self.protocol_violations, self.subscribe_timed)

    # --- receiving ----------------------------------------------------------------------------

    def on_message(self, payload: bytes | memoryview, now: float) -> None:
        self.ws_msgs_received += 1
        self.payload_bytes += len(payload)
        try:
            events = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.protocol_violations += 1
            return
        if type(events) is not list:
            self.protocol_violations += 1
            return
        expect = self.expect
        delay = self._delay
        ticks = 0
        for event in events:
            try:
                if event["type"] == TICK:
                    sub = event["sub"]
                    seq = event["seq"]
                    delay(now - event["time"])
                    ticks += 1
                    if expect.get(sub) == seq:
                        expect[sub] = seq + 1
                    else:
                        self._out_of_order(sub, seq)
                else:
                    self._event(event, now)
            except (KeyError, TypeError):
                self.protocol_violations += 1
        self.ticks_received += ticks

    def _out_of_order(self, sub: int, seq: int) -> None:
        if type(seq) is not int:
            raise TypeError("seq is not an integer")
        expected = self.expect.get(sub)
        if expected is None:  # no ack told us where the stream starts (a peer without acks)
            self.expect[sub] = seq + 1
        elif seq < expected:
            self.seq_duplicates += 1
        else:
            if self.announced.get(sub) == seq:
                del self.announced[sub]
                self.ticks_conflated += seq - expected
            else:
                self.seq_gaps += 1
                self.ticks_missing += seq - expected
            self.expect[sub] = seq + 1

    def _event(self, event: dict[str, Any], now: float) -> None:
        """A control event, read leniently (the load tester measures peers that speak a
        subset of the protocol, such as acks without ``t0``): only the fields it counts by."""
        kind = event["type"]
        if kind == EventType.SUBSCRIBED:
            self.subscriptions += 1
            seq = event.get("seq")
            if type(seq) is int:
                self.expect[event["sub"]] = seq + 1
            sent = self.sent.pop(event.get("id"), None)
            if sent is not None:
                self.subscribe_timed += 1
                self._subscribe_time(now - sent)
        elif kind == EventType.LAGGING:
            self.lagging += 1
            self.announced[event["sub"]] = event["seq"]
        elif kind == EventType.END:
            self.stream_ends += 1
            self.expect.pop(event["sub"], None)
        elif kind == EventType.ERROR:
            self.errors += 1
            self._errors[str(event.get("code"))] += 1
            self.sent.pop(event.get("id"), None)
            self._answered(event.get("id"))
        elif kind == EventType.UNSUBSCRIBED:
            self.expect.pop(event.get("sub"), None)  # type: ignore[arg-type]
            self._answered(event.get("id"))

    def _answered(self, op_id: Any) -> None:
        if op_id in self.unsubscribing:
            self.unsubscribing.discard(op_id)
            if not self.unsubscribing:
                self.unsubscribed.set()

    def on_closed(self) -> None:
        self.unsubscribed.set()
        self._closed_callback(self)

    # --- sending ------------------------------------------------------------------------------

    def send_operation(self, operation: Operation, *, unsubscribe: bool = False) -> None:
        """Send one operation; remember its id to match the reply."""
        if isinstance(operation, bytes):
            self.send_text(operation)
            return
        op_id = operation.get("id")
        if op_id is not None:
            if unsubscribe:
                self.unsubscribing.add(op_id)
                self.unsubscribed.clear()
            else:
                self.sent[op_id] = time.time()
        self.send_text(orjson.dumps(operation))

    def active_subscriptions(self) -> list[int]:
        """Subscriptions still running, as far as this side knows (acked or ticking)."""
        return sorted(self.expect)
