"""Per-device counters: gaps are reported until filled, replays and huge jumps refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import CounterTracker, EnvelopeError, MemberId
from protocol.counters import MAX_GAP
from tests.protocol.builders import FAST

ALICE = MemberId("A" * 43)
BOB = MemberId("B" * 43)
PHONE, LAPTOP = b"p" * 16, b"l" * 16


def test_in_order_has_no_gap() -> None:
    t = CounterTracker()
    for n in range(1, 6):
        t.observe(ALICE, PHONE, n)
    assert t.missing() == {}
    assert t.highest(ALICE, PHONE) == 5


def test_gap_is_reported_until_the_late_message_arrives() -> None:
    t = CounterTracker()
    t.observe(ALICE, PHONE, 1)
    t.observe(ALICE, PHONE, 4)
    assert t.missing() == {(ALICE, PHONE): [2, 3]}
    t.observe(ALICE, PHONE, 3)
    assert t.missing() == {(ALICE, PHONE): [2]}
    t.observe(ALICE, PHONE, 2)
    assert t.missing() == {}
    assert t.highest(ALICE, PHONE) == 4


def test_first_message_not_one_reports_the_earlier_ones() -> None:
    t = CounterTracker()
    t.observe(ALICE, PHONE, 3)
    assert t.missing() == {(ALICE, PHONE): [1, 2]}


def test_devices_and_senders_are_separate_streams() -> None:
    t = CounterTracker()
    t.observe(ALICE, PHONE, 1)
    t.observe(ALICE, LAPTOP, 1)
    t.observe(BOB, PHONE, 1)
    t.observe(ALICE, LAPTOP, 3)
    assert t.missing() == {(ALICE, LAPTOP): [2]}
    assert t.highest(BOB, LAPTOP) == 0


@pytest.mark.parametrize("seen", [[1], [1, 2], [1, 3, 2], [2, 1]])
def test_replay_is_refused(seen: list[int]) -> None:
    t = CounterTracker()
    for n in seen:
        t.observe(ALICE, PHONE, n)
    for n in seen:
        with pytest.raises(EnvelopeError) as info:
            t.observe(ALICE, PHONE, n)
        assert info.value.code == "msg.replay"
    # A refused counter changes nothing.
    assert t.highest(ALICE, PHONE) == max(seen)


def test_huge_jump_is_refused_and_changes_nothing() -> None:
    t = CounterTracker()
    t.observe(ALICE, PHONE, 1)
    with pytest.raises(EnvelopeError) as info:
        t.observe(ALICE, PHONE, 1 + MAX_GAP + 1)
    assert info.value.code == "msg.counter_jump"
    assert t.highest(ALICE, PHONE) == 1
    assert t.missing() == {}
    t.observe(ALICE, PHONE, 1 + MAX_GAP)  # a jump of exactly MAX_GAP is tracked
    assert len(t.missing()[(ALICE, PHONE)]) == MAX_GAP - 1


@FAST
@given(order=st.permutations(list(range(1, 30))), cut=st.integers(0, 29))
def test_any_arrival_order_reports_exactly_what_is_missing(order: list[int], cut: int) -> None:
    t = CounterTracker()
    arrived = order[:cut]
    for n in arrived:
        t.observe(ALICE, PHONE, n)
    top = max(arrived, default=0)
    expected = sorted(set(range(1, top)) - set(arrived))
    assert t.missing().get((ALICE, PHONE), []) == expected
    assert t.highest(ALICE, PHONE) == top


def test_gaps_cost_one_range_each_not_one_entry_per_counter() -> None:
    # A sender jumping ahead by the maximum, again and again, must not make the
    # receiver hold a counter per skipped message.
    tracker = CounterTracker()
    counter = 0
    for _ in range(1_000):
        counter += MAX_GAP
        tracker.observe(ALICE, PHONE, counter)
    stream = tracker._streams[(ALICE, PHONE)]
    assert len(stream.missing) == 1_000
    # Filling one counter in the middle of a range splits it in two.
    tracker.observe(ALICE, PHONE, MAX_GAP // 2)
    assert len(stream.missing) == 1_001


def test_excuse_fills_only_a_missing_counter() -> None:
    t = CounterTracker()
    for c in (1, 4, 6):
        t.observe(ALICE, PHONE, c)
    t.excuse(ALICE, PHONE, 2)
    t.excuse(ALICE, PHONE, 4)  # seen: nothing to do
    t.excuse(ALICE, PHONE, 9)  # beyond what the stream reached: excused when it does
    assert t.missing() == {(ALICE, PHONE): [3, 5]}
    t.observe(ALICE, PHONE, 10)
    assert t.missing() == {(ALICE, PHONE): [3, 5, 7, 8]}
    for c in (2, 9):  # an excused counter arriving after all is a replay
        with pytest.raises(EnvelopeError) as info:
            t.observe(ALICE, PHONE, c)
        assert info.value.code == "msg.replay"


def test_a_stream_starts_at_its_first_counter_and_floors_only_rise() -> None:
    t = CounterTracker()
    t.observe(ALICE, PHONE, 57)  # a later joiner's first message from this device
    assert t.floor(ALICE, PHONE) == 56
    assert t.missing() == {(ALICE, PHONE): list(range(1, 57))}
    assert t.gaps() == {}
    t.observe(ALICE, PHONE, 60)
    assert t.gaps() == {(ALICE, PHONE): [58, 59]}
    t.raise_floor(ALICE, PHONE, 58)
    t.raise_floor(ALICE, PHONE, 10)  # never down
    assert t.gaps() == {(ALICE, PHONE): [59]}
    t.raise_floor(BOB, PHONE, 5)  # an unknown stream: nothing
    assert t.floor(BOB, PHONE) == 0


def test_seen_after_skips_what_is_missing() -> None:
    t = CounterTracker()
    for c in (1, 2, 5, 9):
        t.observe(ALICE, PHONE, c)
    assert t.seen_after(ALICE, PHONE, 0) == 1
    assert t.seen_after(ALICE, PHONE, 2) == 5
    assert t.seen_after(ALICE, PHONE, 5) == 9
    assert t.seen_after(ALICE, PHONE, 9) is None
    assert t.seen_after(ALICE, LAPTOP, 0) is None
