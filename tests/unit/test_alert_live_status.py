"""Every alert carries the recovery's live status (issue 13, item 3), on a FakeClock.

`live_status.py` folds the incident events into the status line, the actions and the ETA;
`updates.py` sends them: a change of phase at once to every channel that got the trigger,
progress at most every `status_updates_every` to the channels that can update a sent
message. What is asserted is the alert as stored and the notification rows (a row is
committed before anything is sent).
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

from paramedic.alerting.channels.base import DeliveryResult, Notification
from paramedic.alerting.channels.email import EmailChannel
from paramedic.alerting.channels.pagerduty import PagerDutyChannel
from paramedic.alerting.channels.slack import SlackChannel
from paramedic.alerting.channels.slack_bot import SlackBotChannel
from paramedic.alerting.channels.webhook import WebhookChannel
from paramedic.alerting.live_status import LiveStatuses, apply
from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService, first_rung
from paramedic.config.alerting import AlertingConfig
from paramedic.core.bus import Published
from paramedic.core.clock import Instant
from paramedic.core.events import Event, NoteAdded
from paramedic.core.failure_events import FailureDetected
from paramedic.core.incident_events import (
    IncidentOpened,
    IncidentTransitioned,
    RecoveryDecided,
    RecoveryProgress,
    RecoveryStepFinished,
    RecoveryStepStarted,
)
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import CapturingChannel, FakeClock

STEPS = ("Restart engine", "Replay journal", "Reconcile positions")


class Script:
    """The events of one cold recovery of `engine`, stamped with the FakeClock's time."""

    def __init__(self, clock: FakeClock, incident: str = "inc_1") -> None:
        self.clock, self.incident = clock, incident

    def at(self) -> Instant:
        return self.clock.now()

    def failure(self) -> FailureDetected:
        return FailureDetected(
            at=self.at(),
            service="engine",
            incident=self.incident,
            failure_kind="crash",
            reason="pid 4242 killed by SIGKILL after 12.3 s",
            source="process",
        )

    def opened(self) -> IncidentOpened:
        return IncidentOpened(
            at=self.at(),
            service="engine",
            incident=self.incident,
            failure_kind="crash",
            reason="pid 4242 killed by SIGKILL after 12.3 s",
        )

    def move(self, a: str, b: str, method: str | None = None) -> IncidentTransitioned:
        return IncidentTransitioned(
            at=self.at(),
            service="engine",
            incident=self.incident,
            from_state=a,
            to_state=b,
            reason=f"{a} -> {b}",
            method=method,
        )

    def decided(self) -> RecoveryDecided:
        return RecoveryDecided(
            at=self.at(),
            service="engine",
            incident=self.incident,
            method="cold",
            requires_approval=False,
            sentence="cold restart: no standby",
        )

    def started(self, index: int) -> RecoveryStepStarted:
        return RecoveryStepStarted(
            at=self.at(),
            service="engine",
            incident=self.incident,
            step=STEPS[index - 1],
            index=index,
            total=len(STEPS),
        )

    def finished(self, index: int, took: float) -> RecoveryStepFinished:
        return RecoveryStepFinished(
            at=self.at(),
            service="engine",
            incident=self.incident,
            step=STEPS[index - 1],
            ok=True,
            duration_s=took,
        )

    def progress(self, pct: int, eta_in: float | None) -> RecoveryProgress:
        return RecoveryProgress(
            at=self.at(),
            service="engine",
            incident=self.incident,
            state="RECOVERY_IN_PROGRESS",
            percentage=pct,
            current_step="x",
            status_message="y",
            eta_wall=None if eta_in is None else self.clock.wall() + eta_in,
        )


