"""Escalation ladders on a FakeClock: hours of paging in milliseconds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from paramedic.alerting.escalation import EscalationEngine
from paramedic.alerting.ladder import Due, EscalationStep, Page
from paramedic.alerting.model import Alert
from paramedic.config.alerting import AlertingConfig
from paramedic.testing import FakeClock

MIN = 60.0


def p0(alert_id: str = "inc_1:failure") -> Alert:
    return Alert(id=alert_id, type="crash", source="engine-1", severity="P0", title="engine down")


class Recorder:
    """The notify callback: remembers (minute since start, step name, channels, reason)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.start = clock.monotonic()
        self.calls: list[tuple[float, str]] = []
        self.steps: list[EscalationStep] = []

    def __call__(self, alert: Alert, step: EscalationStep) -> None:
        self.calls.append((round((self.clock.monotonic() - self.start) / MIN, 6), step.name))
        self.steps.append(step)

    def due(self, fired: list[Due]) -> None:
        for page in fired:
            if isinstance(page, Page):
                self(page.alert, page.step)


class Driven:
    """The engine as the alerting pipeline drives it: what a call makes due now is sent at
    once, as what its timer makes due is; calls return what the assertions read."""

    def __init__(self, eng: EscalationEngine, rec: Recorder) -> None:
        self._eng = eng
        self._rec = rec

    def start(self, alert: Alert) -> None:
        self._rec.due(self._eng.start(alert))

    def restore_snapshot(self, alert: Alert, data: Mapping[str, Any]) -> None:
        self._rec.due(self._eng.restore_snapshot(alert, data))

    def acknowledge(self, alert_id: str, by: str, why: str, ttl: float | None = None) -> Alert:
        acked, fired = self._eng.acknowledge(alert_id, by, why, ttl)
        self._rec.due(fired)
        return acked

    def channel_failed(self, alert_id: str, channel: str, failures: int) -> str:
        said, fired = self._eng.channel_failed(alert_id, channel, failures)
        self._rec.due(fired)
        return said

    def __getattr__(self, name: str) -> Any:
        return getattr(self._eng, name)


def engine(clock: FakeClock, rec: Recorder) -> Driven:
    return Driven(EscalationEngine.from_config(clock, rec.due, AlertingConfig().escalation), rec)


def test_whole_p0_ladder_unacknowledged_reaches_the_ceo_at_120_minutes() -> None:
    """Nobody acks: seed 2.5 (0/2/5/10/15 min) and seed 7.2 (15/30/60/120 min) both run."""
    clock = FakeClock()
    rec = Recorder(clock)
    eng = engine(clock, rec)
    eng.start(p0())
    levels = {}
    for minute in (0, 2, 5, 10, 15, 30, 60, 120):
        clock.advance(minute * MIN - (clock.monotonic() - rec.start))
        levels[minute] = eng.level("inc_1:failure")
    expected = [
        (0.0, "oncall"),
        (2.0, "backup-oncall"),
        (5.0, "team-lead"),
        (10.0, "cto"),
        (15.0, "ceo"),
        (15.0, "outage-team-lead"),
        (30.0, "outage-manager"),
        (60.0, "outage-cto"),
        (120.0, "outage-ceo"),
    ]
    assert expected == rec.calls
    assert {0: 1, 2: 1, 5: 2, 10: 4, 15: 5, 30: 5, 60: 5, 120: 5} == levels
    assert 0 == clock.pending  # ladder exhausted: no timer left behind
    assert "no acknowledgement" in rec.steps[1].reason


def test_one_timer_per_alert() -> None:
    """However many rungs remain, an alert holds exactly one clock timer."""
    clock = FakeClock()
    eng = engine(clock, Recorder(clock))
    eng.start(p0("a"))
    eng.start(p0("b"))
    assert 2 == clock.pending


def test_ack_pauses_bound_escalates_expiry_resumes_shifted() -> None:
    """Ack at 3 min stops the ack rungs; outage rungs go on; the 20 min bound fires the next
    rung at 23; the ack expires at 33 (ttl 30 min) and the ladder resumes 30 min later."""
    clock = FakeClock()
    rec = Recorder(clock)
    eng = engine(clock, rec)
    eng.start(p0())
    clock.advance(3 * MIN)
    acked = eng.acknowledge("inc_1:failure", by="alice", why="looking at the core dump")
    assert "acknowledged" == acked.state
    clock.advance(12 * MIN)  # t=15: no CEO call, only the outage rung
    assert (15.0, "outage-team-lead") == rec.calls[-1]
    clock.advance(200 * MIN)
    expected = [
        (0.0, "oncall"),
        (2.0, "backup-oncall"),
        (15.0, "outage-team-lead"),
        (23.0, "team-lead"),  # acknowledged but unresolved past ack_bound
        (30.0, "outage-manager"),
        (33.0, "team-lead"),  # the ack expired: the current rung hears again
        (40.0, "cto"),  # 10 min + 30 min spent acknowledged
        (45.0, "ceo"),
        (60.0, "outage-cto"),
        (120.0, "outage-ceo"),
    ]
    assert expected == rec.calls
    assert "acknowledged by alice 20 min ago but not resolved" == rec.steps[3].reason
    assert "acknowledgement by alice expired" == rec.steps[5].reason
    assert "firing" == eng.alert("inc_1:failure").state


