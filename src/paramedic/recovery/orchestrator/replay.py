"""Read a service's timeline back into incidents, and say where each open one stands.

Replay is pure: it turns stored rows into `Replayed` records and decides nothing about the
world. What to do with an incident (resume, re-arm, hand to a human) is the orchestrator's
call, made from what these records prove was durable before paramedic stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import structlog

from paramedic.config.recovery_policy import Method
from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event
from paramedic.core.incident_events import (
    ApprovalGranted,
    ApprovalRejected,
    ApprovalRequested,
    ApprovalTimedOut,
    IncidentOpened,
    IncidentTransitioned,
    RecoveryDecided,
    RecoveryFinished,
    RecoveryStepFinished,
    RecoveryStepStarted,
)
from paramedic.recovery.decision import Decision
from paramedic.recovery.states import Incident, IncidentState

__all__ = ["Replayed", "StepMark", "replay"]

log = structlog.get_logger("paramedic.recovery")


@dataclass(slots=True)
class StepMark:
    """The last step of the current method run: started, and maybe finished."""

    started: RecoveryStepStarted
    finished: RecoveryStepFinished | None = None


@dataclass(slots=True)
class Replayed:
    """One incident as the timeline left it."""

    incident: Incident
    decision: Decision | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    approval: ApprovalRequested | None = None
    approval_outcome: str | None = None
    approval_timeouts: int = 0
    approval_last_wall: float = 0.0  # the request's, or its last timeout's, wall time
    run_method: str | None = None
    last_step: StepMark | None = None
    entered_wall: float = 0.0
    failures_wall: list[float] = field(default_factory=list)
    success_recorded: bool = False  # a recovery.finished ok since the last RECOVERED
    failed_after_recovered: bool = False  # RECOVERY_FAILED entered from RECOVERED
    recovered_from: str = ""  # the state the last move to RECOVERED came from
    validations_s: list[float] = field(default_factory=list)  # passed immediate validations


def replay(events: list[Event], service: str) -> dict[str, Replayed]:
    """Incidents of `service` by id, in the order they opened (dicts keep insertion order)."""
    found: dict[str, Replayed] = {}
    for event in events:
        if event.service != service:
            continue
        if isinstance(event, IncidentOpened):
            if event.incident not in found:
                inc = Incident.from_opened(event)
                found[event.incident] = Replayed(inc, entered_wall=event.at.wall)
            continue
        incident_id = getattr(event, "incident", None)
        rep = found.get(incident_id) if isinstance(incident_id, str) else None
        if rep is None:
            continue
        _apply(rep, event)
    return found


def _apply(rep: Replayed, event: Event) -> None:
    if isinstance(event, IncidentTransitioned):
        try:
            rep.incident.apply(event)
        except RecoveryError as exc:  # a stale record must not stop the rest of the replay
            log.warning("replay skipped a move", incident=rep.incident.id, error=str(exc))
            return
        rep.failed_after_recovered = (event.from_state, event.to_state) == (
            "RECOVERED",
            "RECOVERY_FAILED",
        )
        if (event.from_state, event.to_state) == ("VALIDATING", "RECOVERED"):
            rep.validations_s.append(max(0.0, event.at.wall - rep.entered_wall))
        rep.entered_wall = event.at.wall
        if event.to_state == IncidentState.RECOVERED.value:
            rep.success_recorded, rep.recovered_from = False, event.from_state
        if event.to_state == IncidentState.RECOVERY_IN_PROGRESS.value:
            rep.run_method = rep.incident.method
            rep.last_step = None
    elif isinstance(event, RecoveryDecided):
        rep.incident.note_decision(event.sentence)
        rep.facts = dict(event.facts)
        rep.decision = Decision(
            method=cast(Method, event.method),
            requires_approval=event.requires_approval,
            sentence=event.sentence,
            fallback_chain=tuple(cast(Method, m) for m in event.fallback_chain),
        )
    elif isinstance(event, ApprovalRequested):
        rep.approval, rep.approval_outcome = event, None
        rep.approval_timeouts, rep.approval_last_wall = 0, event.at.wall
    elif isinstance(event, ApprovalGranted):
        rep.approval_outcome = "granted"
    elif isinstance(event, ApprovalRejected):
        rep.approval_outcome = "rejected"
    elif isinstance(event, ApprovalTimedOut):
        # Still open: a timeout escalates, it does not answer (see approval.py).
        rep.approval_timeouts += 1
        rep.approval_last_wall = event.at.wall
    elif isinstance(event, RecoveryStepStarted):
        rep.last_step = StepMark(event)
    elif isinstance(event, RecoveryStepFinished):
        mark = rep.last_step
        if mark is not None and mark.started.step == event.step:
            mark.finished = event
    elif isinstance(event, RecoveryFinished):
        if event.ok:
            rep.success_recorded = True
        else:
            rep.failures_wall.append(event.at.wall)
