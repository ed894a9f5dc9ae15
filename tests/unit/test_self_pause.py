"""SelfPauseGuard: paramedic's own stall holds verdicts, for the stall and one grace after."""

from __future__ import annotations

import pytest

from paramedic.core.errors import DetectionError
from paramedic.detect.self_pause import SelfPauseGuard


def test_lag_within_bound_holds_nothing() -> None:
    """Ordinary scheduling noise is not a stall."""
    guard = SelfPauseGuard(0.5)
    guard.note_lag(0.5, 100.0)
    assert guard.hold(100.0) is None
    assert 0 == guard.pauses


def test_stall_past_bound_holds_for_the_grace_then_releases() -> None:
    """A 1.2 s stall holds verdicts with a sentence saying why, until the grace ends."""
    guard = SelfPauseGuard(0.5, grace=0.2)
    guard.note_lag(1.2, 100.0)
    expected = "paramedic itself was stalled 1.2 s (bound 500 ms); convicting no one this tick"
    assert expected == guard.hold(100.0)
    assert expected == guard.hold(100.199)
    assert guard.hold(100.2) is None
    assert 100.2 == guard.until
    assert 1 == guard.pauses


def test_second_stall_inside_a_hold_extends_it_and_reports_the_worse() -> None:
    """Two stalls close together are one episode, reported by the longer stall."""
    guard = SelfPauseGuard(0.05, grace=0.2)
    guard.note_lag(0.8, 10.0)
    guard.note_lag(0.3, 10.1)
    assert 10.3 == pytest.approx(guard.until)
    assert "stalled 800 ms (bound 50 ms)" in (guard.hold(10.25) or "")
    assert 1 == guard.pauses
    guard.note_lag(0.3, 11.0)
    assert "stalled 300 ms" in (guard.hold(11.0) or "")
    assert 2 == guard.pauses


@pytest.mark.parametrize(
    ("bound", "grace", "fragment"),
    [
        (0.0, 0.2, "bound must be in (0, inf) seconds, got 0.0"),
        (0.5, 0.0, "grace must be in (0, inf) seconds, got 0.0"),
    ],
)
def test_bad_parameters_name_the_parameter(bound: float, grace: float, fragment: str) -> None:
    """A guard that can never hold (or never release) is refused at construction."""
    with pytest.raises(DetectionError) as info:
        SelfPauseGuard(bound, grace=grace)
    assert fragment in str(info.value)
