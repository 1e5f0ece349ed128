"""The client's protocol state machine, driven by plain function calls: frames in, operations
and ticks out. No event loop, no network."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from clients.errors import (ArgumentError, InvalidParams, ProtocolViolation, RateLimited,
                            StreamRestarted, TicksLost, UnknownSymbol)
from clients.feed.protocol import ClientProtocol, Ended, StreamState, Tick, check_spec
from wire import commands, events
from wire.commands import StreamSpec

PARAMS = {"model": "gbm", "startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0,
          "interval": 0.1, "seed": 7, "periods": None}


def spec(*args, **kwargs) -> StreamSpec:
    return check_spec(StreamSpec(*args, **kwargs))


class Owner:
    """Stands in for the application's Subscription: a list as sink, ack flags."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.items: list[Any] = []
        self.capacity = capacity
        self.drained: list[Any] = []
        self.acked = 0
        self.failed: Exception | None = None

    def offer(self, tick: Tick) -> bool:
        if len(self.items) >= self.capacity:
            return False
        self.items.append(tick)
        return True

    def put(self, item: Any) -> None:
        self.items.append(item)

    def when_drained(self, callback: Any) -> None:
        self.drained.append(callback)

    def _acked(self) -> None:
        self.acked += 1

    def _failed(self, exc: Exception) -> None:
        self.failed = exc

    @property
    def seqs(self) -> list[int]:
        return [item.seq for item in self.items if isinstance(item, Tick)]


def connected(fill_gaps: bool = True) -> ClientProtocol:
    protocol = ClientProtocol(fill_gaps=fill_gaps)
    protocol.connection_made()
    return protocol


def subscribe(protocol: ClientProtocol, capacity: int = 1_000_000,
              **fields: Any) -> tuple[StreamState, Owner]:
    owner = Owner(capacity)
    state = StreamState(spec(**fields), owner, owner)
    protocol.add(state)
    return state, owner


def sent(protocol: ClientProtocol) -> list[dict[str, Any]]:
    ops = [orjson.loads(message) for message in protocol.outbox]
    protocol.outbox.clear()
    return ops


def frame(*items: dict[str, Any] | events.Event) -> bytes:
    return orjson.dumps([item.to_wire() if isinstance(item, events.Event) else item
                         for item in items])


def ack(op_id: int, sub: int, seq: int, symbol: str | None = None, t0: float = 1000.0,
        params: dict[str, Any] = PARAMS) -> events.Subscribed:
    return events.Subscribed(op_id, sub, symbol, seq, 70.0 + seq, t0 + seq, t0, params)


def tick(sub: int, seq: int) -> events.Tick:
    return events.Tick(sub, seq, 70.0 + seq, 1000.0 + seq)


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "argument", "message"), [
    ({"sigma": -1.0}, "sigma", "sigma must be a finite number >= 0, got -1.0"),
    ({"sigma": float("nan")}, "sigma", "sigma must be a finite number >= 0, got nan"),
    ({"start_price": 0}, "start_price", "start_price must be a finite number > 0, got 0"),
    ({"interval": "fast"}, "interval", "interval must be a finite number > 0, got 'fast'"),
    ({"seed": -1}, "seed", "seed must be an integer from 0 to 2**64-1, got -1"),
    ({"seed": 2**64}, "seed", f"seed must be an integer from 0 to 2**64-1, got {2**64}"),
    ({"seed": True}, "seed", "seed must be an integer from 0 to 2**64-1, got True"),
    ({"periods": 0}, "periods", "periods must be an integer >= 1, got 0"),
    ({"history": -1}, "history", "history must be an integer from 0 to 10000, got -1"),
    ({"history": 10_001}, "history", "history must be an integer from 0 to 10000, got 10001"),
    ({"symbol": ""}, "symbol", "symbol must be a non-empty string, got ''"),
    ({"symbol": "ACME", "sigma": 0.2}, "sigma",
     "sigma cannot be combined with symbol: a symbol's parameters are fixed by the market"),
    ({"history": 5, "from_seq": 3, "seed": 1, "t0": 1.0}, "history",
     "give history or from_seq, not both"),
    ({"t0": 1.0}, "t0", "t0 names a stream only together with its seed"),
    ({"seed": 1, "from_seq": 3}, "from_seq",
     "from_seq resumes a stream, which needs the seed and t0 of its subscribed reply"),
    ({"symbol": "ACME", "pace": "asap"}, "pace",
     "pace is the pace of a replay: give from_seq or from_time with it"),
    ({"symbol": "ACME", "from_seq": 3, "pace": "fast"}, "pace",
     "pace must be one of live, asap, got 'fast'"),
    ({"symbol": "ACME", "from_time": -5.0}, "from_time",
     "from_time must be a finite number >= 0, got -5.0"),
])
def test_a_bad_argument_is_refused_naming_it(kwargs, argument, message):
    with pytest.raises(ArgumentError) as caught:
        spec(**kwargs)
    assert caught.value.argument == argument
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_the_first_subscribe_carries_only_the_given_fields():
    protocol = connected()
    subscribe(protocol, start_price=70, sigma=0.3, interval=0.1, seed=7)
    assert sent(protocol) == [{"op": "subscribe", "startPrice": 70, "sigma": 0.3,
                               "interval": 0.1, "seed": 7, "id": 1}]


