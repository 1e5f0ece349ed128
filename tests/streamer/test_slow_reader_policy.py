"""The slow-reader policy (Session.buffered), sans I/O: the test says how many bytes wait in
the transport and when, advances the hub by hand, and reads what the session would send.

Past ``max_send_buffer`` bytes waiting the session keeps only each subscription's newest
tick, and so it does once what was sent has waited unread for more than ``max_lag``; once
both are down to a quarter (and the client has drained its own buffers) it sends ``lagging``
with the exact number skipped, the newest tick and any ``end``; behind for
``slow_consumer_timeout`` it asks for a 4008 close and lets go of its subscriptions.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streamer import schedule
from streamer.config import ServerConfig
from streamer.hub import Hub
from streamer.session import HOLD_AT_MOST, Session
from tests.conftest import small_market
from tests.streamer.drive import new_session, sent
from wire.names import CloseCode

NOW = 1_800_000_000.0
INTERVAL = 0.1
CONFIG = ServerConfig(max_send_buffer=1000, slow_consumer_timeout=5.0)


@pytest.fixture
def hub() -> Hub:
    return Hub(small_market(NOW), NOW, ring=100)


def subscribe(session: Session, hub: Hub, **fields: Any) -> int:
    """A private stream at INTERVAL (or the fields given); returns its sub."""
    session.receive(orjson.dumps({"op": "subscribe", "interval": INTERVAL, "seed": 1,
                                  **fields}).decode(), NOW)
    [ack] = sent(session)
    return int(ack["sub"])


def step(hub: Hub, k: int) -> float:
    """Run the hub to instant ``k`` of the INTERVAL grid that the streams share."""
    now = schedule.instant(schedule.aligned_t0(NOW + schedule.DUE_SLACK, INTERVAL), INTERVAL, k)
    hub.advance(now)
    return now


def conflating(session: Session) -> bool:
    """``session.conflating`` read through a call, where the test has asserted it before: mypy
    would carry that assert's narrowing across the calls that change it."""
    return session.conflating


def close_request(session: Session) -> tuple[CloseCode, str] | None:
    """``session.close_request`` read through a call, for the same reason."""
    return session.close_request


def test_a_reader_that_keeps_up_is_never_conflated(hub):
    session = new_session(hub, CONFIG, NOW)
    sub = subscribe(session, hub)
    for k in range(1, 30):
        now = step(hub, k)
        assert [e["seq"] for e in sent(session)] == [k]
        session.buffered(CONFIG.max_send_buffer, now)  # at the bound, not past it
        assert not session.conflating
    assert hub.conflated == 0 and sub == 1


