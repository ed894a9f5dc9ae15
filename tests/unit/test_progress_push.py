"""Progress pushes and the all-clear (issue 13, items 4 and 6): the milestone logic on a
FakeClock, through the alerting intake (`on_published`, each handler a job) and a real SQLite
store, with capturing channels: what each receiver got, once, across a simulated restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from paramedic.alerting.channels.base import Notification
from paramedic.alerting.channels.log import LogChannel
from paramedic.alerting.progress_story import Story, all_clear_what
from paramedic.alerting.service import AlertingService
from paramedic.config.alerting import AlertingConfig
from paramedic.core.bus import Published
from paramedic.core.clock import Instant
from paramedic.core.events import Event, NoteAdded
from paramedic.core.failure_events import FailureDetected
from paramedic.core.incident_events import (
    IncidentOpened,
    IncidentTransitioned,
    RecoveryFinished,
    RecoveryProgress,
    RecoveryStepFinished,
)
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import CapturingChannel, FakeClock

CONFIG: dict[str, Any] = {
    "contacts": {
        "oncall": {"channels": ["pagerduty", "ntfy"]},
        "team": {"channels": ["slack"]},
    },
}


class Rig:
    """An AlertingService whose on-call has PagerDuty and an ntfy push app, the team Slack;
    each event published is stored first (what a restart reads back), as the bus does."""

    def __init__(self, store: SQLiteStore, clock: FakeClock, config: dict[str, Any]) -> None:
        self.store, self.clock = store, clock
        self.recorded: list[Any] = []
        self.jobs: list[asyncio.Future[Any]] = []
        self.timeline: list[Event] = []
        self.channels = {
            "pagerduty": CapturingChannel("pagerduty", "pagerduty"),
            "ntfy": CapturingChannel("ntfy", "apprise"),
            "slack": CapturingChannel("slack", "slack"),
            "log": CapturingChannel(),
        }

        self.service = AlertingService(
            AlertingConfig.model_validate(config),
            clock=clock,
            store=store,
            channels=self.channels,
            submit=self.recorded.extend,
            job=lambda coro: self.jobs.append(asyncio.ensure_future(coro)),
            planned=lambda name: True,
            target_rto_s=30.0,
            timeline=store,
        )

    def now(self) -> Instant:
        return self.clock.now()

    async def publish(self, *events: Event, down: bool = False) -> None:
        """Committed events, handed to alerting in bus order (`down`: stored while paramedic
        was down, so only the timeline has them)."""
        for event in events:
            self.timeline.append(event)
            await self.store.append(event)
            if not down:
                self.service.on_published(Published(len(self.timeline), event))
        await self.settle()

    async def settle(self) -> None:
        while self.jobs:
            jobs, self.jobs = self.jobs, []
            await asyncio.gather(*jobs)
        for _ in range(10):  # the outbox's sends, started as each commit returned
            await asyncio.sleep(0)

    def pushes(self, channel: str = "ntfy") -> list[Notification]:
        return [n for n in self.channels[channel].sent if ":failure" not in n.alert_id]

    # -- one incident's events -------------------------------------------------------------

    def failure(self, incident: str) -> list[Event]:
        at = self.now()
        return [
            FailureDetected(
                at=at,
                service="engine",
                incident=incident,
                failure_kind="crash",
                reason="pid 4242 killed by SIGKILL after 12.3 s",
                source="process",
            ),
            IncidentOpened(
                at=at,
                service="engine",
                incident=incident,
                failure_kind="crash",
                reason="pid 4242 killed by SIGKILL after 12.3 s",
            ),
        ]

    def move(self, incident: str, a: str, b: str, reason: str = "") -> IncidentTransitioned:
        return IncidentTransitioned(
            at=self.now(),
            service="engine",
            incident=incident,
            from_state=a,
            to_state=b,
            reason=reason or f"{a} -> {b}",
            method="cold",
        )

    def progress(self, incident: str, pct: int, state: str = "RECOVERY_IN_PROGRESS") -> Event:
        return RecoveryProgress(
            at=self.now(),
            service="engine",
            incident=incident,
            state=state,
            percentage=pct,
            current_step="step",
            status_message=f"{pct}%",
        )

    def step(self, incident: str, name: str, took: float) -> list[Event]:
        self.clock.advance(took)
        return [
            RecoveryStepFinished(
                at=self.now(),
                service="engine",
                incident=incident,
                step=name,
                ok=True,
                duration_s=took,
            )
        ]


async def rig(tmp_path: Path, config: dict[str, Any] | None = None) -> Rig:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    r = Rig(store, FakeClock(), config or CONFIG)
    await r.service.start()
    return r


async def restarted(r: Rig) -> Rig:
    """A new AlertingService on the same store, as after a `kill -9` (nothing kept in memory
    but what the store and the timeline hold), caught up."""
    again = Rig(r.store, r.clock, CONFIG)
    again.timeline = list(r.timeline)
    moves = [e for e in r.timeline if isinstance(e, IncidentOpened | IncidentTransitioned)]
    await again.service.start()
    await again.service.catch_up([], {}, moves)
    await again.settle()
    return again


async def to_fifty(r: Rig, incident: str = "inc_1") -> None:
    await r.publish(*r.failure(incident))
    await r.publish(r.move(incident, "FAILURE_DETECTED", "RECOVERY_IN_PROGRESS"))
    await r.publish(r.progress(incident, 0))
    await r.publish(*r.step(incident, "Restart engine", 0.5), r.progress(incident, 25))
    await r.publish(*r.step(incident, "Reload positions", 1.5), r.progress(incident, 50))


async def fifty_to_recovered(r: Rig, incident: str = "inc_1", *, down: bool = False) -> None:
    await r.publish(*r.step(incident, "Wait until healthy", 2.0), down=down)
    await r.publish(r.progress(incident, 75), down=down)
    await r.publish(r.move(incident, "RECOVERY_IN_PROGRESS", "VALIDATING"), down=down)
    await r.publish(r.progress(incident, 95, "VALIDATING"), down=down)
    r.clock.advance(1.0)
    finished = RecoveryFinished(
        at=r.now(),
        service="engine",
        incident=incident,
        method="cold",
        ok=True,
        duration_s=5.0,
        reason="every step done",
    )
    passed = "post-recovery validation passed: health endpoint ok (12 ms)"
    await r.publish(finished, r.move(incident, "VALIDATING", "RECOVERED", passed), down=down)
    await r.publish(r.progress(incident, 100, "RECOVERED"), down=down)


async def recovered_to_healthy(r: Rig, incident: str = "inc_1", *, down: bool = False) -> None:
    note = NoteAdded(
        at=r.now(),
        service="engine",
        author="paramedic",
        text=f"incident {incident}: resumption: normal (size x1.0) after 40 s",
    )
    r.clock.advance(60.0)
    watched = "the watch period passed without a relapse"
    await r.publish(note, r.move(incident, "RECOVERED", "HEALTHY", watched), down=down)


TITLES = [
    "engine: Recovery Started (cold)",
    "engine: Recovery 25% Complete",
    "engine: Recovery 50% Complete",
    "engine: Recovery 75% Complete",
    "engine: Recovery Complete",
    "engine: all clear, recovered in 5 s",
]


async def test_each_milestone_goes_out_once_with_its_priority(tmp_path: Path) -> None:
    """A recovery from crash to HEALTHY: the on-call's push app gets started, 25, 50, 75,
    complete and the all-clear, once each and in order, at HIGH (P1) / MEDIUM (P2); a
    duplicate progress event sends nothing; PagerDuty gets no notice (it opens incidents)."""
    r = await rig(tmp_path)
    await to_fifty(r)
    await r.publish(r.progress("inc_1", 50))  # a resumed run says 50 % again
    await fifty_to_recovered(r)
    await recovered_to_healthy(r)
    got = r.pushes()
    assert TITLES == [n.title.removeprefix("[P1] ").removeprefix("[P2] ") for n in got]
    assert ["P1", "P2", "P2", "P2", "P1", "P1"] == [n.severity for n in got]
    assert [
        "inc_1:progress:started",
        "inc_1:progress:25",
        "inc_1:progress:50",
        "inc_1:progress:75",
        "inc_1:progress:complete",
        "inc_1:all-clear",
    ] == [n.alert_id for n in got]
    assert [] == r.pushes("pagerduty")
    row = await r.store.get_alert("inc_1:progress:50")
    assert row is not None
    assert "resolved" == row.state  # informational: nothing open, no ladder
    await r.store.close()


async def test_the_all_clear_says_rto_method_steps_validation_and_resumption(
    tmp_path: Path,
) -> None:
    """The all-clear reaches everyone paged for the incident (the team's Slack got the
    failure's page) and the updates list, once, with the RTO against the target, the method,
    each step with its duration, the validation result and the resumption phases."""
    r = await rig(tmp_path)
    await to_fifty(r)
    await fifty_to_recovered(r)
    await recovered_to_healthy(r)
    slack = [n for n in r.pushes("slack") if n.alert_id == "inc_1:all-clear"]
    [phone] = [n for n in r.pushes() if n.alert_id == "inc_1:all-clear"]
    # the failure's page reached the team lead and the team on Slack: so does the all-clear
    assert ["team-lead", "team"] == [n.labels["receiver"] for n in slack]
    assert slack[0].fields == phone.fields
    what = phone.fields["what"]
    assert "recovered by the cold method, RTO 5 s against a target of 30 s (met)" in what
    actions = phone.fields["actions"]
    for line in (
        "run: cold recovered in 5 s: every step done",
        "step Restart engine: done in 500 ms",
        "step Reload positions: done in 1.5 s",
        "step Wait until healthy: done in 2 s",
        "validation: post-recovery validation passed: health endpoint ok (12 ms)",
        "resumption: normal (size x1.0) after 40 s",
        "healthy: the watch period passed without a relapse",
    ):
        assert line in actions
    raised = [e for e in r.recorded if e.kind == "alert.raised" and e.alert_id.endswith("clear")]
    assert ["inc_1:all-clear"] == [e.alert_id for e in raised]
    assert {"oncall", "team", "team-lead"} == set(raised[0].receivers)
    await r.store.close()


async def test_a_restart_sends_what_was_crossed_while_down_and_nothing_twice(
    tmp_path: Path,
) -> None:
    """kill -9 between 50 % and 75 %: 75 % and the validation passing are committed events
    without their pushes (the crash came first); the restarted pipeline sends 75 and
    complete once, never started, 25 or 50 again (their rows exist); the all-clear follows
    live, once; a third start sends nothing."""
    r = await rig(tmp_path)
    await to_fifty(r)
    before = [n.alert_id for n in r.pushes()]
    await fifty_to_recovered(r, down=True)
    again = await restarted(r)
    assert ["inc_1:progress:started", "inc_1:progress:25", "inc_1:progress:50"] == before
    assert ["inc_1:progress:75", "inc_1:progress:complete"] == [n.alert_id for n in again.pushes()]
    await recovered_to_healthy(again)
    assert "inc_1:all-clear" == again.pushes()[-1].alert_id
    third = await restarted(again)
    assert [] == third.pushes()
    await r.store.close()


async def test_a_restart_after_the_incident_closed_sends_only_the_all_clear(
    tmp_path: Path,
) -> None:
    """The incident went HEALTHY and the crash came before any later push was stored: its
    progress is history, so the restart sends the all-clear alone, once."""
    r = await rig(tmp_path)
    await to_fifty(r)
    await fifty_to_recovered(r, down=True)
    await recovered_to_healthy(r, down=True)
    again = await restarted(r)
    assert ["inc_1:all-clear"] == [n.alert_id for n in again.pushes()]
    await r.store.close()


async def test_a_milestone_committed_without_its_push_is_sent_by_the_restart(
    tmp_path: Path,
) -> None:
    """The 50 % event is durable but the crash came before its push's row committed: the
    restart sends 50 %, once; the live events after it go on from there (75 % once)."""
    r = await rig(tmp_path)
    await r.publish(*r.failure("inc_1"))
    await r.publish(r.move("inc_1", "FAILURE_DETECTED", "RECOVERY_IN_PROGRESS"))
    await r.publish(r.progress("inc_1", 25))
    await r.publish(r.progress("inc_1", 50), down=True)
    again = await restarted(r)
    assert ["inc_1:progress:50"] == [n.alert_id for n in again.pushes()]
    await again.publish(r.progress("inc_1", 50), again.progress("inc_1", 75))
    assert ["inc_1:progress:50", "inc_1:progress:75"] == [n.alert_id for n in again.pushes()]
    await r.store.close()


async def test_a_failed_recovery_pushes_critical_once(tmp_path: Path) -> None:
    """The chain gives up (RECOVERY_FAILED -> MANUAL_RECOVERY): one CRITICAL (P0) push,
    "Manual intervention required", with the reason; no all-clear when a human closes it."""
    r = await rig(tmp_path)
    await r.publish(*r.failure("inc_1"))
    await r.publish(r.move("inc_1", "FAILURE_DETECTED", "RECOVERY_IN_PROGRESS"))
    await r.publish(r.move("inc_1", "RECOVERY_IN_PROGRESS", "RECOVERY_FAILED"))
    gave_up = "no method left: cold failed at step 1/1"
    await r.publish(r.move("inc_1", "RECOVERY_FAILED", "MANUAL_RECOVERY", gave_up))
    await r.publish(r.move("inc_1", "MANUAL_RECOVERY", "HEALTHY"))
    [started, failed] = r.pushes()
    assert ("inc_1:progress:failed", "P0") == (failed.alert_id, failed.severity)
    assert "engine: Recovery Failed" in failed.title
    assert f"Manual intervention required! {gave_up}" in failed.fields["what"]
    assert "inc_1:progress:started" == started.alert_id
    await r.store.close()


async def test_p3_incidents_get_no_pushes(tmp_path: Path) -> None:
    """An incident whose alert is P3 (a user rule) crosses every milestone and gets no
    notice at all."""
    rules = [{"severity": "P3", "kinds": ["crash"], "reason": "lab engine"}]
    r = await rig(tmp_path, {**CONFIG, "severity_rules": rules})
    await to_fifty(r)
    await fifty_to_recovered(r)
    await recovered_to_healthy(r)
    assert [] == r.pushes() + r.pushes("slack")
    await r.store.close()


async def test_an_incident_closed_before_pushes_existed_is_left_alone(tmp_path: Path) -> None:
    """A restart reading an old timeline (an incident recovered and HEALTHY, no notice of it
    ever stored: written by an older paramedic) sends nothing for it."""
    r = await rig(tmp_path)
    await r.publish(*r.failure("inc_old"))  # its page went out
    await r.publish(r.move("inc_old", "FAILURE_DETECTED", "RECOVERY_IN_PROGRESS"), down=True)
    await r.publish(r.progress("inc_old", 50), down=True)
    await fifty_to_recovered(r, "inc_old", down=True)
    await recovered_to_healthy(r, "inc_old", down=True)
    again = await restarted(r)
    assert [] == again.pushes() + again.pushes("slack")
    await r.store.close()


def test_updates_config_is_checked_and_defaults_adapt() -> None:
    """`updates` names contacts (an unknown one or a P3 list is an error naming its place);
    the default list (team's Slack and the on-call, P0-P2) drops a contact the user removed."""
    cfg = AlertingConfig()
    assert {"P0", "P1", "P2"} == set(cfg.updates)
    assert ["team:slack", "oncall"] == cfg.updates["P0"]
    mine = AlertingConfig.model_validate({"updates": {"P0": ["oncall"]}})
    assert (["oncall"], ["team:slack", "oncall"]) == (mine.updates["P0"], mine.updates["P1"])
    with pytest.raises(ValueError, match=r"updates\.P1\.0: unknown contact 'nobody'"):
        AlertingConfig.model_validate({"updates": {"P1": ["nobody"]}})
    with pytest.raises(ValueError, match=r"updates\.P3\.0: P3 incidents get no progress"):
        AlertingConfig.model_validate({"updates": {"P3": ["oncall"]}})
    replaced = AlertingConfig.model_validate(
        {"replace_defaults": ["contacts"], "contacts": {"oncall": {"channels": ["ntfy"]}}}
    )
    assert ["oncall"] == replaced.updates["P0"]


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        ("recovery_update", "update: engine: Recovery 50% Complete: progressing"),
        ("all_clear", "all clear: engine: all clear, recovered in 5 s: progressing"),
    ],
)
async def test_the_log_channel_says_a_notice_is_not_a_page(kind: str, line: str) -> None:
    """In a log-only setup (the demo's inbox) a progress push reads `update: ...` and the
    all-clear `all clear: ...`, at info whatever their priority: they are not pages."""
    title = (
        "engine: Recovery 50% Complete"
        if kind != "all_clear"
        else "engine: all clear, recovered in 5 s"
    )
    notice = Notification(
        id="ntf_1",
        alert_id="inc_1:progress:50",
        action="trigger",
        severity="P1",
        title=title,
        body="",
        fields={"what": "progressing"},
        labels={"service": "engine", "receiver": "oncall", "kind": kind},
        idempotency_key="k",
        links={},
    )
    with capture_logs() as logs:
        await LogChannel("log", structlog.get_logger("paramedic.alerts")).send(notice)
    assert (line, "info") == (logs[0]["event"], logs[0]["log_level"])