def test_nothing_is_sent_before_a_connection_and_everything_is_sent_on_it():
    protocol = ClientProtocol()
    subscribe(protocol, symbol="ACME")
    assert not protocol.outbox
    protocol.connection_made()
    assert sent(protocol) == [{"op": "subscribe", "symbol": "ACME", "id": 1}]


# --- acks and ticks -------------------------------------------------------------------------


def test_the_ack_delivers_the_current_tick_then_ticks_follow_in_order():
    protocol = connected()
    state, owner = subscribe(protocol, seed=7, interval=0.1)
    protocol.receive(frame(ack(1, sub=1, seq=4)))
    protocol.receive(frame(tick(1, 5), tick(1, 6)))
    assert owner.seqs == [4, 5, 6]
    assert owner.acked == 1
    assert (state.t0, state.params) == (1000.0, PARAMS)


def test_with_history_the_replay_after_the_ack_comes_first_and_the_ack_is_not_repeated():
    protocol = connected()
    _, owner = subscribe(protocol, symbol="ACME", history=3)
    protocol.receive(frame(ack(1, 1, seq=10, symbol="ACME"), tick(1, 8), tick(1, 9),
                           tick(1, 10)))
    protocol.receive(frame(tick(1, 11)))
    assert owner.seqs == [8, 9, 10, 11]


def test_a_tick_seen_before_is_dropped():
    protocol = connected()
    state, owner = subscribe(protocol, seed=7)
    protocol.receive(frame(ack(1, 1, seq=0), tick(1, 1), tick(1, 1), tick(1, 0), tick(1, 2)))
    assert owner.seqs == [0, 1, 2]
    assert state.duplicates == 2


def test_ticks_of_a_subscription_no_longer_live_are_ignored():
    protocol = connected()
    _, owner = subscribe(protocol, seed=7)
    protocol.receive(frame(ack(1, 1, seq=0), tick(9, 1)))
    assert owner.seqs == [0]


# --- resume ---------------------------------------------------------------------------------


def test_a_private_stream_resumes_with_its_params_seed_t0_and_the_next_seq():
    protocol = connected()
    state, owner = subscribe(protocol, sigma=0.3, interval=0.1)  # the server picks the seed
    sent(protocol)
    protocol.receive(frame(ack(1, 1, seq=3), tick(1, 4)))
    protocol.connection_lost(ConnectionError())  # type: ignore[arg-type]
    protocol.connection_made()
    assert sent(protocol) == [{"op": "subscribe", "t0": 1000.0, "startPrice": 70.0,
                               "mu": 0.05, "sigma": 0.3, "delta": 1.0, "interval": 0.1,
                               "seed": 7, "fromSeq": 5, "id": 2}]
    protocol.receive(frame(ack(2, 1, seq=7), tick(1, 5), tick(1, 6), tick(1, 7)))
    assert owner.seqs == [3, 4, 5, 6, 7]
    assert state.resumes == 1


def test_a_symbol_resumes_with_its_symbol_t0_and_the_next_seq():
    protocol = connected()
    _, _owner = subscribe(protocol, symbol="ACME")
    sent(protocol)
    protocol.receive(frame(ack(1, 1, seq=50, symbol="ACME", t0=0.0)))
    protocol.connection_lost(ConnectionError())  # type: ignore[arg-type]
    protocol.connection_made()
    assert sent(protocol) == [{"op": "subscribe", "symbol": "ACME", "t0": 0.0, "fromSeq": 51,
                               "id": 2}]


def test_a_finite_stream_resumes_with_its_periods():
    protocol = connected()
    subscribe(protocol, seed=7, periods=100)
    sent(protocol)
    protocol.receive(frame(ack(1, 1, seq=0, params={**PARAMS, "periods": 100})))
    protocol.connection_lost(ConnectionError())  # type: ignore[arg-type]
    protocol.connection_made()
    assert sent(protocol)[0]["periods"] == 100


