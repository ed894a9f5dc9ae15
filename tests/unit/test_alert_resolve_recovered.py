"""Resolve only what is recovered (issue 13, item 5): the intake's logic on a FakeClock.

The events arrive as the bus hands them over (`on_published`, each handler a job); what is
asserted is the alert's state, its stored notification rows (a resolve is a row before it is
a page) and the timeline records the pipeline submitted.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

from paramedic.alerting.service import AlertingService
from paramedic.config.alerting import AlertingConfig
from paramedic.core.bus import Published
from paramedic.core.clock import Instant
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureCleared, FailureDetected
from paramedic.core.incident_events import IncidentOpened, IncidentTransitioned
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import CapturingChannel, FakeClock


class Rig:
    """An AlertingService for which `engine` has a recovery plan and `worker` has none."""

    def __init__(self, store: SQLiteStore, clock: FakeClock) -> None:
        self.store, self.clock = store, clock
        self.recorded: list[Any] = []
        self.jobs: list[asyncio.Future[Any]] = []
        self.service = AlertingService(
            AlertingConfig(),
            clock=clock,
            store=store,
            channels={"log": CapturingChannel()},
            submit=self.recorded.extend,
            job=lambda coro: self.jobs.append(asyncio.ensure_future(coro)),
            planned=lambda name: name == "engine",
        )
        self.seq = 0

    def now(self) -> Instant:
        return Instant(mono=self.clock.monotonic(), wall=self.clock.wall())

    async def publish(self, *events: Event) -> None:
        """Hand the events over in bus order, then wait for their handlers."""
        for event in events:
            self.seq += 1
            self.service.on_published(Published(self.seq, event))
        await asyncio.gather(*self.jobs)
        self.jobs.clear()

    def failure(self, incident: str, service: str = "engine") -> FailureDetected:
        return FailureDetected(
            at=self.now(),
            service=service,
            incident=incident,
            failure_kind="crash",
            reason="pid 4242 killed by SIGKILL after 12.3 s",
            source="process",
        )

    def opened(self, incident: str, service: str = "engine") -> IncidentOpened:
        return IncidentOpened(
            at=self.now(),
            service=service,
            incident=incident,
            failure_kind="crash",
            reason="pid 4242 killed by SIGKILL after 12.3 s",
        )

    def cleared(self, incident: str, service: str = "engine") -> FailureCleared:
        return FailureCleared(
            at=self.now(),
            service=service,
            incident=incident,
            downtime_s=1.5,
            reason="all detectors ok for 1 checks",
        )

    def moves(self, incident: str, *states: str, service: str = "engine") -> list[Event]:
        """The moves through `states` (the first is where the incident stands)."""
        return [
            IncidentTransitioned(
                at=self.now(),
                service=service,
                incident=incident,
                from_state=a,
                to_state=b,
                reason=f"{a} -> {b} because the test says so",
            )
            for a, b in itertools.pairwise(states)
        ]

    async def state(self, incident: str) -> str:
        row = await self.store.get_alert(f"{incident}:failure")
        assert row is not None
        return row.state

    async def actions(self, incident: str) -> list[str]:
        return sorted({n.action for n in await self.store.notifications_for(f"{incident}:failure")})

    def kinds(self, kind: str) -> list[Any]:
        return [e for e in self.recorded if e.kind == kind]


async def rig(tmp_path: Path, clock: FakeClock | None = None) -> Rig:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    r = Rig(store, clock or FakeClock())
    await r.service.start()
    return r


TO_RECOVERED = ("FAILURE_DETECTED", "RECOVERY_IN_PROGRESS", "VALIDATING", "RECOVERED")


async def test_a_cleared_failure_is_kept_firing_until_the_incident_is_healthy(
    tmp_path: Path,
) -> None:
    """A planned service: the failure clears while the recovery validates; the alert stays
    firing (no resolve row), `alert.kept` says why; it resolves at the move to HEALTHY."""
    r = await rig(tmp_path)
    await r.publish(r.failure("inc_1"), r.opened("inc_1"))
    await r.publish(*r.moves("inc_1", *TO_RECOVERED[:3]))
    r.clock.advance(2.0)
    await r.publish(r.cleared("inc_1"))
    # Each change of phase sent the live status (`update`); nothing resolved it.
    assert ("firing", ["trigger", "update"]) == (
        await r.state("inc_1"),
        await r.actions("inc_1"),
    )
    [kept] = r.kinds("alert.kept")
    assert ("inc_1:failure", "VALIDATING") == (kept.alert_id, kept.state)
    assert "incident inc_1 is VALIDATING" in kept.reason
    assert [] == r.kinds("alert.resolved")
    await r.publish(*r.moves("inc_1", *TO_RECOVERED[2:]))
    assert "firing" == await r.state("inc_1")
    r.clock.advance(300.0)
    await r.publish(*r.moves("inc_1", "RECOVERED", "HEALTHY"))
    assert ("resolved", ["resolve", "trigger", "update"]) == (
        await r.state("inc_1"),
        await r.actions("inc_1"),
    )
    [resolved] = r.kinds("alert.resolved")
    assert resolved.why.startswith("incident inc_1 recovered: RECOVERED -> HEALTHY")
    await r.store.close()


async def test_a_failed_validation_keeps_it_until_a_human_resolves_the_incident(
    tmp_path: Path,
) -> None:
    """Cleared, RECOVERED, then a short-window check fails: RECOVERY_FAILED, MANUAL_RECOVERY;
    the alert still fires. The human's resolve (MANUAL_RECOVERY -> RECOVERED) resolves it;
    HEALTHY later changes nothing."""
    r = await rig(tmp_path)
    await r.publish(r.failure("inc_1"), r.opened("inc_1"), *r.moves("inc_1", *TO_RECOVERED))
    await r.publish(r.cleared("inc_1"))
    await r.publish(*r.moves("inc_1", "RECOVERED", "RECOVERY_FAILED", "MANUAL_RECOVERY"))
    assert ("firing", ["trigger", "update"]) == (
        await r.state("inc_1"),
        await r.actions("inc_1"),
    )
    await r.publish(*r.moves("inc_1", "MANUAL_RECOVERY", "RECOVERED"))
    assert "resolved" == await r.state("inc_1")
    [resolved] = r.kinds("alert.resolved")
    assert resolved.why.startswith("incident inc_1 resolved by hand:")
    await r.publish(*r.moves("inc_1", "RECOVERED", "HEALTHY"))
    assert 1 == len(r.kinds("alert.resolved"))
    await r.store.close()


async def test_without_a_plan_the_clear_resolves_at_once(tmp_path: Path) -> None:
    """A service without a plan (plain incidents): resolved at the clear, as before."""
    r = await rig(tmp_path)
    await r.publish(r.failure("inc_w", "worker"), r.opened("inc_w", "worker"))
    await r.publish(r.cleared("inc_w", "worker"))
    assert ("resolved", ["resolve", "trigger"]) == (
        await r.state("inc_w"),
        await r.actions("inc_w"),
    )
    assert [] == r.kinds("alert.kept")
    await r.store.close()


async def test_a_page_with_no_incident_of_its_own_resolves_at_its_clear(tmp_path: Path) -> None:
    """The recovery's own pages (a failed validation's `<incident>_validation`) open no
    incident: their clear (the human's resolve of the incident) resolves them at once."""
    r = await rig(tmp_path)
    await r.publish(r.failure("inc_1"), r.opened("inc_1"), *r.moves("inc_1", *TO_RECOVERED))
    await r.publish(r.failure("inc_1_validation"))
    await r.publish(r.cleared("inc_1_validation"))
    assert "resolved" == await r.state("inc_1_validation")
    assert "firing" == await r.state("inc_1")
    await r.store.close()


async def test_a_relapse_hands_the_outage_to_the_new_incidents_alert(tmp_path: Path) -> None:
    """inc_1 recovered (kept after its clear) and relapsed: the orchestrator opens inc_2 and
    inc_1 stays RECOVERY_FAILED for ever; inc_1's alert resolves, naming inc_2."""
    r = await rig(tmp_path)
    await r.publish(r.failure("inc_1"), r.opened("inc_1"), *r.moves("inc_1", *TO_RECOVERED))
    await r.publish(r.cleared("inc_1"))
    await r.publish(r.failure("inc_2"), *r.moves("inc_1", "RECOVERED", "RECOVERY_FAILED"))
    assert "firing" == await r.state("inc_1")
    await r.publish(r.opened("inc_2"))
    assert ("resolved", "firing") == (await r.state("inc_1"), await r.state("inc_2"))
    [resolved] = r.kinds("alert.resolved")
    assert resolved.why.startswith("incident inc_1 superseded by incident inc_2")
    await r.store.close()


async def test_a_restart_keeps_what_was_kept_and_resolves_what_recovered(tmp_path: Path) -> None:
    """Killed after the clear (kept) and before HEALTHY: the restart's catch-up, given the
    stored incident events, keeps the alert firing (no second `alert.kept`). Killed between
    HEALTHY's record and the resolve's commit: the catch-up resolves it."""
    clock = FakeClock()
    r = await rig(tmp_path, clock)
    history: list[Event] = [r.opened("inc_1"), *r.moves("inc_1", *TO_RECOVERED)]
    failure, cleared = r.failure("inc_1"), r.cleared("inc_1")
    await r.publish(failure, *history, cleared)
    assert 1 == len(r.kinds("alert.kept"))
    await r.store.close()  # kill -9

    second = await rig(tmp_path, clock)
    assert (0, 0) == await second.service.catch_up([], {"inc_1": cleared}, history)
    assert "firing" == await second.state("inc_1")
    assert [] == second.kinds("alert.kept")
    await second.store.close()  # killed again: HEALTHY recorded, the resolve not committed

    third = await rig(tmp_path, clock)
    healthy = r.moves("inc_1", "RECOVERED", "HEALTHY")
    assert (0, 1) == await third.service.catch_up([], {"inc_1": cleared}, history + healthy)
    # `update`: the live status the first run sent at each change of phase.
    assert ("resolved", ["resolve", "trigger", "update"]) == (
        await third.state("inc_1"),
        await third.actions("inc_1"),
    )
    await third.store.close()


async def test_a_restart_cut_between_the_clear_and_its_keep_keeps_it(tmp_path: Path) -> None:
    """The clear committed, the alert's keep did not (kill -9 in between): the restart keeps
    it firing and records why, once; a planned incident's clear never resolves it."""
    clock = FakeClock()
    r = await rig(tmp_path, clock)
    history: list[Event] = [r.opened("inc_1"), *r.moves("inc_1", *TO_RECOVERED[:3])]
    await r.publish(r.failure("inc_1"), *history)
    await r.store.close()

    second = await rig(tmp_path, clock)
    cleared = r.cleared("inc_1")
    assert (0, 0) == await second.service.catch_up([], {"inc_1": cleared}, history)
    assert "firing" == await second.state("inc_1")
    assert ["VALIDATING"] == [e.state for e in second.kinds("alert.kept")]
    await second.store.close()
