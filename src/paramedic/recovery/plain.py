"""Incidents of a service without a recovery plan: every crash is one a user can find.

A plain supervised service is restarted by its watchdog (restart policy, backoff, burst
limit), not by a recovery plan. Its failures still deserve an incident record: opened on
`failure.detected` (same id), closed HEALTHY on the matching `failure.cleared` (the restart
worked, or it healed), handed to a human when the watchdog gives up. `/api/incidents` and
`/recovery/status` read these exactly as they read a planned service's incidents.

No decision, approval or resumption phases here: there is no plan to run. An operator can
still take an incident to manual (it stays open until resolved, whatever the watchdog does)
and resolve it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from paramedic.core.clock import Clock
from paramedic.core.contracts import Record
from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureCleared, FailureDetected, ServiceUp, WatchdogGaveUp
from paramedic.core.text import duration
from paramedic.recovery.orchestrator.replay import replay
from paramedic.recovery.orchestrator.views import resumption_body, status_body
from paramedic.recovery.states import Incident, IncidentState, open_incident, plan_transition

__all__ = ["IncidentOwner", "PlainIncidents"]

S = IncidentState
_KEEP_CLOSED = 100  # closed incidents kept in memory; the timeline keeps them all


class IncidentOwner(Protocol):
    """What the API reads and asks of one service's incidents, planned or plain."""

    service: str

    def incidents(self) -> list[Incident]: ...
    def status(self) -> dict[str, Any]: ...
    def resumption(self) -> dict[str, Any]: ...
    def sizing(self, incident_id: str) -> dict[str, Any] | None: ...
    async def approve(self, incident_id: str, *, by: str, why: str) -> None: ...
    async def reject(self, incident_id: str, *, by: str, why: str) -> None: ...
    async def take_manual(self, incident_id: str, *, by: str, why: str) -> None: ...
    async def resolve(self, incident_id: str, *, by: str, why: str) -> None: ...


class PlainIncidents:
    """The incidents of one service that has no `recovery:` plan."""

    def __init__(
        self,
        service: str,
        *,
        clock: Clock,
        record: Record,
        is_up: Callable[[], bool],
    ) -> None:
        self.service = service
        self._clock, self._record, self._is_up = clock, record, is_up
        self._incidents: dict[str, Incident] = {}
        self._lock = asyncio.Lock()  # events are handled one at a time, in bus order

    # -- reading -------------------------------------------------------------------------

    def incidents(self) -> list[Incident]:
        return list(self._incidents.values())

    def _current(self) -> Incident | None:
        incidents = list(self._incidents.values())
        open_ones = [i for i in incidents if not i.closed]
        found = open_ones or incidents
        return found[-1] if found else None

    def status(self) -> dict[str, Any]:
        return status_body(self._current(), None, self._clock.wall())

    def resumption(self) -> dict[str, Any]:
        """Halted while an incident is open; otherwise whether the service is up."""
        current = self._current()
        if current is not None and not current.closed:
            return resumption_body(current, None)
        up = self._is_up()
        return {
            "phase": "normal" if up else "halted",
            "size_multiplier": 1.0 if up else 0.0,
            "should_trade": up,
            "since": None,
        }

    def sizing(self, incident_id: str) -> dict[str, Any] | None:
        return None

    # -- events in -----------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        """failure.detected opens, failure.cleared (or the first service.up after a restart
        of paramedic) closes, watchdog.gave_up hands it to a human."""
        if event.service != self.service:
            return
        async with self._lock:
            if isinstance(event, FailureDetected):
                await self._opened(event)
            elif isinstance(event, FailureCleared):
                incident = self._incidents.get(event.incident)
                if incident is not None and incident.state is S.FAILURE_DETECTED:
                    why = f"healthy again after {duration(event.downtime_s)}: {event.reason}"
                    await self._move(incident, S.HEALTHY, why)
                    self._trim()
            elif isinstance(event, ServiceUp):
                # Up for the first time since paramedic started: an incident a previous run
                # left open will never see its failure.cleared (that run's verdict is gone).
                for incident in self._incidents.values():
                    if incident.state is S.FAILURE_DETECTED:
                        why = f"up again after paramedic restarted: {event.reason}"
                        await self._move(incident, S.HEALTHY, why)
                self._trim()
            elif isinstance(event, WatchdogGaveUp):
                for incident in self._incidents.values():
                    if incident.state is S.FAILURE_DETECTED:
                        why = (
                            f"the watchdog gave up after {event.restarts} restarts in"
                            f" {duration(event.window_s)}; a human must act"
                        )
                        await self._move(incident, S.MANUAL_RECOVERY, why)

    async def _opened(self, event: FailureDetected) -> None:
        if event.incident in self._incidents:
            return
        opened = open_incident(event)
        await self._record(opened)
        incident = Incident.from_opened(opened)
        incident.note_decision("no recovery plan: the watchdog's restart policy applies")
        self._incidents[incident.id] = incident
        if event.needs_human:
            await self._move(incident, S.MANUAL_RECOVERY, f"{event.reason}; a human must act")

    async def rebuild(self, events: list[Event]) -> None:
        """The incidents the timeline holds; an open one waits for its clear, as before."""
        for rep in replay(events, self.service).values():
            rep.incident.note_decision("no recovery plan: the watchdog's restart policy applies")
            self._incidents.setdefault(rep.incident.id, rep.incident)
        self._trim()

    # -- a human's hands -----------------------------------------------------------------

    async def approve(self, incident_id: str, *, by: str, why: str) -> None:
        self._need(incident_id)
        msg = f"incident {incident_id}: {self.service} has no recovery plan, nothing to approve"
        raise RecoveryError(msg)

    async def reject(self, incident_id: str, *, by: str, why: str) -> None:
        await self.approve(incident_id, by=by, why=why)

    async def take_manual(self, incident_id: str, *, by: str, why: str) -> None:
        async with self._lock:
            incident = self._need(incident_id)
            if incident.state is not S.FAILURE_DETECTED:
                msg = f"incident {incident_id} is {incident.state.value}; it cannot be taken over"
                raise RecoveryError(msg)
            await self._move(incident, S.MANUAL_RECOVERY, f"{by} took over manually: {why}")

    async def resolve(self, incident_id: str, *, by: str, why: str) -> None:
        async with self._lock:
            incident = self._need(incident_id)
            if incident.state is not S.MANUAL_RECOVERY:
                msg = (
                    f"incident {incident_id} is {incident.state.value}; only an incident in"
                    " manual recovery is resolved by hand (take it to manual first)"
                )
                raise RecoveryError(msg)
            await self._move(incident, S.HEALTHY, f"resolved by {by}: {why}")
            self._trim()

    # -- plumbing ------------------------------------------------------------------------

    def _need(self, incident_id: str) -> Incident:
        incident = self._incidents.get(incident_id)
        if incident is None:
            msg = f"incident {incident_id}: unknown to {self.service}"
            raise RecoveryError(msg)
        return incident

    async def _move(self, incident: Incident, to: IncidentState, reason: str) -> None:
        event = plan_transition(incident, to, reason, self._clock.now())
        await self._record(event)
        incident.apply(event)

    def _trim(self) -> None:
        closed = [i.id for i in self._incidents.values() if i.closed]
        for incident_id in closed[:-_KEEP_CLOSED]:
            del self._incidents[incident_id]