def test_past_the_bound_only_the_newest_tick_is_kept_then_lagging_says_how_many_were_skipped(hub):
    session = new_session(hub, CONFIG, NOW)
    sub = subscribe(session, hub)
    session.buffered(CONFIG.max_send_buffer + 1, step(hub, 1))
    sent(session)  # the tick of instant 1 was already gathered
    assert session.conflating
    for k in range(2, 12):  # ten ticks while conflating
        now = step(hub, k)
        assert sent(session) == []
    session.buffered(CONFIG.max_send_buffer // 4 + 1, now)  # draining, not yet low enough
    assert session.conflating and sent(session) == []
    session.buffered(CONFIG.max_send_buffer // 4, now)
    assert not conflating(session)
    assert sent(session) == [
        {"type": "lagging", "sub": sub, "skipped": 9, "seq": 11},
        {"type": "tick", "sub": sub, "seq": 11, "price": pytest.approx(70.0, rel=0.2),
         "time": pytest.approx(now)}]
    assert hub.conflated == 9
    step(hub, 12)
    assert [e["seq"] for e in sent(session)] == [12]  # live again


def test_what_waited_unread_past_max_lag_conflates_until_the_client_drained(hub):
    session = new_session(hub, CONFIG, NOW)
    sub = subscribe(session, hub)
    session.buffered(0, step(hub, 1), lag=CONFIG.max_lag)  # at the bound, not past it
    assert [e["seq"] for e in sent(session)] == [1] and not conflating(session)
    session.buffered(0, step(hub, 2), lag=CONFIG.max_lag + 0.01)
    sent(session)
    assert conflating(session)
    for k in range(3, 8):
        now = step(hub, k)
        assert sent(session) == []
    session.buffered(0, now, lag=CONFIG.max_lag / 4 + 0.01)  # still waiting, not enough
    session.buffered(0, now, lag=0.0, drained=False)  # read, but maybe by its library only
    assert conflating(session) and sent(session) == []
    session.buffered(0, now, lag=0.0, drained=True)
    assert not conflating(session)
    assert [(e["type"], e["seq"]) for e in sent(session)] == [("lagging", 7), ("tick", 7)]
    assert hub.conflated == 4 and sub == 1


def test_a_single_conflated_tick_needs_no_lagging(hub):
    session = new_session(hub, CONFIG, NOW)
    subscribe(session, hub)
    session.buffered(CONFIG.max_send_buffer + 1, NOW)
    now = step(hub, 1)
    session.buffered(0, now)
    assert [e["type"] for e in sent(session)] == ["tick"]


def test_an_end_while_conflating_comes_after_the_newest_tick(hub):
    session = new_session(hub, CONFIG, NOW)
    sub = subscribe(session, hub, periods=5)
    session.buffered(CONFIG.max_send_buffer + 1, NOW)
    for k in range(1, 6):
        now = step(hub, k)
    session.buffered(0, now)
    assert [(e["type"], e["seq"]) for e in sent(session)] == [
        ("lagging", 4), ("tick", 4), ("end", 4)]
    assert sub not in session.subs


def test_an_unsubscribe_while_conflating_drops_what_was_kept_for_it(hub):
    session = new_session(hub, CONFIG, NOW)
    sub = subscribe(session, hub)
    session.buffered(CONFIG.max_send_buffer + 1, NOW)
    step(hub, 1)
    step(hub, 2)
    session.receive(f'{{"op": "unsubscribe", "id": 9, "sub": {sub}}}', NOW + 0.3)
    session.buffered(0, NOW + 0.3)
    assert sent(session) == [{"type": "unsubscribed", "id": 9, "sub": sub}]


def test_a_reader_behind_for_longer_than_the_timeout_is_asked_to_close_with_4008(hub):
    session = new_session(hub, CONFIG, NOW)
    subscribe(session, hub)
    session.buffered(CONFIG.max_send_buffer + 1, NOW)
    session.buffered(CONFIG.max_send_buffer + 1, NOW + CONFIG.slow_consumer_timeout)
    assert session.close_request is None  # exactly the timeout: not yet
    session.buffered(CONFIG.max_send_buffer + 1, NOW + CONFIG.slow_consumer_timeout + 0.1)
    assert close_request(session) == (CloseCode.SLOW_CONSUMER, "slow consumer: behind for over 5s")
    assert session.subs == {} and hub.subscriptions == 0 and hub.streams == 3  # the symbols


def test_replies_piling_up_past_twice_the_bound_while_conflating_get_4008_at_once(hub):
    session = new_session(hub, CONFIG, NOW)
    subscribe(session, hub)
    session.buffered(HOLD_AT_MOST * CONFIG.max_send_buffer + 1, NOW)  # one big frame of ticks
    assert conflating(session) and session.close_request is None  # conflates, not closed
    session.buffered(HOLD_AT_MOST * CONFIG.max_send_buffer, NOW + 0.1)
    assert session.close_request is None
    session.buffered(HOLD_AT_MOST * CONFIG.max_send_buffer + 1, NOW + 0.2)  # still growing
    assert close_request(session) == (
        CloseCode.SLOW_CONSUMER, "slow consumer: 2001 bytes unread, over 2 times the 1000 allowed")
    assert session.subs == {} and hub.subscriptions == 0


def test_after_a_close_request_the_session_takes_no_more_input(hub):
    session = new_session(hub, CONFIG, NOW)
    subscribe(session, hub)
    session.buffered(CONFIG.max_send_buffer + 1, NOW)
    session.buffered(CONFIG.max_send_buffer + 1, NOW + 10)
    session.receive('{"op": "subscribe", "symbol": "ACME"}', NOW + 10)
    session.buffered(0, NOW + 10)
    assert sent(session) == [] and hub.subscriptions == 0
