"""Progress, ETA and the RTO trigger, against the seed's 3.4 example and 3.5 log."""

from __future__ import annotations

import pytest

from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event
from paramedic.core.incident_events import EscalationTriggered
from paramedic.recovery.progress import ProgressTracker, RtoWatch
from paramedic.testing import FakeClock

# The seed's fifth step, "Validate state", is the validation: the tracker's last share.
SEED_STEPS = (
    "Load checkpoint",
    "Connect to exchanges",
    "Restore orders",
    "Reconcile positions",
)


def tracker(clock: FakeClock, steps: tuple[str, ...] = SEED_STEPS, **kw: object) -> ProgressTracker:
    return ProgressTracker(clock, incident="inc_1", service="engine", steps=steps, **kw)  # type: ignore[arg-type]


def test_status_json_matches_the_seed_example_field_by_field() -> None:
    """3 of 4 steps done (validation is the fifth share), 30 s each: 60 %, and the naive ETA
    lands 60 s out (one step, then validation), times in Unix ms."""
    clock = FakeClock(wall=1732550033.456)
    t = tracker(clock, validation=None)
    t.start()
    for step in SEED_STEPS[:3]:
        clock.advance(30)
        t.complete_step(step)
    body = t.status_json()
    expected_keys = [
        "state",
        "progress_percentage",
        "current_step",
        "status_message",
        "last_update",
        "completed_steps",
        "remaining_steps",
        "estimated_completion",
    ]
    assert expected_keys == list(body)
    assert "RECOVERY_IN_PROGRESS" == body["state"]
    assert 60 == body["progress_percentage"]
    assert "Reconcile positions" == body["current_step"]
    assert "3/4 steps complete" == body["status_message"]
    assert 1732550123456 == body["last_update"]
    assert ["Load checkpoint", "Connect to exchanges", "Restore orders"] == body["completed_steps"]
    assert ["Reconcile positions"] == body["remaining_steps"]
    assert 1732550183456 == body["estimated_completion"]


def test_no_estimate_means_no_estimated_completion_key() -> None:
    """As in the seed, the key is absent (not null) while nothing is known."""
    t = tracker(FakeClock())
    t.start()
    assert "estimated_completion" not in t.status_json()


def test_log_lines_and_total_time_follow_the_seed() -> None:
    """The 3.5 log, replayed with the seed's own timings, ends with 32.111 seconds."""
    clock = FakeClock()
    t = tracker(clock)
    t.report_failure("Primary system crashed")
    clock.advance(0.333)
    t.start()
    for step, gap in zip(SEED_STEPS[:4], (2.333, 2.223, 2.333, 15.333), strict=True):
        clock.advance(gap)
        t.complete_step(step)
    clock.advance(5.223)
    t.start_validation()
    clock.advance(4.333)
    t.complete()
    expected = [
        "[RECOVERY] [0%] Failure detected: Primary system crashed",
        "[RECOVERY] [0%] Starting recovery: 4 steps to complete",
        "[RECOVERY] [20%] Completed: Load checkpoint",
        "[RECOVERY] [40%] Completed: Connect to exchanges",
        "[RECOVERY] [60%] Completed: Restore orders",
        "[RECOVERY] [80%] Completed: Reconcile positions",
        "[RECOVERY] [95%] Validating recovered state",
        "[RECOVERY] [100%] Recovery complete: System fully recovered",
        "Total recovery time: 32.111 seconds",
    ]
    assert expected == t.log_lines
    assert ("RECOVERED", 100) == (t.status_json()["state"], t.status_json()["progress_percentage"])


def test_failure_keeps_the_figure_reached() -> None:
    """A failed run keeps its percentage (progress never goes down); the state and the
    status message say it failed and why; the log line carries the same figure."""
    t = tracker(FakeClock())
    t.start()
    t.complete_step("Load checkpoint")
    event = t.fail("exchange refused the session")
    assert (20, "RECOVERY_FAILED", "exchange refused the session") == (
        event.percentage,
        event.state,
        event.status_message,
    )
    assert "[RECOVERY] [20%] Recovery failed: exchange refused the session" == t.log_lines[-1]


