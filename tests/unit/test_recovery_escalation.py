"""Escalation during recovery pages people (issue 13, item 2), on a FakeClock.

The incident events arrive as the bus hands them over (`on_published`, each handler a job);
what is asserted is which pages were raised (their ids, severity, the receivers their route
named on `alert.raised`) and what they say. The levels are the default P0 policy's outage
ladder: the on-call at once, team lead at 15 min, manager at 30, CTO at 60, CEO at 120.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.escalation_levels import ESCALATION_TYPE, Levels
from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService, ServiceFacts
from paramedic.config.alerting import (
    AlertingConfig,
    EscalationConfig,
    EscalationPolicyConfig,
    EscalationStepConfig,
    default_policy_models,
)
from paramedic.core.bus import Published
from paramedic.core.events import Event, NoteAdded
from paramedic.core.failure_events import FailureDetected
from paramedic.core.incident_events import (
    EscalationTrigger,
    EscalationTriggered,
    IncidentOpened,
    IncidentTransitioned,
    RecoveryDecided,
    RecoveryFinished,
)
from paramedic.core.text import duration
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import CapturingChannel, FakeClock

MIN = 60.0
RUNBOOK = "https://wiki/engine"
MANUAL_RUNBOOK = "https://wiki/manual-recovery"


class Rig:
    """An AlertingService with the default policy; `engine` has a recovery plan."""

    def __init__(
        self,
        store: SQLiteStore,
        clock: FakeClock,
        tier: int | None,
        config: AlertingConfig | None = None,
        manual_runbook: str = MANUAL_RUNBOOK,
        facts: ServiceFacts | None = None,
    ) -> None:
        self.store, self.clock = store, clock
        self.recorded: list[Any] = []
        self.jobs: list[asyncio.Future[Any]] = []
        self.service = AlertingService(
            config or AlertingConfig(),
            clock=clock,
            store=store,
            channels={"log": CapturingChannel()},
            submit=self.recorded.extend,
            job=lambda coro: self.jobs.append(asyncio.ensure_future(coro)),
            service_facts=facts or (lambda name: (tier, {"desk": "fx"}, RUNBOOK)),
            api_url="http://127.0.0.1:8080",
            planned=lambda name: name == "engine",
            manual_runbook=lambda name: manual_runbook,
        )
        self.seq = 0
        self.history: list[Event] = []

    async def publish(self, *events: Event) -> None:
        """Hand the events over in bus order, then wait for their handlers."""
        for event in events:
            self.seq += 1
            self.history.append(event)
            self.service.on_published(Published(self.seq, event))
        while self.jobs:
            jobs, self.jobs = self.jobs, []
            await asyncio.gather(*jobs)

    def opened(self, incident: str = "inc_1") -> IncidentOpened:
        return IncidentOpened(
            at=self.clock.now(),
            service="engine",
            incident=incident,
            failure_kind="crash",
            reason="pid 4242 killed by SIGKILL after 12.3 s",
        )

    def failure(self, incident: str = "inc_1") -> FailureDetected:
        return FailureDetected(
            at=self.clock.now(),
            service="engine",
            incident=incident,
            failure_kind="crash",
            reason="pid 4242 killed by SIGKILL after 12.3 s",
            source="process",
        )

    def trigger(
        self, trigger: EscalationTrigger, reason: str, incident: str = "inc_1", **kw: Any
    ) -> EscalationTriggered:
        return EscalationTriggered(
            at=self.clock.now(),
            service="engine",
            incident=incident,
            trigger=trigger,
            reason=reason,
            **kw,
        )

    def move(self, a: str, b: str, incident: str = "inc_1") -> IncidentTransitioned:
        return IncidentTransitioned(
            at=self.clock.now(),
            service="engine",
            incident=incident,
            from_state=a,
            to_state=b,
            reason=f"{a} -> {b} because the test says so",
        )

    def raised(self) -> dict[str, tuple[str, ...]]:
        """Escalation pages raised so far: alert id -> the receivers its route named."""
        return {
            e.alert_id: e.receivers
            for e in self.recorded
            if e.kind == "alert.raised" and ":escalation:" in e.alert_id
        }

    def page(self, alert_id: str) -> Alert:
        return self.service.alerts[alert_id]


async def rig(
    tmp_path: Path,
    tier: int | None = None,
    clock: FakeClock | None = None,
    db: str = "p.db",
    config: AlertingConfig | None = None,
    manual_runbook: str = MANUAL_RUNBOOK,
    facts: ServiceFacts | None = None,
) -> Rig:
    store = SQLiteStore(tmp_path / db)
    await store.open()
    r = Rig(store, clock or FakeClock(), tier, config, manual_runbook, facts)
    await r.service.start()
    return r


def test_the_levels_are_the_p0_policys_outage_ladder() -> None:
    """The on-call is the P0 policy's +0 rung; the levels above are its `until: resolve`
    rungs at 15/30/60/120 min, with their contacts (one table, not a second one)."""
    levels = Levels.from_policy(default_policy_models()["P0"])
    assert levels.on_call is not None
    assert ("oncall", 0.0, 1, ("oncall",)) == (
        levels.on_call.name,
        levels.on_call.after,
        levels.on_call.number,
        levels.on_call.receivers,
    )
    assert [
        ("outage-team-lead", 15 * MIN, 2, ("team-lead",)),
        ("outage-manager", 30 * MIN, 3, ("engineering-manager",)),
        ("outage-cto", 60 * MIN, 4, ("cto",)),
        ("outage-ceo", 120 * MIN, 5, ("ceo",)),
    ] == [(lv.name, lv.after, lv.number, lv.receivers) for lv in levels.ladder]
    assert Levels() == Levels.from_policy(None)


@pytest.mark.parametrize(
    ("minutes", "levels"),
    [
        (3, []),
        (14.9, []),
        (15, ["outage-team-lead"]),
        (30, ["outage-team-lead", "outage-manager"]),
        (60, ["outage-team-lead", "outage-manager", "outage-cto"]),
        (120, ["outage-team-lead", "outage-manager", "outage-cto", "outage-ceo"]),
    ],
)
async def test_an_rto_escalation_pages_the_levels_the_outage_reached(
    tmp_path: Path, minutes: float, levels: list[str]
) -> None:
    """The incident opens; `minutes` later the RTO is exceeded by 50%: the on-call gets the
    page (P1, naming the trigger, the reason, the RTO target against the outage), and so
    does every level the outage length reached, each through its own contacts."""
    r = await rig(tmp_path)
    await r.publish(r.opened())
    r.clock.advance(minutes * MIN)
    event = r.trigger(
        "rto_exceeded",
        "recovery running 3 s, over 1.5 x the target RTO of 2 s",
        rto_target_s=2 * MIN,
    )
    await r.publish(event)
    expected = {f"inc_1:escalation:{event.id}": ("oncall",)}
    receivers = {
        "outage-team-lead": ("team-lead",),
        "outage-manager": ("engineering-manager",),
        "outage-cto": ("cto",),
        "outage-ceo": ("ceo",),
    }
    expected |= {f"inc_1:escalation:{lv}": receivers[lv] for lv in levels}
    assert expected == r.raised()
    page = r.page(f"inc_1:escalation:{event.id}")
    assert ("P1", ESCALATION_TYPE, "inc_1") == (page.severity, page.type, page.incident)
    assert "escalation: recovery over its RTO by 50%" in page.title
    assert page.what == "rto_exceeded: recovery running 3 s, over 1.5 x the target RTO of 2 s"
    ratio = minutes / 2
    assert page.actions[0] == (
        f"RTO target 2 min, outage {_dur(minutes * MIN)} ({ratio:.1f}x the target)"
    )
    assert page.impact.startswith(f"engine out for {_dur(minutes * MIN)} since 20")
    assert "(crash: pid 4242 killed by SIGKILL after 12.3 s)" in page.impact
    assert RUNBOOK == page.runbook
    assert r.service.escalation.snapshot_of(page.id) is None  # no ladder of its own
    for lv in levels:
        up = r.page(f"inc_1:escalation:{lv}")
        assert (page.what, page.severity) == (up.what, up.severity)
        assert "(to level" in up.title


async def state_of(store: SQLiteStore, alert_id: str) -> str | None:
    row = await store.get_alert(alert_id)
    return None if row is None else row.state


def _dur(seconds: float) -> str:
    return duration(seconds)


async def test_each_level_is_paged_once_per_incident(tmp_path: Path) -> None:
    """RTO exceeded at 16 min: on-call and team lead. Recovery then fails to manual at
    35 min: the on-call gets the new facts (P0, manual intervention required), the manager
    is paged, the team lead is not paged again. A third trigger at 36 min: the on-call only.
    Another incident starts its own count."""
    r = await rig(tmp_path)
    await r.publish(r.opened())
    r.clock.advance(16 * MIN)
    rto = r.trigger("rto_exceeded", "recovery running 16 min", rto_target_s=10 * MIN)
    await r.publish(rto)
    r.clock.advance(19 * MIN)
    failed = r.trigger("recovery_failed", "cold failed; no automatic method left")
    await r.publish(r.move("RECOVERY_IN_PROGRESS", "RECOVERY_FAILED"))
    await r.publish(r.move("RECOVERY_FAILED", "MANUAL_RECOVERY"), failed)
    r.clock.advance(1 * MIN)
    again = r.trigger("approval_timeout", "no one approved manual within 5 min")
    await r.publish(again)
    assert {
        f"inc_1:escalation:{rto.id}": ("oncall",),
        "inc_1:escalation:outage-team-lead": ("team-lead",),
        f"inc_1:escalation:{failed.id}": ("oncall",),
        "inc_1:escalation:outage-manager": ("engineering-manager",),
        f"inc_1:escalation:{again.id}": ("oncall",),
    } == r.raised()
    assert "P0" == r.page(f"inc_1:escalation:{failed.id}").severity
    assert "P1" == r.page(f"inc_1:escalation:{again.id}").severity
    r.clock.advance(20 * MIN)
    await r.publish(r.opened("inc_2"))
    r.clock.advance(16 * MIN)
    other = r.trigger("rto_exceeded", "recovery running 16 min", incident="inc_2")
    await r.publish(other)
    assert {f"inc_2:escalation:{other.id}", "inc_2:escalation:outage-team-lead"} == {
        a for a in r.raised() if a.startswith("inc_2")
    }


async def test_a_recovery_ending_in_manual_pages_manual_intervention_required(
    tmp_path: Path,
) -> None:
    """Hot then cold failed, the failed state was preserved, no method left: the incident
    goes to manual and `recovery_failed` is recorded. The on-call's P0 says "Manual
    intervention required", what was tried (each method, its outcome and duration), where
    the state was preserved, the manual runbook and the command that resolves it."""
    r = await rig(tmp_path)
    await r.publish(
        r.opened(),
        RecoveryDecided(
            at=r.clock.now(),
            service="engine",
            incident="inc_1",
            method="hot",
            requires_approval=False,
            sentence="hot restart: checkpoint 2 s old",
            fallback_chain=("cold",),
        ),
    )
    r.clock.advance(4.0)
    await r.publish(
        RecoveryFinished(
            at=r.clock.now(),
            service="engine",
            incident="inc_1",
            method="hot",
            ok=False,
            duration_s=4.0,
            reason="step 1/2 (Restart engine) failed: exit 3",
        ),
        NoteAdded(
            at=r.clock.now(),
            service="engine",
            author="paramedic",
            text="incident inc_1: preserved 3 files (1200 bytes) in /var/lib/p/engine-hot-1;"
            " core dump skipped: disabled in config (preserve.gcore)",
        ),
    )
    r.clock.advance(6.0)
    why = "step 1/1 (Cold start) failed: exit 1; no automatic method left"
    await r.publish(
        RecoveryFinished(
            at=r.clock.now(),
            service="engine",
            incident="inc_1",
            method="cold",
            ok=False,
            duration_s=10.0,
            reason="step 1/1 (Cold start) failed: exit 1",
        ),
        r.move("RECOVERY_FAILED", "MANUAL_RECOVERY"),
        failed := r.trigger("recovery_failed", why),
    )
    page = r.page(f"inc_1:escalation:{failed.id}")
    assert "P0" == page.severity
    assert "automated recovery failed - Manual intervention required" in page.title
    assert page.status.startswith("manual recovery: automation stopped")
    assert (
        "decided: hot restart: checkpoint 2 s old",
        "tried hot: failed after 4 s: step 1/2 (Restart engine) failed: exit 3",
        "tried cold: failed after 10 s: step 1/1 (Cold start) failed: exit 1",
        "preserved state: /var/lib/p/engine-hot-1",
        "when fixed: paramedic resolve-incident inc_1 --url http://127.0.0.1:8080"
        " --reason '<what was done>'",
    ) == page.actions
    assert MANUAL_RUNBOOK == page.runbook
    assert f"recovery_failed: {why}" == page.what


async def test_an_operator_taking_over_is_not_paged(tmp_path: Path) -> None:
    """An operator's own `manual` records no trigger: nothing is paged; an approval timeout
    (a trigger outside manual recovery) pages the on-call at P1 without "manual"."""
    r = await rig(tmp_path)
    await r.publish(r.opened(), r.move("FAILURE_DETECTED", "MANUAL_RECOVERY"))
    assert {} == r.raised()
    timeout = r.trigger("approval_timeout", "no one approved cold within 5 min")
    await r.publish(timeout)
    page = r.page(f"inc_1:escalation:{timeout.id}")
    assert ("P1", False) == (page.severity, "Manual intervention" in page.title)


async def test_a_failed_validation_window_is_paged_once(tmp_path: Path) -> None:
    """A critical short-window check fails at 20 min: recovery records `validation_failed`
    naming the check and pages it through its own P0 failure (validate.py). The escalation
    adds no second on-call page for the same cause, only the level the outage reached,
    naming the failing check; an immediate validation failure (no check named) is paged."""
    r = await rig(tmp_path)
    await r.publish(r.opened())
    r.clock.advance(20 * MIN)
    window = r.trigger(
        "validation_failed", "short validation failed: orders: 500", checks=("orders",)
    )
    await r.publish(window)
    assert {"inc_1:escalation:outage-team-lead": ("team-lead",)} == r.raised()
    lead = r.page("inc_1:escalation:outage-team-lead")
    assert "P0" == lead.severity
    assert "failing checks: orders" in lead.actions
    assert lead.what.endswith("(failing checks: orders)")
    immediate = r.trigger("validation_failed", "1 of 2 immediate checks failed: orders")
    await r.publish(immediate)
    assert f"inc_1:escalation:{immediate.id}" in r.raised()


async def test_the_pages_resolve_when_the_incident_is_healthy_or_resolved_by_hand(
    tmp_path: Path,
) -> None:
    """The pages of an incident stay open while it recovers and resolve at HEALTHY; those
    of a manual incident resolve when a human resolves it; another incident's stay open."""
    r = await rig(tmp_path)
    await r.publish(r.opened("inc_1"))
    r.clock.advance(16 * MIN)
    await r.publish(r.trigger("rto_exceeded", "slow"))
    await r.publish(r.move("RECOVERY_IN_PROGRESS", "VALIDATING"))
    await r.publish(r.move("VALIDATING", "RECOVERED"))
    open_ids = set(r.raised())
    assert {a.state for a in map(r.page, open_ids)} == {"firing"}
    await r.publish(r.move("RECOVERED", "HEALTHY"))
    for alert_id in open_ids:
        assert "resolved" == await state_of(r.store, alert_id), alert_id
        assert alert_id not in r.service.alerts

    other = await rig(tmp_path, db="other.db")
    await other.publish(other.opened("inc_9"))
    await other.publish(other.move("RECOVERY_FAILED", "MANUAL_RECOVERY", "inc_9"))
    await other.publish(failed := other.trigger("recovery_failed", "no method", "inc_9"))
    page_id = f"inc_9:escalation:{failed.id}"
    assert "firing" == other.page(page_id).state
    await other.publish(other.move("MANUAL_RECOVERY", "RECOVERED", "inc_9"))
    assert "resolved" == await state_of(other.store, page_id)