async def test_a_jump_crosses_every_figure_it_passes_once(tmp_path: Path) -> None:
    """A two-step plan reports 33 % then 66 % then validating at 95 %: 25 goes out at 33,
    50 at 66, 75 at 95; each once."""
    r = await rig(tmp_path)
    await r.publish(*r.failure("inc_1"))
    await r.publish(r.move("inc_1", "FAILURE_DETECTED", "RECOVERY_IN_PROGRESS"))
    await r.publish(r.progress("inc_1", 33))
    assert ["inc_1:progress:started", "inc_1:progress:25"] == [n.alert_id for n in r.pushes()]
    await r.publish(r.progress("inc_1", 66), r.progress("inc_1", 95, "VALIDATING"))
    assert ["inc_1:progress:50", "inc_1:progress:75"] == [n.alert_id for n in r.pushes()[2:]]
    await r.store.close()


def test_the_all_clear_says_when_the_target_was_missed() -> None:
    """An RTO over the target is said with how much it was missed by."""
    story = Story("inc_1", "engine", opened_wall=100.0, opened_mono=10.0, method="warm")
    story.recovered = (55.0, 145.0)
    what = all_clear_what(story, 30.0)
    assert (
        "recovered by the warm method, RTO 45 s against a target of 30 s (missed by 15 s)" in what
    )