def test_resolve_stops_everything() -> None:
    """A resolved alert is forgotten and its timer cancelled: no rung fires after it."""
    clock = FakeClock()
    rec = Recorder(clock)
    eng = engine(clock, rec)
    eng.start(p0())
    clock.advance(1 * MIN)
    assert "resolved" == eng.resolve("inc_1:failure").state
    clock.advance(300 * MIN)
    assert [(0.0, "oncall")] == rec.calls
    assert {} == eng.levels()


def test_failing_channel_goes_to_backup_channel_then_next_level() -> None:
    """3 PagerDuty failures: the on-call is phoned; 6 failures: the backup on-call is paged
    early, and is not paged again at +2 min."""
    clock = FakeClock()
    rec = Recorder(clock)
    eng = engine(clock, rec)
    eng.start(p0())
    assert "pagerduty: 2 consecutive failures (acting at 3)" == eng.channel_failed(
        "inc_1:failure", "pagerduty", 2
    )
    eng.channel_failed("inc_1:failure", "pagerduty", 3)
    assert ("oncall", ("phone",)) == (rec.steps[-1].name, rec.steps[-1].channels)
    clock.advance(30)
    said = eng.channel_failed("inc_1:failure", "pagerduty", 6)
    assert "pagerduty failed 6 times in a row: escalated early to backup-oncall (level 1)" == said
    clock.advance(4.5 * MIN)  # t=5 min
    assert [(0.0, "oncall"), (0.0, "oncall"), (0.5, "backup-oncall"), (5.0, "team-lead")] == (
        rec.calls
    )


def test_snapshot_restore_after_crash_keeps_original_due_times() -> None:
    """Crash at 7 min, back at 13: past rungs are not re-fired, the overdue CTO call (10 min)
    fires once on restore, and the rest keep their original times."""
    clock = FakeClock()
    before = Recorder(clock)
    eng = engine(clock, before)
    eng.start(p0())
    clock.advance(7 * MIN)
    saved = json.loads(json.dumps(eng.snapshot()))  # it must survive a trip through the store
    assert ["backup-oncall", "oncall", "team-lead"] == saved[0]["fired"]
    assert {"step": "cto", "due_rel": 600.0} == saved[0]["pending"][0]
    del eng  # the process died; its timers died with it
    before.calls.clear()
    clock.advance(6 * MIN)
    after = Recorder(clock)
    after.start = before.start
    fresh = engine(clock, after)
    fresh.restore_snapshot(p0(), saved[0])
    assert [(13.0, "cto")] == after.calls
    assert "fired 3 min late" in after.steps[0].reason
    clock.advance(120 * MIN)
    assert ["cto", "ceo", "outage-team-lead", "outage-manager", "outage-cto", "outage-ceo"] == [
        name for _, name in after.calls
    ]
    assert [13.0, 15.0, 15.0, 30.0, 60.0, 120.0] == [t for t, _ in after.calls]


def test_restore_keeps_an_acknowledgement_and_its_expiry() -> None:
    """An ack taken before the crash still pauses the ladder and still expires on time."""
    clock = FakeClock()
    rec = Recorder(clock)
    eng = engine(clock, rec)
    eng.start(p0())
    clock.advance(3 * MIN)
    eng.acknowledge("inc_1:failure", by="alice", why="on it", ttl=10 * MIN)
    saved = json.loads(json.dumps(eng.snapshot()))[0]
    assert {"by": "alice", "why": "on it", "since_rel": 180.0, "expires_rel": 780.0} == {
        k: v for k, v in saved["ack"].items() if k not in ("at_wall", "expires_wall")
    }
    assert saved["ack"]["at_wall"] + 10 * MIN == saved["ack"]["expires_wall"]
    clock.advance(1 * MIN)
    rec2 = Recorder(clock)
    rec2.start = rec.start
    fresh = engine(clock, rec2)
    fresh.restore_snapshot(p0(), saved)
    assert "acknowledged" == fresh.alert("inc_1:failure").state
    clock.advance(10 * MIN)  # t=14: the ack expired at 13, team lead due at 5+10=15
    assert [(13.0, "backup-oncall")] == rec2.calls
    clock.advance(1 * MIN)
    assert [(15.0, "team-lead"), (15.0, "outage-team-lead")] == rec2.calls[1:]


def test_wall_clock_step_neither_fires_nor_cancels() -> None:
    """Jumping the wall clock an hour changes nothing: deadlines are monotonic."""
    clock = FakeClock()
    rec = Recorder(clock)
    eng = engine(clock, rec)
    eng.start(p0())
    clock.step_wall(3600)
    clock.advance(1 * MIN)
    assert [(0.0, "oncall")] == rec.calls