async def test_levels_already_paged_by_the_failure_alerts_outage_rung_are_not_paged_again(
    tmp_path: Path,
) -> None:
    """A tier-1 crash is P0: its alert's outage rungs page the team lead at 15 min and the
    manager at 30. An RTO escalation at 16 min pages the on-call with its facts, not the
    team lead again, and the escalation's own timer leaves the manager to that rung."""
    r = await rig(tmp_path, tier=1)
    await r.publish(r.failure(), r.opened())
    r.clock.advance(15 * MIN)
    await r.publish()
    ladder = r.service.escalation.snapshot_of("inc_1:failure")
    assert ladder is not None
    assert "outage-team-lead" in ladder["fired"]
    r.clock.advance(1 * MIN)
    await r.publish(rto := r.trigger("rto_exceeded", "slow"))
    assert {f"inc_1:escalation:{rto.id}": ("oncall",)} == r.raised()
    r.clock.advance(15 * MIN)  # 31 min: the failure alert's outage rung pages the manager
    await r.publish()
    ladder = r.service.escalation.snapshot_of("inc_1:failure")
    assert ladder is not None
    assert "outage-manager" in ladder["fired"]
    assert {f"inc_1:escalation:{rto.id}": ("oncall",)} == r.raised()


async def test_after_a_crash_no_level_is_paged_twice_and_none_is_lost(tmp_path: Path) -> None:
    """paramedic paged the RTO escalation at 16 min (on-call, team lead) and, at 30 min of
    outage, the manager; it recorded a failed recovery at 35 min and died before its page
    committed. It is started again at 61 min of outage: handed the stored events, it raises
    the lost manual page and the CTO (reached while it was down), nothing already paged; a
    second catch-up (the store back from trouble) raises nothing; the CEO follows at
    120 min; resolving the incident by hand resolves them all."""
    clock = FakeClock()
    first = await rig(tmp_path, clock=clock)
    await first.publish(first.opened())
    clock.advance(16 * MIN)
    await first.publish(rto := first.trigger("rto_exceeded", "slow", rto_target_s=60.0))
    clock.advance(19 * MIN)
    await first.publish()  # the timer's page of the manager, at 30 min
    lost = [
        first.move("RECOVERY_FAILED", "MANUAL_RECOVERY"),
        failed := first.trigger("recovery_failed", "no automatic method left"),
    ]
    stored = [*first.history, *lost]  # the timeline holds them; their pages never committed
    paged_before = set(first.raised())
    assert {
        f"inc_1:escalation:{rto.id}",
        "inc_1:escalation:outage-team-lead",
        "inc_1:escalation:outage-manager",
    } == paged_before

    later = FakeClock(mono=90_000.0, wall=clock.wall() + 26 * MIN)  # another boot
    second = await rig(tmp_path, clock=later)
    raised, _ = await second.service.catch_up([], {}, stored)
    assert 2 == raised
    assert {f"inc_1:escalation:{failed.id}", "inc_1:escalation:outage-cto"} == set(second.raised())
    assert "P0" == second.page(f"inc_1:escalation:{failed.id}").severity
    assert (0, 0) == await second.service.catch_up([], {}, stored)
    later.advance(59 * MIN)
    await second.publish()
    assert "inc_1:escalation:outage-ceo" in second.raised()
    assert 3 == len(second.raised())
    await second.publish(second.move("MANUAL_RECOVERY", "RECOVERED"))
    for alert_id in paged_before | set(second.raised()):
        assert "resolved" == await state_of(second.store, alert_id), alert_id


