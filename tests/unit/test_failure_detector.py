"""Failure detectors: fixed timeout and phi accrual, judged on times passed in."""

from __future__ import annotations

import random

import pytest

from paramedic.core.errors import DetectionError
from paramedic.detect.failure_detector import (
    FailureDetector,
    PhiAccrualDetector,
    TimeoutDetector,
)


def _steady(detector: PhiAccrualDetector, count: int, interval: float = 0.1) -> float:
    """Feed ``count`` perfectly regular heartbeats from t=0; return the last arrival time."""
    now = 0.0
    for i in range(count):
        now = i * interval
        detector.heartbeat(now)
    return now


def test_both_detectors_satisfy_the_protocol() -> None:
    """The monitor can take either detector through the one FailureDetector protocol."""
    assert isinstance(TimeoutDetector(0.3), FailureDetector)
    assert isinstance(PhiAccrualDetector(), FailureDetector)


def test_timeout_convicts_exactly_at_the_timeout() -> None:
    """Silence below the timeout is trusted; reaching it convicts; a beat restores trust."""
    detector = TimeoutDetector(0.3)
    assert detector.is_available(5.0)
    assert detector.deadline() is None
    assert 0.0 == detector.silence(5.0)
    detector.heartbeat(10.0)
    assert 10.3 == detector.deadline()
    assert detector.is_available(10.299)
    assert not detector.is_available(10.3)
    assert 0.312 == pytest.approx(detector.silence(10.312))
    assert "timeout 300 ms" == detector.describe(10.312)
    detector.heartbeat(10.5)
    assert detector.is_available(10.5)
    assert 10.8 == detector.deadline()


def test_phi_rises_with_silence() -> None:
    """The longer the silence after regular beats, the higher the suspicion."""
    detector = PhiAccrualDetector()
    last = _steady(detector, 50)
    values = [detector.phi(last + ms / 1000) for ms in (50, 100, 150, 200, 250, 300)]
    assert values == sorted(values)
    assert values[0] < 1.0
    assert values[-1] > 8.0
    assert 0.0 == PhiAccrualDetector().phi(123.0)


def test_phi_deadline_is_where_phi_crosses_the_threshold() -> None:
    """deadline() is the crossing point to 1 ms, so one timer there replaces polling."""
    detector = PhiAccrualDetector(threshold=8.0)
    rng = random.Random(7)
    now = 0.0
    for _ in range(500):
        now += rng.uniform(0.08, 0.12)
        detector.heartbeat(now)
    deadline = detector.deadline()
    assert deadline is not None
    # Scan in 0.1 ms steps for the first instant phi reaches the threshold.
    t = now
    while detector.phi(t) < 8.0:
        t += 0.0001
    assert t == pytest.approx(deadline, abs=0.001)
    assert not detector.is_available(deadline)
    assert detector.is_available(deadline - 0.001)
    assert "phi 8.0 >= 8.0" == detector.describe(deadline)


def test_acceptable_pause_shifts_the_deadline_by_itself() -> None:
    """acceptable_heartbeat_pause adds its length to the deadline, no more and no less."""
    plain = PhiAccrualDetector()
    paused = PhiAccrualDetector(acceptable_heartbeat_pause=0.5)
    _steady(plain, 100)
    _steady(paused, 100)
    plain_deadline, paused_deadline = plain.deadline(), paused.deadline()
    assert plain_deadline is not None
    assert paused_deadline is not None
    assert 0.5 == pytest.approx(paused_deadline - plain_deadline, abs=1e-6)


def test_min_std_deviation_floors_a_perfectly_regular_history() -> None:
    """Zero jitter would make phi convict a beat 1 ms late; the floor keeps it sane."""
    detector = PhiAccrualDetector(min_std_deviation=0.025, max_sample_size=100)
    last = _steady(detector, 200)
    assert 0.025 == detector.std_deviation
    deadline = detector.deadline()
    assert deadline is not None
    # A single lost datagram (a 200 ms gap) must not convict with the default floor.
    assert detector.is_available(last + 0.2)
    wider = PhiAccrualDetector(min_std_deviation=0.05, max_sample_size=100)
    _steady(wider, 200)
    wider_deadline = wider.deadline()
    assert wider_deadline is not None
    assert wider_deadline > deadline


def test_window_slides_and_forgets_old_intervals() -> None:
    """Only the last max_sample_size intervals shape the model."""
    detector = PhiAccrualDetector(max_sample_size=10, first_heartbeat_estimate=1.0)
    assert 1.0 == pytest.approx(detector.mean)
    _steady(detector, 11, interval=0.1)
    assert 10 == detector.samples
    assert 0.1 == pytest.approx(detector.mean)
    now = 1.0
    for _ in range(10):
        now += 0.12
        detector.heartbeat(now)
    assert 0.12 == pytest.approx(detector.mean)
    assert 10 == detector.samples


def test_interval_that_ends_a_conviction_is_not_learnt() -> None:
    """An outage gap is not normal jitter: learning it would blunt the next detection."""
    detector = PhiAccrualDetector(max_sample_size=100)
    last = _steady(detector, 200)
    before = detector.mean
    detector.heartbeat(last + 5.0)
    assert before == detector.mean


def test_no_false_convictions_over_100k_jittered_heartbeats() -> None:
    """100 ms beats with 20% uniform jitter never look dead to the default phi detector."""
    detector = PhiAccrualDetector()
    rng = random.Random(20260101)
    now = 0.0
    detector.heartbeat(now)
    false_convictions = 0
    for _ in range(100_000):
        arrival = now + rng.uniform(0.08, 0.12)
        deadline = detector.deadline()
        assert deadline is not None
        if deadline <= arrival:
            false_convictions += 1
        now = arrival
        detector.heartbeat(now)
    assert 0 == false_convictions


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"threshold": 0.0}, "threshold must be in (0, inf), got 0.0"),
        ({"max_sample_size": 1}, "max_sample_size must be in [2, inf), got 1"),
        ({"min_std_deviation": -1.0}, "min_std_deviation must be in (0, inf)"),
        ({"acceptable_heartbeat_pause": -0.1}, "acceptable_heartbeat_pause must be in [0, inf)"),
        ({"first_heartbeat_estimate": 0.0}, "first_heartbeat_estimate must be in (0, inf)"),
        ({"interval": float("nan")}, "interval must be in (0, inf), got nan"),
    ],
)
def test_bad_phi_parameters_name_the_parameter_and_range(
    kwargs: dict[str, float], fragment: str
) -> None:
    """A misconfigured detector fails at construction, saying what to change."""
    with pytest.raises(DetectionError) as info:
        PhiAccrualDetector(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_bad_timeout_is_refused() -> None:
    """A zero timeout would convict every service on every tick."""
    with pytest.raises(DetectionError, match=r"timeout must be in \(0, inf\), got 0"):
        TimeoutDetector(0)
