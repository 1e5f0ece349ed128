"""The absolute schedule (streamer/schedule.py): tick k is due at t0 + k * interval, to the µs.

Pure arithmetic: every function takes ``now``; no clock is read here.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

import numpy as np
import pytest

from streamer import schedule

T0 = 1_764_374_400.0  # a start of a UTC day, as the demo market uses
ODD_T0 = 1_764_374_400.123456


def exact_instant(t0: float, interval: float, k: int) -> float:
    """t0 + k * interval in exact decimal arithmetic, rounded to the microsecond."""
    value = Decimal(repr(t0)) + k * Decimal(repr(interval))
    return float(value.quantize(Decimal("0.000001")))


# --- instant ------------------------------------------------------------------------------------


def test_instant_of_seq_zero_is_t0():
    assert schedule.instant(T0, 0.1, 0) == T0


def test_instant_is_t0_plus_seq_times_interval_rounded_to_the_microsecond():
    assert schedule.instant(T0, 0.1, 3) == 1_764_374_400.3
    assert schedule.instant(ODD_T0, 0.25, 2) == 1_764_374_400.623456


@pytest.mark.parametrize("t0", [T0, ODD_T0])
def test_instants_do_not_drift_over_an_hour_of_100ms_ticks(t0):
    ks = range(36_001)
    got = [schedule.instant(t0, 0.1, k) for k in ks]
    assert got == [exact_instant(t0, 0.1, k) for k in ks]


def test_instants_do_not_drift_over_a_day_of_1ms_ticks_sampled():
    ks = [*list(range(0, 86400001, 8641)), 86400000]
    assert [schedule.instant(T0, 0.001, k) for k in ks] == [
        exact_instant(T0, 0.001, k) for k in ks]


def test_instant_of_tick_k_equals_round_of_t0_plus_k_interval():
    for k in range(0, 36_001, 7):
        assert schedule.instant(T0, 0.1, k) == round(T0 + k * 0.1, 6)


def test_vectorised_instants_equal_instant_bit_for_bit():
    ks = np.arange(36_001)
    for t0, interval in ((T0, 0.1), (ODD_T0, 0.02), (ODD_T0, 0.003), (T0, 1.0)):
        got = schedule.instants(np.full(len(ks), t0), np.full(len(ks), interval), ks)
        assert got.tolist() == [schedule.instant(t0, interval, k) for k in ks.tolist()]


# --- current_seq --------------------------------------------------------------------------------


@pytest.mark.parametrize(("t0", "interval"), [(T0, 0.1), (ODD_T0, 0.1), (ODD_T0, 0.02),
                                               (T0, 0.003), (ODD_T0, 1.0)])
def test_current_seq_at_each_exact_instant_is_that_tick(t0, interval):
    for k in range(0, 36_001, 13):
        assert schedule.current_seq(t0, interval, schedule.instant(t0, interval, k)) == k


def test_current_seq_for_every_instant_of_an_hour_at_100ms():
    for k in range(36_001):
        assert schedule.current_seq(T0, 0.1, schedule.instant(T0, 0.1, k)) == k


def test_current_seq_just_after_an_instant_is_that_tick():
    for k in range(1, 36_001, 11):
        assert schedule.current_seq(T0, 0.1, schedule.instant(T0, 0.1, k) + 1e-4) == k


def test_current_seq_just_before_the_next_instant_is_still_the_previous_tick():
    for k in range(1, 36_001, 11):
        assert schedule.current_seq(T0, 0.1, schedule.instant(T0, 0.1, k) - 1e-4) == k - 1


def test_current_seq_within_the_due_slack_before_an_instant_counts_it_due():
    slack = schedule.DUE_SLACK
    for k in range(1, 1_000):
        instant = schedule.instant(T0, 0.1, k)
        assert schedule.current_seq(T0, 0.1, instant - slack / 2) == k


def test_current_seq_is_minus_one_while_t0_is_ahead():
    assert schedule.current_seq(T0, 0.1, T0 - 1.0) == -1


def test_current_seq_is_zero_at_t0():
    assert schedule.current_seq(T0, 0.1, T0) == 0


def test_current_seq_an_hour_later_is_36000_at_100ms():
    assert schedule.current_seq(T0, 0.1, T0 + 3600.0) == 36_000


# --- aligned_t0 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [0.001, 0.003, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 7.0, 3600.0])
def test_aligned_t0_is_the_latest_grid_point_at_or_before_now(interval):
    rng = random.Random(1)
    for _ in range(500):
        now = round(T0 + rng.uniform(0, 86_400), 6)
        t0 = schedule.aligned_t0(now, interval)
        assert t0 <= now
        assert now - t0 < interval
        ticks = Decimal(repr(t0)) / Decimal(repr(interval))
        assert ticks == ticks.to_integral_value(), (now, t0)


def test_aligned_t0_is_the_same_for_every_now_inside_one_interval():
    assert {schedule.aligned_t0(T0 + 0.3 + d, 0.1) for d in (0.0, 0.01, 0.05, 0.0999)} == {
        T0 + 0.3}


def test_aligned_t0_at_an_exact_grid_point_is_that_point():
    assert schedule.aligned_t0(1_764_374_400.5, 0.5) == 1_764_374_400.5


@pytest.mark.parametrize("interval", [0.001, 0.02, 0.05, 0.1, 0.25, 1.0])
def test_streams_started_at_different_times_on_one_grid_share_their_instants(interval):
    rng = random.Random(2)
    for _ in range(200):
        a = schedule.aligned_t0(T0 + rng.uniform(0, 86_400), interval)
        b = schedule.aligned_t0(T0 + rng.uniform(0, 86_400), interval)
        offset = round((b - a) / interval)
        for k in (0, 1, 17, 1_000, 36_000):
            assert schedule.instant(a, interval, offset + k) == schedule.instant(b, interval, k)


# --- phase ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [0.01, 0.1, 0.5, 1.0, 7.0])
def test_aligned_t0_with_a_phase_is_the_latest_phase_point_at_or_before_now(interval):
    rng = random.Random(3)
    for n in range(1, 300):
        phase = schedule.phase(n)
        now = round(T0 + rng.uniform(0, 86_400), 6)
        t0 = schedule.aligned_t0(now, interval, phase)
        assert t0 <= now
        assert now - t0 < interval + 1e-6
        ticks = (Decimal(repr(t0)) - Decimal(repr(phase))) / Decimal(repr(interval))
        assert abs(ticks - ticks.to_integral_value()) < Decimal("1e-5"), (now, phase, t0)


def test_one_connections_streams_share_instants_across_intervals_and_start_times():
    # one phase: a 1 s stream and a 0.5 s one started hours apart fall due together every second
    phase = schedule.phase(7)
    slow = schedule.aligned_t0(T0 + 3_600.37, 1.0, phase)
    fast = schedule.aligned_t0(T0 + 18_000.81, 0.5, phase)
    slow_instants = {schedule.instant(slow, 1.0, k) for k in range(20_000)}
    fast_instants = {schedule.instant(fast, 0.5, k) for k in range(2_000)}
    assert fast_instants & slow_instants
    assert len(fast_instants & slow_instants) == 1_000  # every other instant of the fast one


@pytest.mark.parametrize("count", [10, 50, 100, 1_000, 10_000])
def test_phases_of_connections_opened_together_spread_over_the_second(count):
    phases = [schedule.phase(n) for n in range(1, count + 1)]
    assert all(0.0 <= p < 1.0 for p in phases)
    slots = np.array([round(p * 100) for p in phases])
    assert np.allclose(slots / 100, phases, rtol=0, atol=1e-12)  # whole hundredths
    per_slot = np.bincount(slots, minlength=100)
    # as even as the grid allows: at most 2 in a step beyond the fair share
    assert per_slot.max() <= math.ceil(count / 100) + 2, per_slot.max()
    if count <= 100:
        ordered = sorted(phases)
        gaps = np.diff([*ordered, ordered[0] + 1.0])
        assert gaps.max() < 3 / count + 1e-6


@pytest.mark.parametrize(("interval", "steps"), [(0.1, 10), (0.05, 5), (0.5, 50)])
def test_phases_spread_over_intervals_shorter_than_a_second_too(interval, steps):
    count = 1_000
    offsets = np.array([schedule.aligned_t0(T0 + 5.0, interval, schedule.phase(n)) - T0
                        for n in range(1, count + 1)]) % interval
    slots = np.round(offsets * 100).astype(int) % steps  # whole hundredths
    per_slot = np.bincount(slots, minlength=steps)
    assert len(per_slot) == steps
    share = count / steps
    assert per_slot.min() >= share * 0.6 and per_slot.max() <= share * 1.5, per_slot


def test_a_10_ms_stream_shares_its_instants_with_every_connection():
    # under the grid's step the phase cannot spread anything: every connection's 10 ms
    # streams tick together, as a hundred streams of one connection do
    offsets = {round((schedule.aligned_t0(T0 + 5.0, 0.01, schedule.phase(n)) - T0) % 0.01, 6)
               % 0.01 for n in range(1, 200)}
    assert len({round(o * 1e6) % 10_000 for o in offsets}) == 1