def test_a_resume_beyond_the_replay_limit_reports_the_lost_ticks_then_goes_on():
    protocol = connected()
    state, owner = subscribe(protocol, seed=7)
    protocol.receive(frame(ack(1, 1, seq=0)))
    protocol.connection_lost(ConnectionError())  # type: ignore[arg-type]
    protocol.connection_made()
    sent(protocol)
    protocol.receive(frame(events.Error(2, "limit_exceeded", "fromSeq",
                                        "fromSeq 1 would replay 500 ticks")))
    retry = sent(protocol)
    assert "fromSeq" not in retry[0] and retry[0]["t0"] == 1000.0
    protocol.receive(frame(ack(3, 2, seq=500)))
    lost = owner.items[1]
    assert isinstance(lost, TicksLost) and (lost.first, lost.last) == (1, 499)
    assert owner.seqs == [0, 500]
    assert state.lost == 499


def test_a_symbol_whose_session_changed_starts_over_and_says_so_once():
    protocol = connected()
    state, owner = subscribe(protocol, symbol="ACME")
    protocol.receive(frame(ack(1, 1, seq=40, symbol="ACME", t0=1000.0)))
    protocol.connection_lost(ConnectionError())  # type: ignore[arg-type]
    protocol.connection_made()
    assert sent(protocol)[0] == {"op": "subscribe", "symbol": "ACME", "t0": 1000.0,
                                 "fromSeq": 41, "id": 2}
    protocol.receive(frame(events.Error(2, "invalid_params", "t0", "t0 of ACME is 2000.0")))
    assert sent(protocol) == [{"op": "subscribe", "symbol": "ACME", "id": 3}]
    protocol.receive(frame(ack(3, 1, seq=7, symbol="ACME", t0=2000.0), tick(1, 8)))
    restarted = owner.items[1]
    assert isinstance(restarted, StreamRestarted)
    assert (restarted.old_t0, restarted.new_t0, restarted.last) == (1000.0, 2000.0, 40)
    assert owner.seqs == [40, 7, 8] and state.t0 == 2000.0 and state.restarts == 1


def test_a_private_stream_too_old_to_catch_up_starts_over_with_its_params_and_seed():
    protocol = connected()
    _, owner = subscribe(protocol, seed=7)
    protocol.receive(frame(ack(1, 1, seq=0)))
    protocol.connection_lost(ConnectionError())  # type: ignore[arg-type]
    protocol.connection_made()
    sent(protocol)
    protocol.receive(frame(events.Error(2, "limit_exceeded", "t0", "resuming means 1e8 steps")))
    [again] = sent(protocol)
    assert "t0" not in again and "fromSeq" not in again
    assert {k: again[k] for k in ("seed", "sigma", "interval")} == {"seed": 7, "sigma": 0.3,
                                                                   "interval": 0.1}
    protocol.receive(frame(ack(3, 2, seq=0, t0=5000.0)))
    assert isinstance(owner.items[1], StreamRestarted) and owner.seqs == [0, 0]


def test_a_restart_that_is_refused_again_fails_the_subscription():
    protocol = connected()
    _, owner = subscribe(protocol, symbol="ACME")
    protocol.receive(frame(ack(1, 1, seq=40, symbol="ACME")))
    protocol.connection_lost(ConnectionError())  # type: ignore[arg-type]
    protocol.connection_made()
    protocol.receive(frame(events.Error(2, "invalid_params", "t0", "session changed")))
    protocol.receive(frame(events.Error(3, "unknown_symbol", "symbol", "no ACME any more")))
    assert isinstance(owner.items[-2], UnknownSymbol) and isinstance(owner.items[-1], Ended)


# --- gaps -----------------------------------------------------------------------------------


def test_lagging_replaces_the_subscription_by_a_resume_from_the_next_seq():
    protocol = connected()
    state, owner = subscribe(protocol, seed=7, interval=0.1)
    protocol.receive(frame(ack(1, 1, seq=0), tick(1, 1)))
    sent(protocol)
    protocol.receive(frame(events.Lagging(1, 12, 14),
                           tick(1, 14)))
    ops = sent(protocol)
    assert ops[0] == {"op": "unsubscribe", "sub": 1, "id": 2}
    assert ops[1]["fromSeq"] == 2 and ops[1]["t0"] == 1000.0 and ops[1]["seed"] == 7
    protocol.receive(frame(events.Unsubscribed(2, 1), tick(1, 15),
                           ack(3, 2, seq=15), *[tick(2, k) for k in range(2, 16)]))
    protocol.receive(frame(tick(2, 16)))
    assert owner.seqs == list(range(17))
    assert (state.lagging, state.refetches) == (1, 1)


