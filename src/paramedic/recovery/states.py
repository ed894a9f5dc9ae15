"""The incident state machine: which moves are legal, and why each one exists.

The seed's section 3.2 draws the happy path (HEALTHY -> FAILURE_DETECTED -> RECOVERY_IN_PROGRESS
-> VALIDATING -> RECOVERED -> HEALTHY) and one failure branch; paramedic adds AWAITING_APPROVAL
(seed 6.3: a human must say yes before some methods run) and the moves a real incident needs.

Durability comes first: `plan_transition` only checks the move and returns the event; the
caller records that event in the store and only then calls `Incident.apply`. A crash between the
two leaves a recorded move that replaying the timeline re-applies, never an unrecorded one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from paramedic.core.clock import Instant
from paramedic.core.errors import RecoveryError
from paramedic.core.failure_events import FailureDetected
from paramedic.core.incident_events import IncidentOpened, IncidentTransitioned

__all__ = [
    "LEGAL_TRANSITIONS",
    "Incident",
    "IncidentState",
    "TransitionRecord",
    "open_incident",
    "plan_transition",
]


class IncidentState(StrEnum):
    """The seed's states (spelled as its status API spells them) plus AWAITING_APPROVAL."""

    HEALTHY = "HEALTHY"
    FAILURE_DETECTED = "FAILURE_DETECTED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    RECOVERY_IN_PROGRESS = "RECOVERY_IN_PROGRESS"
    VALIDATING = "VALIDATING"
    RECOVERED = "RECOVERED"
    RECOVERY_FAILED = "RECOVERY_FAILED"
    MANUAL_RECOVERY = "MANUAL_RECOVERY"


S = IncidentState

LEGAL_TRANSITIONS: dict[IncidentState, dict[IncidentState, str]] = {
    S.HEALTHY: {
        S.FAILURE_DETECTED: "a detector convicted the service (failure.detected)",
    },
    S.FAILURE_DETECTED: {
        S.RECOVERY_IN_PROGRESS: "the decision is automatic and the policy asks no approval",
        S.AWAITING_APPROVAL: "the decision needs a human's yes first (seed 6.3)",
        S.MANUAL_RECOVERY: "the decision is manual, or an operator took over at once",
        S.RECOVERED: "the failure cleared before recovery began (the watchdog's restart "
        "worked); it is still watched before HEALTHY",
        S.HEALTHY: "no recovery plan: the failure cleared (the watchdog's restart worked, or "
        "it healed) and the incident closes",
    },
    S.AWAITING_APPROVAL: {
        # A timeout is deliberately NOT a move: it escalates and the incident stays here,
        # because doing nothing is the only action nobody approved that is always safe.
        S.RECOVERY_IN_PROGRESS: "an operator approved the automatic method",
        S.MANUAL_RECOVERY: "an operator rejected the method, or approved a manual recovery",
        S.RECOVERED: "the failure cleared while waiting; the request is withdrawn",
    },
    S.RECOVERY_IN_PROGRESS: {
        S.VALIDATING: "every step of the method finished; check before trusting it (seed 4)",
        S.RECOVERY_FAILED: "a step of the method failed",
        S.RECOVERY_IN_PROGRESS: "the method could not go on; switch to the next one in the "
        "fallback chain without leaving recovery",
        S.MANUAL_RECOVERY: "an operator aborted the automation and took over",
    },
    S.VALIDATING: {
        S.RECOVERED: "post-recovery validation passed",
        S.RECOVERY_FAILED: "post-recovery validation failed (escalates: validation_failed)",
        S.MANUAL_RECOVERY: "an operator took over during validation",
    },
    S.RECOVERY_FAILED: {
        S.RECOVERY_IN_PROGRESS: "fall back to the next method of the chain (seed 7.4)",
        S.AWAITING_APPROVAL: "the next method of the chain needs a human's yes first",
        S.MANUAL_RECOVERY: "no method left, or too many failures: a human must act",
    },
    S.RECOVERED: {
        S.MANUAL_RECOVERY: "an operator took over while trading resumed",
        S.HEALTHY: "the watch period passed without a relapse",
        S.RECOVERY_FAILED: "the service relapsed within the watch period: the recovery did "
        "not hold",
    },
    S.MANUAL_RECOVERY: {
        S.RECOVERED: "the operator resolved it and wants the watch period",
        S.HEALTHY: "the operator resolved and closed it",
        S.RECOVERY_IN_PROGRESS: "the operator handed it back to an automatic method",
    },
}
"""from -> {to: why this move exists}. Anything absent is refused with a RecoveryError."""


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One applied move, kept on the incident so its history reads without the store."""

    from_state: IncidentState
    to_state: IncidentState
    reason: str
    mono: float
    wall: float
    method: str | None


@dataclass(slots=True)
class Incident:
    """One incident's current state: plain data, changed only by `apply`."""

    id: str
    service: str
    kind: str
    reason: str
    opened_mono: float
    opened_wall: float
    state: IncidentState = IncidentState.FAILURE_DETECTED
    history: list[TransitionRecord] = field(default_factory=list)
    method: str | None = None
    attempts: int = 0
    decision: str | None = None

    @classmethod
    def from_opened(cls, event: IncidentOpened) -> Incident:
        """Build the incident from its recorded opening (live, or replaying the timeline)."""
        incident = cls(
            id=event.incident,
            service=event.service or "",
            kind=event.failure_kind,
            reason=event.reason,
            opened_mono=event.at.mono,
            opened_wall=event.at.wall,
        )
        incident.history.append(
            TransitionRecord(
                S.HEALTHY, S.FAILURE_DETECTED, event.reason, event.at.mono, event.at.wall, None
            )
        )
        return incident

    @property
    def closed(self) -> bool:
        """HEALTHY ends an incident; a new failure opens a new one."""
        return self.state is IncidentState.HEALTHY

    def apply(self, event: IncidentTransitioned) -> None:
        """Apply a move that has been recorded; refuse one planned against another state."""
        if event.incident != self.id:
            msg = f"event for incident {event.incident} applied to incident {self.id}"
            raise RecoveryError(msg)
        if event.from_state != self.state.value:
            msg = (
                f"incident {self.id}: stale move {event.from_state} -> {event.to_state},"
                f" the incident is {self.state.value}"
            )
            raise RecoveryError(msg)
        to = IncidentState(event.to_state)
        self.state = to
        if event.method is not None:
            self.method = event.method
        self.attempts = event.attempt
        self.history.append(
            TransitionRecord(
                IncidentState(event.from_state),
                to,
                event.reason,
                event.at.mono,
                event.at.wall,
                event.method,
            )
        )

    def note_decision(self, sentence: str) -> None:
        """Keep the last decision sentence on the incident, for the dashboard."""
        self.decision = sentence