async def test_the_levels_follow_the_outage_after_a_trigger(tmp_path: Path) -> None:
    """RTO exceeded at 2 min: the on-call. The incident stays unrecovered: at 15, 30, 60
    and 120 min of outage the team lead, the manager, the CTO and the CEO are paged, each
    once, each page naming the trigger's facts; at HEALTHY they all resolve and nobody is
    paged after."""
    r = await rig(tmp_path)
    await r.publish(r.opened())
    r.clock.advance(2 * MIN)
    await r.publish(rto := r.trigger("rto_exceeded", "recovery running 2 min", rto_target_s=80))
    seen = [set(r.raised())]
    for minutes in (14.9, 15, 29.9, 30, 59.9, 60, 119.9, 120):
        r.clock.advance(minutes * MIN - (r.clock.monotonic() - r.history[0].at.mono))
        await r.publish()
        seen.append(set(r.raised()) - set().union(*seen))
    lv = "inc_1:escalation:outage-"
    assert [
        {f"inc_1:escalation:{rto.id}"},
        set(),
        {f"{lv}team-lead"},
        set(),
        {f"{lv}manager"},
        set(),
        {f"{lv}cto"},
        set(),
        {f"{lv}ceo"},
    ] == seen
    ceo = r.page(f"{lv}ceo")
    assert ceo.title.startswith(
        "engine: still not recovered, escalation: recovery over its RTO by 50% (to level 5"
    )
    assert "down 2 h" in ceo.title
    assert "rto_exceeded: recovery running 2 min" == ceo.what
    assert ("P1", ("ceo",)) == (ceo.severity, r.raised()[f"{lv}ceo"])
    await r.publish(r.move("RECOVERED", "HEALTHY"))
    assert {"resolved"} == {await state_of(r.store, a) for a in r.raised()}
    r.clock.advance(10 * 60 * MIN)
    await r.publish()
    assert 5 == len(r.raised())