def test_a_gap_the_server_cannot_replay_is_reported_lost_once_not_fetched_for_ever():
    """A third party skipped ticks 4 and 5 (or the server's history no longer reaches them):
    the resume sent for the gap starts with ``lagging`` again, so they are lost."""
    protocol = connected()
    state, owner = subscribe(protocol, symbol="EXT")
    protocol.receive(frame(ack(1, 1, seq=3, symbol="EXT")))
    sent(protocol)
    protocol.receive(frame(events.Lagging(1, 2, 6), tick(1, 6)))
    assert [op["op"] for op in sent(protocol)] == ["unsubscribe", "subscribe"]
    protocol.receive(frame(events.Unsubscribed(2, 1), ack(3, 2, seq=6, symbol="EXT"),
                           events.Lagging(2, 2, 6), tick(2, 6), tick(2, 7)))
    assert not sent(protocol)  # no second resume
    lost = [item for item in owner.items if isinstance(item, TicksLost)]
    assert [(x.first, x.last) for x in lost] == [(4, 5)] and state.lost == 2
    assert owner.seqs == [3, 6, 7]
    protocol.receive(frame(events.Lagging(2, 3, 11), tick(2, 11)))  # a new gap: fetched again
    assert [op["op"] for op in sent(protocol)] == ["unsubscribe", "subscribe"]


def test_a_replay_from_a_time_starts_at_the_first_tick_the_server_sends():
    protocol = connected()
    _, owner = subscribe(protocol, symbol="ACME", from_time=1040.0, pace="asap")
    assert sent(protocol)[0]["fromTime"] == 1040.0
    protocol.receive(frame(ack(1, 1, seq=50, symbol="ACME"),
                           *[tick(1, k) for k in range(40, 52)]))
    assert owner.seqs == list(range(40, 52)) and not sent(protocol)
    protocol.receive(frame(tick(1, 54)))  # then a gap is a gap, fetched back
    assert [op["op"] for op in sent(protocol)] == ["unsubscribe", "subscribe"]


def test_a_replay_from_a_time_the_server_no_longer_holds_starts_where_it_does():
    protocol = connected()
    state, owner = subscribe(protocol, symbol="ACME", from_time=1001.0)
    sent(protocol)
    protocol.receive(frame(ack(1, 1, seq=50, symbol="ACME"), events.Lagging(1, 3, 45),
                           *[tick(1, k) for k in range(45, 51)]))
    assert owner.seqs == list(range(45, 51)) and not sent(protocol) and state.lost == 0


def test_a_replay_from_a_time_resumed_before_its_first_tick_asks_for_the_same_time():
    protocol = connected()
    state, _ = subscribe(protocol, symbol="ACME", from_time=1040.0)
    sent(protocol)
    protocol.receive(frame(ack(1, 1, seq=50, symbol="ACME")))
    assert state.subscribe_spec() == StreamSpec("ACME", from_time=1040.0, t0=1000.0)


def test_a_gap_without_lagging_is_fetched_back_too():
    protocol = connected()
    state, owner = subscribe(protocol, seed=7)
    protocol.receive(frame(ack(1, 1, seq=0), tick(1, 1), tick(1, 5)))
    assert [op["op"] for op in sent(protocol)[1:]] == ["unsubscribe", "subscribe"]
    assert owner.seqs == [0, 1] and state.refetches == 1


def test_with_fill_gaps_off_the_jump_is_delivered_and_counted():
    protocol = connected(fill_gaps=False)
    state, owner = subscribe(protocol, seed=7)
    sent(protocol)
    protocol.receive(frame(ack(1, 1, seq=0), tick(1, 1),
                           events.Lagging(1, 12, 14),
                           tick(1, 14), tick(1, 15)))
    assert owner.seqs == [0, 1, 14, 15]
    assert (state.lagging, state.skipped) == (1, 12)
    assert not protocol.outbox


def test_a_full_queue_pauses_the_subscription_until_it_is_drained():
    protocol = connected()
    state, owner = subscribe(protocol, capacity=3, seed=7)
    protocol.receive(frame(ack(1, 1, seq=0), tick(1, 1), tick(1, 2), tick(1, 3), tick(1, 4)))
    assert owner.seqs == [0, 1, 2]
    assert sent(protocol)[1:] == [{"op": "unsubscribe", "sub": 1, "id": 2}]
    assert state.paused and state.overflows == 1 and state.expected == 3
    owner.items.clear()
    owner.drained.pop()()
    resume = sent(protocol)
    assert resume[0]["fromSeq"] == 3 and not state.paused


