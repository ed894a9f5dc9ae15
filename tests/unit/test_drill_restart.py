"""A drill's labels survive a restart of paramedic and last as long as its incident (FakeClock,
a real SQLite timeline, a real bus; a "restart" is a second Drills on the same store).

What makes the service's alerts a drill's is read back from the store (`drill.started`, its
`drill.finished`, the incident events after it) before anything could page; a drill handed
to a human (MANUAL_RECOVERY) or timed out still labels its incident's pages until the
incident is HEALTHY or superseded, so the real ladder is never paged for a game day."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from paramedic.core.bus import EventBus, Subscription
from paramedic.core.drill_events import DrillFinished, DrillStarted
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureDetected
from paramedic.core.incident_events import IncidentOpened, IncidentTransitioned
from paramedic.runtime.drills import Drills
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock
from tests.unit.test_drills import config

LABELS = {"drill": "drl_x", "drill_to": "backup-oncall"}


class Rig:
    def __init__(self, tmp_path: Path, store: SQLiteStore) -> None:
        self.tmp_path, self.store = tmp_path, store
        self.clock = FakeClock()
        self.bus = EventBus(store)
        self.ends: Subscription = self.bus.subscribe("ends", "drill.finished")
        self.drills = self.restarted()

    def restarted(self) -> Drills:
        """A new Drills on the same store and bus: what a restart of paramedic builds."""
        return Drills(
            config(self.tmp_path),
            clock=self.clock,
            bus=self.bus,
            record=self.bus.publish,
            store=self.store,
            pid_of=lambda name: None,
            session=lambda: None,
        )

    async def publish(self, event: Event) -> None:
        await self.bus.publish(event)

    async def finished(self) -> dict[str, Any]:
        published = await asyncio.wait_for(self.ends.queue.get(), 10)
        return published.event.payload()

    def started(self, timeout_s: float = 60) -> DrillStarted:
        return DrillStarted(
            at=self.clock.now(),
            service="engine",
            drill="drl_x",
            drill_kind="crash",
            contacts=("backup-oncall",),
            by="olga",
            timeout_s=timeout_s,
            target_rto_s=30,
        )

    def failure(self, incident: str = "inc_1") -> FailureDetected:
        return FailureDetected(
            at=self.clock.now(),
            service="engine",
            incident=incident,
            failure_kind="crash",
            reason="exited on SIGKILL",
            source="process",
        )

    def move(self, to: str, incident: str = "inc_1") -> IncidentTransitioned:
        return IncidentTransitioned(
            at=self.clock.now(),
            service="engine",
            incident=incident,
            from_state="x",
            to_state=to,
            reason=f"to {to}",
        )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    rig = Rig(tmp_path, store)
    yield rig
    await rig.drills.stop()
    await store.close()


async def test_a_drill_cut_off_mid_incident_labels_again_and_follows_it_to_its_end(
    rig: Rig,
) -> None:
    """Killed while the drill's incident recovers: `restore` (before alerting resumes)
    labels the service's alerts as the drill's again, naming its contacts; after `load`
    the drill follows that same incident, and its HEALTHY finishes the drill ok with the
    incident named; no label after that."""
    await rig.publish(rig.started())
    await rig.publish(rig.failure())
    await rig.publish(rig.move("RECOVERY_IN_PROGRESS"))
    rig.drills = rig.restarted()
    assert {} == rig.drills.labels("engine")
    await rig.drills.restore()
    assert LABELS == rig.drills.labels("engine")
    await rig.drills.load()
    assert "drl_x" == rig.drills.running("engine")
    await rig.publish(rig.move("HEALTHY"))
    finished = await rig.finished()
    assert ("HEALTHY", True, "inc_1") == (
        finished["outcome"],
        finished["ok"],
        finished["incident"],
    )
    assert {} == rig.drills.labels("engine")
    assert rig.clock.wall() == rig.drills.last_success["engine"]


async def test_an_incident_that_went_to_a_human_while_down_finishes_the_drill_and_stays_its(
    rig: Rig,
) -> None:
    """The incident went to MANUAL_RECOVERY before the drill's end was recorded: the restart
    finishes the drill MANUAL_RECOVERY, yet the service's alerts (the manual escalation
    pages) keep the drill's labels until the incident is HEALTHY; another restart in
    between reads the same from the store."""
    await rig.publish(rig.started())
    await rig.publish(rig.failure())
    await rig.publish(rig.move("MANUAL_RECOVERY"))
    await rig.drills.stop()
    rig.drills = rig.restarted()
    await rig.drills.load()
    finished = await rig.finished()
    assert ("MANUAL_RECOVERY", False, "inc_1") == (
        finished["outcome"],
        finished["ok"],
        finished["incident"],
    )
    assert LABELS == rig.drills.labels("engine")
    assert rig.drills.running("engine") is None
    rig.drills = rig.restarted()
    await rig.drills.restore()
    assert LABELS == rig.drills.labels("engine")
    await rig.publish(rig.move("HEALTHY"))
    assert {} == rig.drills.labels("engine")


async def test_a_timed_out_drill_labels_its_open_incident_until_another_supersedes_it(
    rig: Rig,
) -> None:
    """Live, no restart: the drill times out while its incident is open (`timeout`); the
    service's alerts keep its labels; a new incident of the service (a relapse) supersedes
    it and is not the drill's: no label. A restart reads that from the store too."""
    injected = rig.bus.subscribe("test", "drill.injected")
    drill = await rig.drills.start("engine", "latency", by="olga", follow_s=30)
    await asyncio.wait_for(injected.queue.get(), 10)  # the hook is a real program
    await rig.publish(rig.failure())
    await asyncio.sleep(0)
    rig.clock.advance(30)
    finished = await rig.finished()
    assert ("timeout", "inc_1") == (finished["outcome"], finished["incident"])
    assert {"drill": drill, "drill_to": "oncall"} == rig.drills.labels("engine")
    later = rig.restarted()
    await later.restore()
    assert {"drill": drill, "drill_to": "oncall"} == later.labels("engine")
    await rig.publish(
        IncidentOpened(
            at=rig.clock.now(),
            service="engine",
            incident="inc_2",
            failure_kind="crash",
            reason="again",
        )
    )
    assert {} == rig.drills.labels("engine")
    assert {} == later.labels("engine")
    again = rig.restarted()
    await again.restore()
    assert {} == again.labels("engine")