async def test_after_a_crash_the_pages_of_an_incident_that_ended_are_resolved(
    tmp_path: Path,
) -> None:
    """Pages were out; the incident recovered while paramedic was down (HEALTHY on the
    timeline, the resolves never committed): the restart resolves them."""
    clock = FakeClock()
    first = await rig(tmp_path, clock=clock)
    await first.publish(first.opened())
    clock.advance(16 * MIN)
    await first.publish(first.trigger("rto_exceeded", "slow"))
    stored = [*first.history, first.move("RECOVERED", "HEALTHY")]
    second = await rig(tmp_path, clock=clock)
    assert (0, 2) == await second.service.catch_up([], {}, stored)
    for alert_id in first.raised():
        assert "resolved" == await state_of(second.store, alert_id), alert_id


@pytest.mark.parametrize(
    ("trigger", "severity"),
    [
        ("rto_exceeded", "P1"),
        ("recovery_failed", "P0"),
        ("repeated_failures", "P0"),
        ("data_corruption", "P0"),
        ("validation_failed", "P0"),
        ("approval_timeout", "P1"),
    ],
)
async def test_each_trigger_pages_at_its_severity(
    tmp_path: Path, trigger: EscalationTrigger, severity: str
) -> None:
    """The default severity of each trigger's page (no check named: the on-call is paged)."""
    r = await rig(tmp_path)
    await r.publish(r.opened(), event := r.trigger(trigger, "because"))
    page = r.page(f"inc_1:escalation:{event.id}")
    assert (severity, f"{trigger}: because") == (page.severity, page.what)