def test_a_paused_subscription_is_not_resumed_by_a_new_connection_before_it_drains():
    protocol = connected()
    _state, owner = subscribe(protocol, capacity=1, seed=7)
    protocol.receive(frame(ack(1, 1, seq=0), tick(1, 1)))
    protocol.connection_lost(ConnectionError())  # type: ignore[arg-type]
    protocol.connection_made()
    assert not sent(protocol)
    owner.items.clear()
    owner.drained.pop()()
    assert sent(protocol)[0]["fromSeq"] == 1


def test_an_end_after_every_tick_ends_the_subscription():
    protocol = connected()
    state, owner = subscribe(protocol, seed=7, periods=3)
    protocol.receive(frame(ack(1, 1, seq=0), tick(1, 1), tick(1, 2),
                           events.End(1, 2)))
    assert owner.seqs == [0, 1, 2] and owner.items[-1] == Ended(owner)
    assert state.terminal == "ended" and not protocol.states


# --- errors ---------------------------------------------------------------------------------


def test_a_refused_subscribe_fails_with_a_typed_error():
    protocol = connected()
    state, owner = subscribe(protocol, symbol="NOPE")
    protocol.receive(frame(events.Error(1, "unknown_symbol", "symbol", "unknown symbol 'NOPE'")))
    assert isinstance(owner.failed, UnknownSymbol)
    assert (owner.failed.code, owner.failed.field) == ("unknown_symbol", "symbol")
    assert owner.items == [owner.failed, Ended(owner)]
    assert state.terminal == "failed"


def test_an_error_without_id_answers_the_oldest_operation_and_rate_limited_is_retried():
    protocol = connected()
    first, _ = subscribe(protocol, seed=1)
    second, _ = subscribe(protocol, seed=2)
    sent(protocol)
    protocol.receive(frame(events.Error(None, "rate_limited", None, "more than 50 operations a second"),
                           ack(2, 1, seq=0)))
    assert second.server_sub == 1 and first.server_sub is None and first.terminal is None
    assert len(protocol.retry) == 1
    protocol.retry.pop()()
    assert sent(protocol) == [{"op": "subscribe", "seed": 1, "id": 3}]


def test_a_resume_ahead_of_a_restarted_server_is_retried_not_failed():
    protocol = connected()
    state, _ = subscribe(protocol, seed=7)
    protocol.receive(frame(ack(1, 1, seq=9)))
    protocol.connection_lost(ConnectionError())  # type: ignore[arg-type]
    protocol.connection_made()
    sent(protocol)
    protocol.receive(frame(events.Error(2, "invalid_params", "fromSeq", "fromSeq 10 is ahead")))
    assert state.terminal is None and len(protocol.retry) == 1


def test_a_retry_made_for_an_old_connection_does_nothing():
    protocol = connected()
    subscribe(protocol, seed=7)
    protocol.receive(frame(events.Error(None, "rate_limited", None, "slow down")))
    retry = protocol.retry.pop()
    protocol.connection_lost(ConnectionError())  # type: ignore[arg-type]
    protocol.connection_made()
    sent(protocol)
    retry()
    assert not protocol.outbox


def test_a_one_shot_operation_gets_its_reply_or_its_error():
    protocol = connected()
    replies: list[Any] = []
    protocol.request(commands.Ping, replies.append)
    protocol.request(commands.Ping, replies.append)
    protocol.receive(frame(events.Pong(1, 5.0),
                           events.Error(None, "rate_limited", None, "slow down")))
    assert replies[0] == events.Pong(1, 5.0)
    assert isinstance(replies[1], RateLimited)


def test_a_lost_connection_fails_the_replies_still_awaited():
    protocol = connected()
    replies: list[Any] = []
    protocol.request(commands.Ping, replies.append)
    lost = ConnectionError("gone")
    protocol.connection_lost(lost)  # type: ignore[arg-type]
    assert replies == [lost]


@pytest.mark.parametrize("data", [b"{}", b"not json", b'[{"type": "tick"}]',
                                  b'[{"type": "subscribed", "id": 1}]'])
def test_a_frame_outside_the_contract_is_a_protocol_violation(data):
    protocol = connected()
    subscribe(protocol, seed=7)
    protocol._by_sub[1] = protocol.states[0]
    with pytest.raises(ProtocolViolation):
        protocol.receive(data)


def test_invalid_params_of_a_first_subscribe_is_final():
    protocol = connected()
    _, owner = subscribe(protocol, seed=7, interval=0.00001)
    protocol.receive(frame(events.Error(1, "invalid_params", "interval", "interval must be ...")))
    assert isinstance(owner.failed, InvalidParams) and owner.failed.field == "interval"
