"""The token bucket of the operation rate limit (wire/pacing.py), driven by arithmetic."""

from __future__ import annotations

import pytest

from wire.pacing import TokenBucket


def test_a_burst_is_taken_at_once_then_the_rate_applies():
    bucket = TokenBucket(rate=10.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait(0.0) == pytest.approx(0.1)
    assert not bucket.take(0.05) and bucket.take(0.1)


def test_tokens_never_exceed_the_burst():
    bucket = TokenBucket(rate=100.0, burst=2, now=0.0)
    assert bucket.take(1000.0) and bucket.take(1000.0) and not bucket.take(1000.0)


def test_a_cost_larger_than_the_tokens_spends_nothing():
    bucket = TokenBucket(rate=1.0, burst=5, now=0.0)
    assert not bucket.take(0.0, cost=6)
    assert bucket.tokens == 5 and bucket.take(0.0, cost=5) and bucket.tokens == 0


def test_a_clock_that_steps_back_does_not_mint_tokens():
    bucket = TokenBucket(rate=1.0, burst=1, now=10.0)
    assert bucket.take(10.0) and not bucket.take(5.0) and not bucket.take(10.5)
    assert bucket.take(11.0)


@pytest.mark.parametrize(("rate", "burst", "message"), [
    (0.0, 1, "rate must be > 0, got 0.0"), (1.0, 0.5, "burst must be >= 1, got 0.5")])
def test_a_bucket_refuses_bad_settings(rate, burst, message):
    with pytest.raises(ValueError, match=message):
        TokenBucket(rate, burst, 0.0)