async def test_rules_make_a_page_louder_never_quieter(tmp_path: Path) -> None:
    """A user's rule making rto_exceeded P0 is followed; one making recovery_failed P3 is
    not: it pages at P0 all the same, saying why."""
    config = AlertingConfig.model_validate(
        {
            "severity_rules": [
                {"severity": "P0", "kinds": ["rto_exceeded"], "reason": "our RTO is law"},
                {"severity": "P3", "kinds": ["recovery_failed"], "reason": "quiet please"},
            ]
        }
    )
    r = await rig(tmp_path, config=config)
    await r.publish(r.opened(), rto := r.trigger("rto_exceeded", "slow"))
    await r.publish(failed := r.trigger("recovery_failed", "no method left"))
    louder = r.page(f"inc_1:escalation:{rto.id}")
    assert "P0" == louder.severity
    assert "our RTO is law" in louder.severity_reason
    floored = r.page(f"inc_1:escalation:{failed.id}")
    assert ("P0", "recovery_failed pages at P0 at least") == (
        floored.severity,
        floored.severity_reason,
    )


async def test_the_levels_follow_a_changed_p0_outage_ladder(tmp_path: Path) -> None:
    """`escalation.policies.P0` with the on-call and the backup at 0 and the team lead's
    outage rung at 5 min on Slack: an escalation at 6 min pages the on-call and the backup,
    and the team lead on Slack alone."""
    config = AlertingConfig(
        escalation=EscalationConfig(
            policies={
                "P0": EscalationPolicyConfig(
                    steps=[
                        EscalationStepConfig(
                            name="first",
                            after="0s",
                            contacts=["oncall", "backup-oncall"],
                            level=1,
                        ),
                        EscalationStepConfig(
                            name="lead",
                            after="5m",
                            contacts=["team-lead"],
                            channels=["slack"],
                            level=2,
                            until="resolve",
                        ),
                    ]
                ),
                **{k: v for k, v in default_policy_models().items() if k != "P0"},
            }
        )
    )
    r = await rig(tmp_path, config=config)
    await r.publish(r.opened())
    r.clock.advance(6 * MIN)
    await r.publish(event := r.trigger("rto_exceeded", "slow"))
    assert {
        f"inc_1:escalation:{event.id}": ("oncall", "backup-oncall"),
        "inc_1:escalation:lead": ("team-lead",),
    } == r.raised()
    rows = await r.store.notifications_for("inc_1:escalation:lead")
    # Slack is not configured here: the row goes to the log, its key names Slack.
    assert ["inc_1:escalation:lead:trigger:team-lead:slack:0"] == [n.idempotency_key for n in rows]