def test_progress_never_goes_down_with_validation() -> None:
    """Steps take shares of n + 1, validation starts at 95 % at least, completion is 100."""
    t = tracker(FakeClock(), ("a", "b"))
    seen = [t.start().percentage, t.complete_step("a").percentage]
    seen += [t.complete_step("b").percentage, t.start_validation().percentage]
    seen.append(t.complete().percentage)
    assert [0, 33, 66, 95, 100] == seen


def test_eta_includes_the_validation() -> None:
    """Past validations took 6 s: the ETA is the remaining steps plus 6 s, and during the
    validation the time spent comes off its share."""
    clock = FakeClock(wall=10_000.0)
    t = tracker(clock, ("a",), expected={"a": 4.0}, validation=6.0)
    t.start()
    assert (clock.wall() + 10.0, "expected") == t.estimate()
    clock.advance(4)
    t.complete_step("a")
    t.start_validation()
    clock.advance(2)
    assert (clock.wall() + 4.0, "history") == t.estimate()


def test_eta_prefers_history_then_expected_then_naive() -> None:
    """Each remaining step uses its best evidence; the event names the weakest one used."""
    clock = FakeClock(wall=10_000.0)
    steps = ("a", "b", "c")
    cases = [
        ({"b": [10.0, 50.0, 12.0], "c": [3.0]}, {"b": 99.0, "c": 99.0}, 12.0 + 3.0, "history"),
        ({}, {"b": 8.0, "c": 7.0}, 8.0 + 7.0, "expected"),
        ({"b": [1.0]}, {}, 1.0 + 4.0, "naive"),
        ({}, {}, 4.0 + 4.0, "naive"),
    ]
    for history, expected, remaining, source in cases:
        t = tracker(clock, steps, history=history, expected=expected)
        t.start()
        clock.advance(4)
        event = t.complete_step("a")
        assert (clock.wall() + remaining, source) == (event.eta_wall, event.eta_source)


def test_eta_does_not_drift_while_a_step_runs() -> None:
    """Time spent in the running step comes off its share: the ETA holds still."""
    clock = FakeClock()
    t = tracker(clock, ("a", "b"), expected={"a": 20.0, "b": 10.0})
    t.start()
    first = t.estimate()
    clock.advance(15)
    assert first == t.estimate()
    clock.advance(10)  # a overran: its share is 0, only b is left
    assert (clock.wall() + 10.0, "expected") == t.estimate()


def test_steps_complete_in_order() -> None:
    """Completing anything but the running step is a runner bug, refused."""
    t = tracker(FakeClock())
    t.start()
    with pytest.raises(RecoveryError, match="cannot complete 'Restore orders'; running step: Load"):
        t.complete_step("Restore orders")


def rto(clock: FakeClock, emitted: list[Event]) -> RtoWatch:
    return RtoWatch(
        clock, incident="inc_1", service="engine", target_rto_s=30.0, emit=emitted.append
    )


def test_rto_trigger_fires_once_at_one_and_a_half_times_target() -> None:
    """Target 30 s: nothing at 44.9 s, one rto_exceeded at 45 s, nothing after."""
    clock = FakeClock()
    emitted: list[Event] = []
    watch = rto(clock, emitted)
    watch.start()
    clock.step_wall(-3600)  # a wall step changes nothing
    clock.advance(44.9)
    assert [] == emitted
    clock.advance(0.1)
    clock.advance(600)
    assert 1 == len(emitted)
    event = emitted[0]
    assert isinstance(event, EscalationTriggered)
    assert ("rto_exceeded", "inc_1") == (event.trigger, event.incident)
    assert "recovery running 45 s, over 1.5 x the target RTO of 30 s" == event.reason


def test_rto_counts_from_the_failure_and_stop_cancels() -> None:
    """Armed 40 s after the failure it fires 5 s later; stopped before, it never fires."""
    clock = FakeClock()
    emitted: list[Event] = []
    failed_at = clock.monotonic()
    clock.advance(40)
    watch = rto(clock, emitted)
    watch.start(started_mono=failed_at)
    clock.advance(5)
    assert 1 == len(emitted)
    other: list[Event] = []
    stopped = rto(clock, other)
    stopped.start()
    clock.advance(44)
    stopped.stop()
    clock.advance(100)
    assert [] == other