async def test_a_finished_healthy_drill_or_an_unconfigured_service_labels_nothing(
    rig: Rig,
) -> None:
    """A drill that ended HEALTHY labels nothing after a restart; a drill of a service no
    longer in the config is finished `interrupted` and labels nothing either."""
    await rig.publish(rig.started())
    await rig.publish(rig.failure())
    await rig.publish(
        DrillFinished(
            at=rig.clock.now(),
            service="engine",
            drill="drl_x",
            outcome="HEALTHY",
            ok=True,
            incident="inc_1",
            sentence="to HEALTHY",
        )
    )
    gone = DrillStarted(
        at=rig.clock.now(),
        service="retired",
        drill="drl_gone",
        drill_kind="crash",
        contacts=("oncall",),
        by="olga",
        timeout_s=60,
        target_rto_s=30,
    )
    await rig.publish(gone)
    rig.drills = rig.restarted()
    await rig.drills.load()
    await rig.finished()  # the one published above
    finished = await rig.finished()
    assert ("drl_gone", "interrupted") == (finished["drill"], finished["outcome"])
    assert {} == rig.drills.labels("engine")
    assert {} == rig.drills.labels("retired")


async def test_a_drill_cut_off_by_a_planned_stop_keeps_labelling_its_open_incident(
    rig: Rig,
) -> None:
    """A planned stop while the drill's incident is open finishes the drill `interrupted`,
    naming the incident; the next start labels that incident's pages as the drill's until
    it is HEALTHY."""
    injected = rig.bus.subscribe("test", "drill.injected")
    drill = await rig.drills.start("engine", "latency", by="olga", follow_s=600)
    await asyncio.wait_for(injected.queue.get(), 10)  # the hook is a real program
    await rig.publish(rig.failure())
    await rig.drills.stop()
    finished = await rig.finished()
    assert ("interrupted", "inc_1") == (finished["outcome"], finished["incident"])
    rig.drills = rig.restarted()
    await rig.drills.load()
    assert {"drill": drill, "drill_to": "oncall"} == rig.drills.labels("engine")
    assert rig.drills.running("engine") is None
    await rig.publish(rig.move("HEALTHY"))
    assert {} == rig.drills.labels("engine")