async def test_no_notice_while_the_incidents_alert_is_silenced(tmp_path: Path) -> None:
    """A silence on the service holds the failure's alert (nobody paged): the recovery's
    notices are not sent either, nor its all-clear once HEALTHY (nobody heard of it)."""
    silence = {"matchers": ["service=engine"], "until_resolved": True, "author": "bob"}
    r = await rig(tmp_path, {**CONFIG, "silences": [{**silence, "comment": "rebuild"}]})
    await to_fifty(r)
    assert [] == r.pushes() + r.pushes("slack")
    await fifty_to_recovered(r)
    await recovered_to_healthy(r)
    assert [] == r.pushes() + r.pushes("slack")
    await r.store.close()


async def test_a_move_and_progress_handed_over_together_keep_their_order(
    tmp_path: Path,
) -> None:
    """The recovery's start and its first progress reach alerting in one bus batch: the
    progress is folded after the move (jobs start in bus order), so 25 % is not lost."""
    r = await rig(tmp_path)
    await r.publish(*r.failure("inc_1"))
    await r.publish(
        r.move("inc_1", "FAILURE_DETECTED", "RECOVERY_IN_PROGRESS"), r.progress("inc_1", 25)
    )
    assert ["inc_1:progress:started", "inc_1:progress:25"] == [n.alert_id for n in r.pushes()]
    await r.store.close()


async def test_a_failing_read_back_never_stops_the_start(tmp_path: Path) -> None:
    """The stored events cannot be read back: the restart's catch-up logs it and goes on
    (the failures' own catch-up still ran); informational notices never stop a start."""
    r = await rig(tmp_path)
    await to_fifty(r)
    again = Rig(r.store, r.clock, CONFIG)
    moves = [e for e in r.timeline if isinstance(e, IncidentOpened | IncidentTransitioned)]
    await r.store.close()  # every read fails from here on
    assert (0, 0) == await again.service.catch_up([], {}, moves)


async def test_an_all_clear_is_owed_for_a_day_only(tmp_path: Path) -> None:
    """The incident closed while its all-clear was cut off, and paramedic comes back two
    days later: that all-clear is stale, so nothing is sent (nor any other notice)."""
    r = await rig(tmp_path)
    await to_fifty(r)
    await fifty_to_recovered(r, down=True)
    await recovered_to_healthy(r, down=True)
    r.clock.advance(2 * 86_400.0)
    again = await restarted(r)
    assert [] == again.pushes()
    await r.store.close()
