"""A load connection's checks, fed frames by hand: seq gaps, duplicates, announced jumps,
replies, errors and broken frames."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from clients import pacing
from clients.load.connection import LoadConnection


class Fixture:
    def __init__(self) -> None:
        self.delays: list[float] = []
        self.subscribe_times: list[float] = []
        self.errors: Counter[str] = Counter()
        self.connection = LoadConnection(0, self.delays, self.subscribe_times, self.errors,
                                         on_closed=lambda c: None)

    def frame(self, *events: dict[str, Any], now: float = 100.0) -> None:
        self.connection.on_message(orjson.dumps(list(events)), now)


def tick(sub: int, seq: int, time: float = 99.99) -> dict[str, Any]:
    return {"type": "tick", "sub": sub, "seq": seq, "price": 1.0, "time": time}


@pytest.fixture
async def conn() -> Fixture:
    return Fixture()


async def test_ticks_in_order_after_the_ack_are_counted_with_their_delays(conn: Fixture) -> None:
    conn.connection.sent[1] = 99.5
    conn.frame({"type": "subscribed", "id": 1, "sub": 1, "seq": 10, "price": 1.0, "time": 99.0})
    conn.frame(tick(1, 11, 99.99), tick(1, 12, 99.98), now=100.0)
    c = conn.connection
    assert (c.ticks_received, c.ws_msgs_received, c.subscriptions, c.seq_gaps) == (2, 2, 1, 0)
    assert conn.delays == pytest.approx([0.01, 0.02])
    assert conn.subscribe_times == pytest.approx([0.5])
    assert c.payload_bytes == sum(len(orjson.dumps(f)) for f in (
        [{"type": "subscribed", "id": 1, "sub": 1, "seq": 10, "price": 1.0, "time": 99.0}],
        [tick(1, 11, 99.99), tick(1, 12, 99.98)]))


async def test_an_unannounced_jump_is_a_gap_and_its_ticks_are_missing(conn: Fixture) -> None:
    conn.frame({"type": "subscribed", "id": 1, "sub": 1, "seq": 0})
    conn.frame(tick(1, 1), tick(1, 5), tick(1, 6))
    assert (conn.connection.seq_gaps, conn.connection.ticks_missing) == (1, 3)
    assert conn.connection.ticks_conflated == 0


async def test_a_jump_announced_by_lagging_is_conflation_not_a_gap(conn: Fixture) -> None:
    conn.frame({"type": "subscribed", "id": 1, "sub": 1, "seq": 0}, tick(1, 1))
    conn.frame({"type": "lagging", "sub": 1, "skipped": 12, "seq": 14}, tick(1, 14))
    conn.frame(tick(1, 15))
    c = conn.connection
    assert (c.seq_gaps, c.ticks_conflated, c.lagging, c.ticks_received) == (0, 12, 1, 3)


async def test_a_lagging_event_covers_only_the_jump_it_announced(conn: Fixture) -> None:
    conn.frame({"type": "subscribed", "id": 1, "sub": 1, "seq": 0})
    conn.frame({"type": "lagging", "sub": 1, "skipped": 2, "seq": 3}, tick(1, 3))
    conn.frame(tick(1, 9))
    assert (conn.connection.ticks_conflated, conn.connection.seq_gaps) == (2, 1)


async def test_a_repeated_or_older_seq_is_a_duplicate(conn: Fixture) -> None:
    conn.frame({"type": "subscribed", "id": 1, "sub": 1, "seq": 0})
    conn.frame(tick(1, 1), tick(1, 2), tick(1, 2), tick(1, 1), tick(1, 3))
    assert (conn.connection.seq_duplicates, conn.connection.seq_gaps) == (2, 0)


async def test_subscriptions_are_checked_separately(conn: Fixture) -> None:
    conn.frame({"type": "subscribed", "id": 1, "sub": 1, "seq": 0},
               {"type": "subscribed", "id": 2, "sub": 2, "seq": 40})
    conn.frame(tick(1, 1), tick(2, 41), tick(1, 2), tick(2, 42))
    assert conn.connection.seq_gaps == 0 and conn.connection.ticks_received == 4


async def test_without_an_ack_the_first_tick_sets_where_a_stream_starts(conn: Fixture) -> None:
    conn.frame(tick(3, 7), tick(3, 8))
    assert conn.connection.seq_gaps == 0 and conn.connection.active_subscriptions() == [3]


async def test_errors_are_counted_by_code_and_end_a_pending_operation(conn: Fixture) -> None:
    conn.connection.sent[5] = 99.0
    conn.frame({"type": "error", "id": 5, "code": "unknown_symbol", "message": "..."},
               {"type": "error", "code": "rate_limited", "message": "..."},
               {"type": "error", "code": "rate_limited", "message": "..."})
    assert conn.connection.errors == 3
    assert conn.errors == {"unknown_symbol": 1, "rate_limited": 2}
    assert conn.connection.sent == {}


async def test_unsubscribe_replies_release_the_wait_and_the_stream(conn: Fixture) -> None:
    c = conn.connection
    conn.frame({"type": "subscribed", "id": 1, "sub": 1, "seq": 0},
               {"type": "subscribed", "id": 2, "sub": 2, "seq": 0})
    c.transport = None  # sending is a no-op without a transport
    c.send_operation({"op": "unsubscribe", "id": "u1", "sub": 1}, unsubscribe=True)
    c.send_operation({"op": "unsubscribe", "id": "u2", "sub": 2}, unsubscribe=True)
    assert not c.unsubscribed.is_set()
    conn.frame({"type": "unsubscribed", "id": "u1", "sub": 1})
    assert not c.unsubscribed.is_set() and c.active_subscriptions() == [2]
    conn.frame({"type": "error", "id": "u2", "code": "unknown_subscription", "message": "..."})
    assert c.unsubscribed.is_set()


async def test_an_end_event_finishes_a_stream(conn: Fixture) -> None:
    conn.frame({"type": "subscribed", "id": 1, "sub": 1, "seq": 0}, tick(1, 1),
               {"type": "end", "sub": 1, "seq": 1})
    assert conn.connection.stream_ends == 1 and conn.connection.active_subscriptions() == []


@pytest.mark.parametrize("payload", [b"not json", b'{"type": "tick"}', b"[1]",
                                     b'[{"type": "tick", "sub": 1}]',
                                     b'[{"type": "tick", "sub": 1, "seq": 1, "time": "x"}]'])
async def test_frames_that_break_the_wire_contract_are_counted(conn: Fixture,
                                                               payload: bytes) -> None:
    conn.connection.on_message(payload, 100.0)
    assert conn.connection.protocol_violations == 1
    assert conn.connection.ticks_received == 0 and conn.delays == []


async def test_the_token_bucket_sends_a_burst_then_paces() -> None:
    bucket = pacing.bucket(rate=1000.0, burst=3)
    for _ in range(3):
        await pacing.take(bucket)
    assert bucket.tokens < 1.0
    await pacing.take(bucket)  # waits about a millisecond for the next token
    assert bucket.tokens < 1.0
