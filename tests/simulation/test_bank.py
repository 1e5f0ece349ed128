"""StreamBank: many streams of every model stepped together, each bit for bit equal to its
own path()."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import simulation.bank
from simulation.bank import StreamBank
from simulation.params import GBMParams, HestonParams, MertonParams, ModelParams, OUParams
from simulation.walk import path

STREAMS: list[tuple[ModelParams, int]] = [
    (GBMParams(70.0, 0.05, 0.3, 1.0), 1),
    (GBMParams(12.5, 0.12, 0.55, 1.0), 2),
    (GBMParams(240.0, 0.03, 0.18, 1.0), 3),
    (GBMParams(3.2, -0.02, 0.8, 1 / 390), 4),
    (GBMParams(101.0, 0.07, 0.12, 5.0), 5),
    (GBMParams(45.0, 0.2, 0.65, 1.0), 2**64 - 1),
    (GBMParams(880.0, 0.04, 0.25, 1 / 78), 0),
    (GBMParams(18.0, 0.0, 0.0, 1.0), 8),
    (GBMParams(70.0, 0.05, 0.3, 1.0), 9),
    (GBMParams(70.0, 0.05, 0.3, 1.0), 1),  # the same stream twice: two slots, same prices
    (MertonParams(70.0, 0.05, 0.2, 1.0, 20.0, -0.05, 0.1), 10),
    (MertonParams(5.0, 0.0, 0.4, 5.0, 300.0, 0.01, 0.3), 11),  # several jumps a step
    (HestonParams(70.0, 0.05, 1.0, 0.04, 2.0, 0.05, 0.6, -0.7), 12),
    (HestonParams(70.0, 0.0, 30.0, 0.01, 0.5, 0.04, 1.5, 0.9), 13),  # both QE branches, rho > 0
    (OUParams(70.0, 0.3, 1.0, 5.0, 80.0), 14),
    (OUParams(0.5, 2.0, 0.01, 900.0, 3.0), 15),
]
#: One stream of each model (for the tests that run once per model).
ONE_OF_EACH = {params.name: (params, seed) for params, seed in reversed(STREAMS)}


def add(bank: StreamBank, params: ModelParams, seed: int, seq: int = 0) -> int:
    slot, _, _ = bank.add(params, seed, seq=seq)
    return slot


def step_one(bank: StreamBank, slot: int) -> float:
    return float(bank.step(np.array([slot]))[0])


@pytest.mark.parametrize("scalar_rows", [1, 16, 10**6])  # refills vectorised, or not
def test_random_batches_in_random_orders_reproduce_each_streams_path_bit_for_bit(
    scalar_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulation.bank, "SCALAR_ROWS", scalar_rows)
    rng = np.random.default_rng(2024)
    bank = StreamBank(capacity=4)
    slots = np.array([add(bank, params, seed) for params, seed in STREAMS])
    seen: dict[int, list[float]] = {int(slot): [] for slot in slots}

    for _ in range(700):
        batch = rng.permutation(slots)[: rng.integers(0, len(slots) + 1)]
        for slot, price in zip(batch.tolist(), bank.step(batch).tolist(), strict=True):
            seen[slot].append(price)

    for slot, (params, seed) in zip(slots.tolist(), STREAMS, strict=True):
        assert len(seen[slot]) > 2 * 128  # every block size refilled more than once
        assert np.array_equal(seen[slot], path(params, seed, len(seen[slot]) + 1)[1:])
        assert (bank.seq[slot], bank.price[slot]) == (len(seen[slot]), seen[slot][-1])


def test_a_streams_prices_do_not_depend_on_other_streams_coming_and_going() -> None:
    params, seed = STREAMS[0]
    bank = StreamBank(capacity=1)
    mine = add(bank, params, seed)
    prices = []

    for k in range(300):
        others = [add(bank, *STREAMS[1 + k % 15]) for _ in range(k % 4)]
        prices.extend(bank.step(np.array([*others, mine]))[-1:].tolist())
        for other in others[::2]:
            bank.remove(other)

    assert np.array_equal(prices, path(params, seed, 301)[1:])


def test_step_returns_the_new_prices_in_the_order_of_the_slots_given() -> None:
    bank = StreamBank()
    a, b = add(bank, *STREAMS[0]), add(bank, *STREAMS[1])

    prices = bank.step(np.array([b, a]))

    assert prices.tolist() == [path(*STREAMS[1], 2)[1], path(*STREAMS[0], 2)[1]]
    assert bank.price[[b, a]].tolist() == prices.tolist()


def test_step_advances_only_the_slots_given() -> None:
    bank = StreamBank()
    a, b = add(bank, *STREAMS[0]), add(bank, *STREAMS[1])

    bank.step(np.array([a]))

    assert (bank.seq[a], bank.seq[b]) == (1, 0)
    assert bank.price[b] == STREAMS[1][0].start_price


def test_step_with_no_slots_changes_nothing() -> None:
    bank = StreamBank()
    slot = add(bank, *STREAMS[0])

    assert bank.step(np.array([], dtype=np.int64)).tolist() == []
    assert (bank.seq[slot], bank.price[slot]) == (0, 70.0)


def test_a_new_stream_starts_at_its_start_price_and_seq_zero() -> None:
    bank = StreamBank()
    slot = add(bank, GBMParams(70.0, 0.05, 0.3, 1.0), 42)

    assert (bank.price[slot], bank.seq[slot]) == (70.0, 0)


@pytest.mark.parametrize("model", sorted(ONE_OF_EACH))
@pytest.mark.parametrize("seq", [1, 2, 3, 4, 127, 128, 129, 1000])
def test_add_at_seq_k_starts_at_price_k_of_the_path_and_continues_it(
    model: str, seq: int
) -> None:
    params, seed = ONE_OF_EACH[model]
    expected = path(params, seed, seq + 300)
    bank = StreamBank()
    slot = add(bank, params, seed, seq=seq)

    assert (bank.price[slot], bank.seq[slot]) == (expected[seq], seq)
    assert np.array_equal([step_one(bank, slot) for _ in range(299)], expected[seq + 1:])


def test_a_negative_seq_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^seq must be >= 0, got -1$"):
        StreamBank().add(*STREAMS[0], seq=-1)


def test_add_without_a_tail_returns_no_prices() -> None:
    _, recent, _ = StreamBank().add(*STREAMS[0], seq=10)

    assert (recent.shape, recent.dtype) == ((0,), np.dtype(np.float64))


@pytest.mark.parametrize(("seq", "tail"), [(0, 1), (1, 1), (1, 2), (10, 3), (10, 11), (300, 200)])
def test_add_returns_the_last_tail_prices_up_to_seq_bit_for_bit(seq: int, tail: int) -> None:
    params, seed = STREAMS[1]

    _, recent, _ = StreamBank().add(params, seed, seq=seq, tail=tail)

    assert np.array_equal(recent, path(params, seed, seq + 1)[seq + 1 - tail:])


@pytest.mark.parametrize("tail", [1, 4, 11])
def test_asking_for_a_tail_does_not_change_the_stream(tail: int) -> None:
    params, seed = STREAMS[1]
    bank = StreamBank()
    slot, _, _ = bank.add(params, seed, seq=10, tail=tail)

    assert bank.price[slot] == path(params, seed, 11)[10]
    assert np.array_equal([step_one(bank, slot) for _ in range(10)], path(params, seed, 21)[11:])


@pytest.mark.parametrize(("seq", "tail"), [(0, 2), (10, 12), (10, -1)])
def test_a_tail_longer_than_the_stream_so_far_is_rejected(seq: int, tail: int) -> None:
    with pytest.raises(ValueError, match=rf"^tail must be 0\.\.{seq + 1}, got {tail}$"):
        StreamBank().add(*STREAMS[0], seq=seq, tail=tail)


def test_seq_counts_the_steps_since_the_start_price() -> None:
    bank = StreamBank()
    slot = add(bank, *STREAMS[0], seq=5)
    for _ in range(7):
        bank.step(np.array([slot]))

    assert bank.seq[slot] == 12


def test_remove_frees_a_slot_that_add_reuses() -> None:
    bank = StreamBank(capacity=4)
    slots = [add(bank, *STREAMS[k]) for k in range(3)]

    bank.remove(slots[1])

    assert len(bank) == 2
    assert add(bank, *STREAMS[4]) == slots[1]
    assert (len(bank), bank.capacity) == (3, 4)


def test_a_reused_slot_starts_its_new_stream_afresh() -> None:
    bank = StreamBank()
    slot = add(bank, *STREAMS[0])
    for _ in range(7):  # leave the old stream mid-block
        bank.step(np.array([slot]))
    bank.remove(slot)

    assert add(bank, *STREAMS[1]) == slot
    assert np.array_equal([step_one(bank, slot) for _ in range(20)], path(*STREAMS[1], 21)[1:])


def test_a_removed_slot_has_no_params() -> None:
    bank = StreamBank()
    slot = add(bank, *STREAMS[0])
    bank.remove(slot)

    with pytest.raises(KeyError) as caught:
        bank.params(slot)

    assert caught.value.args == (f"slot {slot} is empty",)


def test_removing_an_empty_slot_is_an_error() -> None:
    bank = StreamBank()
    slot = add(bank, *STREAMS[0])
    bank.remove(slot)

    with pytest.raises(KeyError) as caught:
        bank.remove(slot)

    assert caught.value.args == (f"slot {slot} is empty",)


def test_params_returns_the_params_of_a_slot() -> None:
    bank = StreamBank()
    slot = add(bank, *STREAMS[4])

    assert bank.params(slot) == STREAMS[4][0]


def test_len_counts_the_streams_held() -> None:
    bank = StreamBank(capacity=2)
    for k in range(5):
        add(bank, *STREAMS[k])

    assert len(bank) == 5


def test_adding_past_capacity_grows_the_bank() -> None:
    bank = StreamBank(capacity=2)
    slots = [add(bank, *STREAMS[k]) for k in range(3)]

    assert bank.capacity > 2
    assert len(set(slots)) == 3


def test_growing_keeps_existing_streams_intact() -> None:
    bank = StreamBank(capacity=2)
    old = [add(bank, *STREAMS[k]) for k in range(2)]
    for _ in range(4):  # mid-block, so the blocks made ahead must survive the growth
        bank.step(np.array(old))
    before = (bank.price[old].copy(), bank.seq[old].copy(), [bank.params(s) for s in old])

    add(bank, *STREAMS[2])

    assert np.array_equal(bank.price[old], before[0])
    assert np.array_equal(bank.seq[old], before[1])
    assert [bank.params(s) for s in old] == before[2]
    for slot, k in zip(old, range(2), strict=True):
        rest = [step_one(bank, slot) for _ in range(10)]
        assert np.array_equal(rest, path(*STREAMS[k], 15)[5:])


def test_a_capacity_below_one_is_rejected() -> None:
    # Doubling a capacity of 0 would grow nothing, and the first add() would fail.
    with pytest.raises(ValueError, match=r"^capacity must be >= 1, got 0$"):
        StreamBank(capacity=0)


def test_stepping_a_stream_past_the_largest_double_gives_inf_quietly() -> None:
    # An overflowing stream is the caller's to end; the bank neither warns nor raises.
    bank = StreamBank()
    slot = add(bank, GBMParams(70.0, 10.0, 0.0, 2520.0), 1)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prices = [step_one(bank, slot) for _ in range(9)]

    assert prices[-1] == math.inf