def open_incident(failure: FailureDetected) -> IncidentOpened:
    """The opening record of the incident a `failure.detected` names (same id, same instant).

    Detection already chose the id, so replaying either record finds the same incident.
    """
    return IncidentOpened(
        at=failure.at,
        service=failure.service,
        incident=failure.incident,
        failure_kind=failure.failure_kind,
        reason=failure.reason,
        source=failure.source,
    )


def plan_transition(
    incident: Incident,
    to: IncidentState,
    reason: str,
    now: Instant,
    *,
    method: str | None = None,
) -> IncidentTransitioned:
    """Check a move and return its event, to be recorded before `Incident.apply`.

    `reason` is the plain sentence shown on the timeline; an empty one is refused because a
    move nobody can explain afterwards is exactly what this machine exists to prevent.
    Entering RECOVERY_IN_PROGRESS counts an attempt (fallbacks included).
    """
    allowed = LEGAL_TRANSITIONS.get(incident.state, {})
    if to not in allowed:
        legal = ", ".join(s.value for s in allowed) or "none"
        msg = (
            f"incident {incident.id}: illegal move {incident.state.value} -> {to.value}"
            f" (legal from {incident.state.value}: {legal})"
        )
        raise RecoveryError(msg)
    if not reason.strip():
        msg = f"incident {incident.id}: move {incident.state.value} -> {to.value} needs a reason"
        raise RecoveryError(msg)
    entering = to is IncidentState.RECOVERY_IN_PROGRESS
    if entering and method is None and incident.method is None:
        msg = f"incident {incident.id}: entering {to.value} needs a recovery method"
        raise RecoveryError(msg)
    return IncidentTransitioned(
        at=now,
        service=incident.service,
        incident=incident.id,
        from_state=incident.state.value,
        to_state=to.value,
        reason=reason,
        method=method,
        attempt=incident.attempts + 1 if entering else incident.attempts,
    )