def test_the_status_at_50_percent_names_the_step_the_actions_and_the_eta() -> None:
    """Three steps, two done: `recovering 50%, step 3 of 3 "Reconcile positions"`, one action
    line per decision, move and finished step (each with its time), and the tracker's ETA as
    a date with what is left; every event but the move into recovery is progress within a
    phase (no phase change)."""
    clock = FakeClock(wall=1_767_225_600.0)  # 2026-01-01 00:00:00 UTC
    s = Script(clock)
    statuses = LiveStatuses()
    changes = [statuses.observe(e) for e in (s.opened(), s.decided())]
    changes.append(statuses.observe(s.move("FAILURE_DETECTED", "RECOVERY_IN_PROGRESS", "cold")))
    for index in (1, 2):
        clock.advance(1.0)
        changes.append(statuses.observe(s.started(index)))
        clock.advance(2.0)
        changes.append(statuses.observe(s.finished(index, 2.0)))
        changes.append(statuses.observe(s.progress(100 * index // 4, 42.0)))
    changes.append(statuses.observe(s.started(3)))
    status = statuses.get("inc_1")
    assert status is not None
    assert [False, False, True] + [False] * 7 == [
        c is not None and c.phase_changed for c in changes
    ]
    assert 'recovering 50%, step 3 of 3 "Reconcile positions" (cold recovery)' == (
        status.status_line()
    )
    assert [
        "00:00:00 UTC detected: crash: pid 4242 killed by SIGKILL after 12.3 s",
        "00:00:00 UTC decided: cold restart: no standby",
        "00:00:00 UTC recovering: FAILURE_DETECTED -> RECOVERY_IN_PROGRESS",
        '00:00:03 UTC step 1 of 3 "Restart engine" done in 2 s',
        '00:00:06 UTC step 2 of 3 "Replay journal" done in 2 s',
    ] == status.actions
    assert "2026-01-01 00:00:48 UTC (in 42 s)" == status.eta_text(clock.wall())
    alert = apply(
        Alert(
            id="inc_1:failure", type="crash", source="engine", severity="P0", title="engine crash"
        ),
        status,
        clock.wall(),
    )
    assert (status.status_line(), tuple(status.actions), "2026-01-01 00:00:48 UTC (in 42 s)") == (
        alert.status,
        alert.actions,
        alert.eta,
    )


def test_phases_validating_resuming_recovered_and_failed() -> None:
    """Each phase the page names: awaiting approval (its ETA: after approval), validating,
    resuming at 10% (the resumption's note), then recovered at full size; a failed run says
    manual intervention is required."""
    clock = FakeClock()
    s = Script(clock)
    statuses = LiveStatuses()
    statuses.observe(s.opened())
    statuses.observe(s.decided())
    statuses.observe(s.move("FAILURE_DETECTED", "AWAITING_APPROVAL"))
    status = statuses.get("inc_1")
    assert status is not None
    assert ("detected: awaiting approval of cold", "awaiting approval") == (
        status.status_line(),
        status.phase,
    )
    assert status.eta_text(clock.wall()).startswith("after approval")
    statuses.observe(s.move("AWAITING_APPROVAL", "RECOVERY_IN_PROGRESS"))
    assert statuses.observe(s.move("RECOVERY_IN_PROGRESS", "VALIDATING")) is not None
    assert "validating (0%)" == status.status_line()
    statuses.observe(s.move("VALIDATING", "RECOVERED"))
    note = NoteAdded(
        at=s.at(),
        service="engine",
        author="paramedic",
        text="incident inc_1: resumption: monitoring_only gate passed: canary at 0.1x size"
        " for 30 s",
    )
    change = statuses.observe(note)
    assert change is not None
    assert change.phase_changed
    assert ("resuming at 10% (canary)", "resuming") == (status.status_line(), status.phase)
    full = NoteAdded(
        at=s.at(),
        service="engine",
        author="paramedic",
        text="incident inc_1: resumption: canary gate passed: normal at 1x size",
    )
    statuses.observe(full)
    assert "recovered" == status.status_line()
    assert "none: recovered" == status.eta_text(clock.wall())
    statuses.observe(s.move("RECOVERED", "RECOVERY_FAILED"))
    statuses.observe(s.move("RECOVERY_FAILED", "MANUAL_RECOVERY"))
    assert "failed: manual intervention required" == status.status_line()
    assert "unknown: depends on manual intervention" == status.eta_text(clock.wall())


def test_a_long_recovery_keeps_the_first_action_and_the_last_eleven() -> None:
    """The page stays readable: 12 action lines at most, the first (what opened the incident)
    and the most recent; the timeline keeps them all."""
    clock = FakeClock()
    s = Script(clock)
    statuses = LiveStatuses()
    statuses.observe(s.opened())
    for n in range(20):
        clock.advance(1.0)
        statuses.observe(s.finished(1, float(n)))
    status = statuses.get("inc_1")
    assert status is not None
    assert 12 == len(status.actions)
    assert "detected: crash" in status.actions[0]
    assert status.actions[-1].endswith('"Restart engine" done in 19 s')
    assert status.actions[1].endswith('"Restart engine" done in 9 s')


def test_which_channels_update_a_sent_message() -> None:
    """PagerDuty (re-trigger, same dedup_key), email (a reply), Slack with a bot token
    (chat.update) and the webhook get every update; a Slack incoming webhook cannot edit what
    it posted: phase changes only."""
    assert (True, True, True, True, False) == (
        PagerDutyChannel.updates,
        EmailChannel.updates,
        SlackBotChannel.updates,
        WebhookChannel.updates,
        SlackChannel.updates,
    )


def test_the_on_call_is_the_first_rung_of_the_severity() -> None:
    """Who is on call: the contacts the ladder pages at once, display names where given."""
    config = AlertingConfig.model_validate(
        {"contacts": {"oncall": {"display": "Alice (+1-555-0100)", "channels": ["log"]}}}
    )
    assert ("Alice (+1-555-0100)",) == first_rung(config, "P0")


class Rig:
    """An AlertingService on a FakeClock: `engine` has a recovery plan; PagerDuty can update
    a sent message, the team's Slack (a webhook) cannot."""

    def __init__(self, store: SQLiteStore, clock: FakeClock) -> None:
        self.store, self.clock = store, clock
        self.jobs: list[asyncio.Future[Any]] = []
        pagerduty = CapturingChannel("pagerduty", "pagerduty")
        pagerduty.updates = True  # type: ignore[attr-defined]
        self.service = AlertingService(
            AlertingConfig(),
            clock=clock,
            store=store,
            channels={"pagerduty": pagerduty, "slack": CapturingChannel("slack", "slack")},
            submit=lambda events: None,
            job=lambda coro: self.jobs.append(asyncio.ensure_future(coro)),
            service_facts=lambda name: (1, {}, "https://wiki/runbooks/crash"),
            dashboard_url="https://console.example/incidents/{incident}",
            planned=lambda name: name == "engine",
        )
        self.seq = 0

    async def publish(self, *events: Event) -> None:
        for event in events:
            self.seq += 1
            self.service.on_published(Published(self.seq, event))
        await self.settle()

    async def settle(self) -> None:
        while self.jobs:
            jobs, self.jobs = self.jobs, []
            await asyncio.gather(*jobs)

    async def updates(self) -> list[tuple[str, str]]:
        """(channel, status) of every update row, in the order committed."""
        rows = await self.store.notifications_for("inc_1:failure")
        return [(n.channel, n.payload["fields"]["status"]) for n in rows if n.action == "update"]


async def test_progress_is_sent_at_most_every_30_s_and_a_phase_change_at_once(
    tmp_path: Path,
) -> None:
    """The move into recovery (a phase change) is sent at once to PagerDuty and Slack. Steps
    finishing 1 s later are held for PagerDuty until 30 s after that update, then sent once
    with the latest status; Slack (no updates) gets none of them. The move to validating goes
    at once to both, however recent the last update."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    r = Rig(store, clock)
    await r.service.start()
    s = Script(clock)
    await r.publish(s.failure(), s.opened(), s.decided())
    [alert] = [a for a in r.service.alerts.values() if a.id == "inc_1:failure"]
    assert ("detected", "estimating: the recovery is being decided") == (alert.status, alert.eta)
    assert "https://console.example/incidents/inc_1" == alert.dashboard
    assert ("On-call engineer",) == alert.on_call  # the default contact's display name
    assert [] == await r.updates()
    await r.publish(s.move("FAILURE_DETECTED", "RECOVERY_IN_PROGRESS", "cold"), s.started(1))
    first = 'recovering 0%, step 1 of 3 "Restart engine" (cold recovery)'
    assert {("pagerduty", first), ("slack", first)} <= set(await r.updates())
    sent = len(await r.updates())
    clock.advance(1.0)
    await r.publish(s.finished(1, 1.0), s.progress(25, 20.0), s.started(2))
    assert sent == len(await r.updates()), "held: the last update is 1 s old"
    clock.advance(28.0)
    await r.settle()
    assert sent == len(await r.updates())
    clock.advance(1.0)  # 30 s after the last update
    await r.settle()
    later = await r.updates()
    step2 = 'recovering 25%, step 2 of 3 "Replay journal" (cold recovery)'
    assert {("pagerduty", step2)} == set(later[sent:])
    clock.advance(1.0)
    await r.publish(s.move("RECOVERY_IN_PROGRESS", "VALIDATING"))
    last = await r.updates()
    assert {("pagerduty", "validating (25%)"), ("slack", "validating (25%)")} <= set(
        last[len(later) :]
    )
    assert {"validating (25%)"} == {status for _, status in last[len(later) :]}
    keys = [n.idempotency_key for n in await store.notifications_for("inc_1:failure")]
    assert len(keys) == len(set(keys)), "every row its own idempotency key"
    await store.close()


async def test_the_first_page_without_a_plan_says_the_eta_is_unknown(tmp_path: Path) -> None:
    """A service without a recovery plan: its ETA is unknown and no update is sent."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    r = Rig(store, clock)
    await r.service.start()
    s = Script(clock, "inc_w")
    worker = FailureDetected(
        at=s.at(),
        service="worker",
        incident="inc_w",
        failure_kind="crash",
        reason="exit 1",
        source="process",
    )
    await r.publish(worker)
    await r.publish(
        *[
            IncidentTransitioned(
                at=s.at(), service="worker", incident="inc_w", from_state=a, to_state=b, reason="x"
            )
            for a, b in itertools.pairwise(("FAILURE_DETECTED", "RECOVERY_IN_PROGRESS"))
        ]
    )
    alert = r.service.alerts["inc_w:failure"]
    assert ("detected", "unknown (no recovery plan)") == (alert.status, alert.eta)
    rows = await store.notifications_for("inc_w:failure")
    assert [] == [n for n in rows if n.action == "update"]
    await store.close()


async def test_a_restart_sends_a_change_of_phase_a_crash_cut_off_once(tmp_path: Path) -> None:
    """paramedic dies after the move into recovery was recorded and before its update was
    committed. The restart (the stored incident events folded) sends that phase to every
    channel that got the trigger; a second restart sends nothing more (same keys)."""
    clock = FakeClock()
    s = Script(clock)
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    first = Rig(store, clock)
    await first.service.start()
    await first.publish(s.failure(), s.opened())
    assert [] == await first.updates()
    moves: list[Event] = [s.opened(), s.move("FAILURE_DETECTED", "RECOVERY_IN_PROGRESS", "cold")]
    for run in range(2):
        again = Rig(store, clock)
        await again.service.start()
        await again.service.catch_up([s.failure()], {}, moves)
        await again.settle()
        updates = await again.updates()
        assert {"recovering 0% (cold recovery)"} == {status for _, status in updates}, run
        assert {"pagerduty", "slack"} <= {channel for channel, _ in updates}
        assert len(updates) == len({channel for channel, _ in updates}), "each channel once"
        keys = [
            n.idempotency_key
            for n in await store.notifications_for("inc_1:failure")
            if n.action == "update" and n.channel == "pagerduty"
        ]
        assert ["inc_1:failure:update:oncall:pagerduty:0:RECOVERY_IN_PROGRESS-0-0-0"] == keys
    await store.close()


async def test_a_later_rung_pages_the_live_status(tmp_path: Path) -> None:
    """The ladder's +2 min rung (the backup on-call) pages the alert as it is then, mid
    recovery, not as it was when the ladder started."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    r = Rig(store, clock)
    await r.service.start()
    s = Script(clock)
    await r.publish(s.failure(), s.opened(), s.decided())
    await r.publish(s.move("FAILURE_DETECTED", "RECOVERY_IN_PROGRESS", "cold"), s.started(1))
    clock.advance(120.0)
    await r.settle()
    rows = await store.notifications_for("inc_1:failure")
    backup = [n for n in rows if n.action == "trigger" and ":backup-oncall:" in n.idempotency_key]
    assert backup, [n.idempotency_key for n in rows]
    assert {'recovering 0%, step 1 of 3 "Restart engine" (cold recovery)'} == {
        n.payload["fields"]["status"] for n in backup
    }
    await store.close()


class Refusing(CapturingChannel):
    """A PagerDuty that accepts the trigger and answers every update with a 503."""

    updates = True

    async def send(self, notification: Notification) -> DeliveryResult:
        if notification.action == "update":
            return DeliveryResult("retry", "503", status=503)
        return await super().send(notification)


async def test_a_resolve_cancels_the_updates_still_pending(tmp_path: Path) -> None:
    """An update being retried when the incident recovers is cancelled by the resolve: a
    re-trigger after it would open a new PagerDuty incident."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    r = Rig(store, clock)
    r.service.channels["pagerduty"] = Refusing("pagerduty", "pagerduty")  # the outbox's too
    await r.service.start()
    s = Script(clock)
    await r.publish(s.failure(), s.opened())
    await r.publish(s.move("FAILURE_DETECTED", "RECOVERY_IN_PROGRESS", "cold"))
    rows = await store.notifications_for("inc_1:failure")
    [pending] = [n for n in rows if n.action == "update" and n.channel == "pagerduty"]
    assert "pending" == pending.status
    await r.publish(s.move("RECOVERY_IN_PROGRESS", "VALIDATING"), s.move("VALIDATING", "RECOVERED"))
    await r.publish(s.move("RECOVERED", "HEALTHY"))
    rows = await store.notifications_for("inc_1:failure")
    assert {"cancelled"} == {
        n.status for n in rows if n.action == "update" and n.channel == "pagerduty"
    }
    row = await store.get_alert("inc_1:failure")
    assert row is not None
    assert "resolved" == row.state
    await store.close()


async def test_an_acknowledgement_keeps_the_live_status(tmp_path: Path) -> None:
    """Acknowledged mid recovery: the alert (as the API reads it) still says where the
    recovery is, and the next change still updates PagerDuty."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    r = Rig(store, clock)
    await r.service.start()
    s = Script(clock)
    await r.publish(s.failure(), s.opened())
    await r.publish(s.move("FAILURE_DETECTED", "RECOVERY_IN_PROGRESS", "cold"), s.started(1))
    acked = await r.service.acknowledge("inc_1:failure", by="olga", why="on it")
    assert ("acknowledged", 'recovering 0%, step 1 of 3 "Restart engine" (cold recovery)') == (
        acked.state,
        acked.status,
    )
    row = await store.get_alert("inc_1:failure")
    assert row is not None
    assert acked.status == row.data["alert"]["status"]
    await r.publish(s.move("RECOVERY_IN_PROGRESS", "VALIDATING"))
    assert ("pagerduty", "validating (0%)") in await r.updates()
    await store.close()


async def test_two_changes_of_phase_in_one_batch_are_each_announced(tmp_path: Path) -> None:
    """The recovery validates and is validated in one bus batch: each change of phase is
    announced (the first one's update used to be built after the second and say
    `recovered` twice, so `validating` never reached anyone)."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    r = Rig(store, clock)
    await r.service.start()
    s = Script(clock)
    await r.publish(s.failure(), s.opened(), s.decided())
    await r.publish(s.move("FAILURE_DETECTED", "RECOVERY_IN_PROGRESS", "cold"), s.started(1))
    sent = len(await r.updates())
    await r.publish(s.move("RECOVERY_IN_PROGRESS", "VALIDATING"), s.move("VALIDATING", "RECOVERED"))
    said = [status for channel, status in (await r.updates())[sent:] if channel == "pagerduty"]
    assert [said[0].split(" (")[0], said[-1]] == ["validating", "recovered"], said
    await store.close()
