"""Replay protection: sequence window, retired instances, skew.

What a receiver makes of accepted beats (gaps, late datagrams, restarts, flags) is the
monitor's job and is tested in test_heartbeat_monitor.py."""

from __future__ import annotations

import pytest

from paramedic.detect.heartbeat import ReplayGuard, SequenceWindow, within_skew

A = b"A" * 16
B = b"B" * 16
C = b"C" * 16


def _admit_all(window: SequenceWindow, seqs: list[int]) -> list[bool]:
    return [window.admit(seq) for seq in seqs]


def test_in_order_sequences_are_accepted() -> None:
    """The common case: every new sequence passes."""
    assert [True] * 5 == _admit_all(SequenceWindow(), [0, 1, 2, 3, 4])


def test_duplicate_is_refused() -> None:
    """The same sequence twice is a replay, whether it is the newest or an older one."""
    assert [True, True, False, False] == _admit_all(SequenceWindow(), [0, 1, 1, 0])


def test_reordering_inside_window_is_accepted_once() -> None:
    """Late datagrams within 64 of the newest pass exactly once."""
    expected = [True, True, True, True, False, False]
    assert expected == _admit_all(SequenceWindow(), [10, 7, 9, 8, 7, 9])


def test_window_edge_is_63_behind_the_newest() -> None:
    """top-63 is the oldest acceptable sequence; top-64 is too old to judge and refused."""
    window = SequenceWindow()
    assert [True, True, False] == _admit_all(window, [100, 37, 36])


def test_sliding_forgets_marks_that_leave_the_window() -> None:
    """After the window slides, seqs below it are refused even though they were never seen."""
    expected = [True, True, False, True]
    assert expected == _admit_all(SequenceWindow(), [0, 64, 0, 1])


def test_huge_jump_resets_window_without_a_huge_bitmap() -> None:
    """A jump far past the window is accepted and keeps the bitmap at one bit."""
    window = SequenceWindow()
    assert [True, True, False, True] == _admit_all(window, [5, 2**64 - 1, 5, 2**64 - 2])
    assert window.bitmap < 2**64


def test_first_sequence_of_an_instance_may_be_anything() -> None:
    """A receiver started after the sender still accepts its first datagram."""
    assert [True, False] == _admit_all(SequenceWindow(), [123_456, 123_456])


def test_guard_keeps_windows_per_service() -> None:
    """Two services with the same instance id and seqs do not interfere."""
    guard = ReplayGuard()
    actual = [guard.admit("a", A, 0), guard.admit("b", A, 0), guard.admit("a", A, 0)]
    assert [None, None, "replayed"] == actual


def test_new_instance_gets_a_fresh_window_and_retires_the_old() -> None:
    """A restart starts at seq 0 again; the dead incarnation's datagrams are refused."""
    guard = ReplayGuard()
    actual = [
        guard.admit("svc", A, 500),
        guard.admit("svc", B, 0),
        guard.admit("svc", B, 1),
        guard.admit("svc", A, 501),
        guard.admit("svc", B, 0),
    ]
    assert [None, None, None, "retired_instance", "replayed"] == actual
    assert B == guard.current_instance("svc")


def test_retired_memory_is_bounded() -> None:
    """Only the most recent retired instances are remembered, so memory stays bounded."""
    guard = ReplayGuard(retired_per_service=1)
    for instance in (A, B, C):
        guard.admit("svc", instance, 0)
    assert [None, "retired_instance"] == [guard.admit("svc", A, 1), guard.admit("svc", C, 1)]


def test_state_is_bounded_per_service_and_in_services() -> None:
    """1,000 fresh instances of one service leave 1 live + 8 retired ids; past max_services
    the service heard first is forgotten, so a lookup that admits any id cannot grow it."""
    guard = ReplayGuard(max_services=3)
    for i in range(1000):
        guard.admit("svc", i.to_bytes(16, "big"), 0)
    assert 1 + 8 == guard.size
    for name in ("b", "c", "d"):
        guard.admit(name, A, 0)
    assert (None, 3) == (guard.current_instance("svc"), guard.size)


def test_forget_drops_all_state() -> None:
    """A service removed from config leaves nothing behind."""
    guard = ReplayGuard()
    guard.admit("svc", A, 0)
    guard.forget("svc")
    assert (None, None) == (guard.current_instance("svc"), guard.admit("svc", A, 0))


@pytest.mark.parametrize(
    ("sent_ns", "expected"),
    [
        (10_000_000_000, True),
        (8_000_000_000, True),
        (12_000_000_000, True),
        (7_999_999_999, False),
        (12_000_000_001, False),
    ],
)
def test_skew_bound_applies_in_both_directions(sent_ns: int, expected: bool) -> None:
    """A sender clock 2 s behind or ahead is still fine; one nanosecond more is not."""
    assert expected == within_skew(sent_ns, 10_000_000_000, 2_000_000_000)