async def test_a_relapse_resolves_the_superseded_incidents_pages(tmp_path: Path) -> None:
    """A new incident of the same service supersedes the old one: its pages resolve (the
    new incident's pages carry the outage on)."""
    r = await rig(tmp_path)
    await r.publish(r.opened("inc_1"), event := r.trigger("rto_exceeded", "slow"))
    await r.publish(r.opened("inc_2"))
    assert "resolved" == await state_of(r.store, f"inc_1:escalation:{event.id}")


async def test_without_a_manual_runbook_the_manual_page_gives_the_services(
    tmp_path: Path,
) -> None:
    """No `methods.manual.runbook` in the plan: the manual page names the service's runbook."""
    r = await rig(tmp_path, manual_runbook="")
    await r.publish(r.opened(), r.move("RECOVERY_FAILED", "MANUAL_RECOVERY"))
    await r.publish(failed := r.trigger("recovery_failed", "no method left"))
    page = r.page(f"inc_1:escalation:{failed.id}")
    assert ("P0", RUNBOOK) == (page.severity, page.runbook)
    assert "Manual intervention required" in page.title


async def test_a_failure_planning_the_pages_never_reaches_the_bus(tmp_path: Path) -> None:
    """Planning runs on the bus's listener path: if it raises (here the service's facts
    cannot be read), the listener returns, nothing is paged, and the next event is handled."""
    broken = [True]

    def facts(name: str) -> tuple[int | None, dict[str, str], str]:
        if broken[0]:
            raise RuntimeError("facts unavailable")
        return None, {}, RUNBOOK

    r = await rig(tmp_path, facts=facts)
    await r.publish(r.opened(), r.trigger("rto_exceeded", "slow"))
    assert {} == r.raised()
    broken[0] = False
    await r.publish(again := r.trigger("approval_timeout", "nobody answered"))
    assert [f"inc_1:escalation:{again.id}"] == list(r.raised())
