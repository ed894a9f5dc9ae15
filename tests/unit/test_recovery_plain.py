"""Incidents of a service without a recovery plan, on a FakeClock: opened, closed, handed
to a human, resolved, and rebuilt after a restart of paramedic."""

from __future__ import annotations

import json

import pytest

from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureCleared, FailureDetected, ServiceUp, WatchdogGaveUp
from paramedic.recovery.plain import PlainIncidents
from paramedic.store.protocol import StoredEvent
from paramedic.store.timeline import decode
from paramedic.testing import FakeClock


class Plain:
    def __init__(self) -> None:
        self.clock = FakeClock(wall=1_767_225_600.0)
        self.events: list[Event] = []
        self.up = False
        self.incidents = self.make()

    def make(self) -> PlainIncidents:
        async def record(event: Event) -> None:
            self.events.append(event)

        return PlainIncidents("api", clock=self.clock, record=record, is_up=lambda: self.up)

    def crash(self, incident: str = "inc_1", *, needs_human: bool = False) -> FailureDetected:
        return FailureDetected(
            at=self.clock.now(),
            service="api",
            incident=incident,
            failure_kind="crash",
            reason="pid 7 killed by SIGKILL",
            source="process",
            needs_human=needs_human,
        )

    def rows(self) -> list[StoredEvent]:
        return [
            StoredEvent(
                i + 1,
                e.id,
                e.kind,
                e.at.mono,
                e.at.wall,
                e.service,
                e.summary(),
                json.loads(json.dumps(e.payload())),
            )
            for i, e in enumerate(self.events)
        ]

    def states(self) -> list[str]:
        return [i.state.value for i in self.incidents.incidents()]


async def test_a_crash_opens_an_incident_and_the_clear_closes_it() -> None:
    """failure.detected -> FAILURE_DETECTED (status and halted resumption say so);
    failure.cleared -> HEALTHY; then trading follows whether the service is up."""
    p = Plain()
    await p.incidents.on_event(p.crash())
    assert ["FAILURE_DETECTED"] == p.states()
    assert ("FAILURE_DETECTED", "pid 7 killed by SIGKILL") == (
        p.incidents.status()["state"],
        p.incidents.status()["status_message"],
    )
    assert "halted" == p.incidents.resumption()["phase"]
    cleared = FailureCleared(
        at=p.clock.now(), service="api", incident="inc_1", downtime_s=0.02, reason="up again"
    )
    await p.incidents.on_event(cleared)
    p.up = True
    assert ["HEALTHY"] == p.states()
    assert ("HEALTHY", 100) == (
        p.incidents.status()["state"],
        p.incidents.status()["progress_percentage"],
    )
    assert "normal" == p.incidents.resumption()["phase"]


async def test_the_watchdog_giving_up_hands_it_to_a_human_who_resolves_it() -> None:
    """watchdog.gave_up -> MANUAL_RECOVERY; a clear does not close a human's incident; the
    operator's resolve does. Approve has nothing to answer."""
    p = Plain()
    await p.incidents.on_event(p.crash())
    gave_up = WatchdogGaveUp(at=p.clock.now(), service="api", restarts=5, window_s=300.0)
    await p.incidents.on_event(gave_up)
    assert ["MANUAL_RECOVERY"] == p.states()
    with pytest.raises(RecoveryError, match="no recovery plan, nothing to approve"):
        await p.incidents.approve("inc_1", by="olga", why="go")
    await p.incidents.resolve("inc_1", by="olga", why="fixed the config")
    assert ["HEALTHY"] == p.states()


async def test_an_incident_left_open_by_a_previous_run_closes_on_the_first_up() -> None:
    """Rebuilt from the timeline, the open incident is still there; the first service.up of
    the new run closes it."""
    p = Plain()
    await p.incidents.on_event(p.crash())
    rows = p.rows()
    p.events.clear()
    p.incidents = p.make()
    await p.incidents.rebuild(decode(rows))
    assert ["FAILURE_DETECTED"] == p.states()
    await p.incidents.on_event(ServiceUp(at=p.clock.now(), service="api", reason="probe ok"))
    assert ["HEALTHY"] == p.states()
