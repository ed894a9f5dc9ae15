"""Events of an incident's recovery: what was decided, approved, run, and escalated.

They are the only way the recovery room speaks to the rest of paramedic: each is recorded
durably before anything acts on it, so the timeline alone explains an incident afterwards.
Payloads stay JSON-friendly (str, int, float, bool, tuples) so the store needs no migration.
Recovery produces them; they live in core because alerting and the screens read them too, and
those rooms do not import recovery. Their `kind` strings and payloads are stored: they never
change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from paramedic.core.events import Event, register_event
from paramedic.core.text import duration

__all__ = [
    "ESCALATION_TRIGGERS",
    "ApprovalGranted",
    "ApprovalRejected",
    "ApprovalRequested",
    "ApprovalTimedOut",
    "EscalationTrigger",
    "EscalationTriggered",
    "IncidentDocumented",
    "IncidentOpened",
    "IncidentTransitioned",
    "LessonsCaptured",
    "RecoveryDecided",
    "RecoveryFinished",
    "RecoveryProgress",
    "RecoveryStepFinished",
    "RecoveryStepStarted",
    "ResumptionPhaseEntered",
    "ValidationChecked",
]

EscalationTrigger = Literal[
    "rto_exceeded",
    "recovery_failed",
    "repeated_failures",
    "data_corruption",
    "validation_failed",
    "approval_timeout",
]
"""The seed's section 7.1 triggers, one name each, so routing rules can match on them."""

ESCALATION_TRIGGERS: tuple[EscalationTrigger, ...] = (
    "rto_exceeded",
    "recovery_failed",
    "repeated_failures",
    "data_corruption",
    "validation_failed",
    "approval_timeout",
)


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentOpened(Event):
    """An incident exists from this record on; it quotes the failure that opened it."""

    kind: ClassVar[str] = "incident.opened"
    incident: str
    failure_kind: str
    reason: str
    source: str = ""

    def summary(self) -> str:
        return (
            f"{self.service}: incident {self.incident} opened: {self.failure_kind}: {self.reason}"
        )


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentTransitioned(Event):
    """One move of the incident state machine, with the sentence that justified it."""

    kind: ClassVar[str] = "incident.transitioned"
    incident: str
    from_state: str
    to_state: str
    reason: str
    method: str | None = None
    attempt: int = 0

    def summary(self) -> str:
        return (
            f"{self.service}: incident {self.incident} {self.from_state} -> {self.to_state}:"
            f" {self.reason}"
        )


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryDecided(Event):
    """The decision loop chose a method; `sentence` is what people read on every screen."""

    kind: ClassVar[str] = "recovery.decided"
    incident: str
    method: str
    requires_approval: bool
    sentence: str
    fallback_chain: tuple[str, ...] = ()
    # What the decision saw (checkpoint age, standby...), (key, value) pairs: the facts
    # every step of the run is told, the same after a restart of paramedic.
    facts: tuple[tuple[str, Any], ...] = ()

    def summary(self) -> str:
        gate = " (needs approval)" if self.requires_approval else ""
        return f"{self.service}: {self.sentence}{gate}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequested(Event):
    """A human must approve `method` before anything runs; nothing happens until then."""

    kind: ClassVar[str] = "approval.requested"
    incident: str
    method: str
    sentence: str
    timeout_s: float
    market_open: bool

    def summary(self) -> str:
        market = "market open" if self.market_open else "market closed"
        return (
            f"{self.service}: approval needed for {self.method} ({market}), within"
            f" {duration(self.timeout_s)}: {self.sentence}"
        )


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalGranted(Event):
    """An audited approval: who approved, and why, stay on the record."""

    kind: ClassVar[str] = "approval.granted"
    incident: str
    method: str
    by: str
    why: str
    late: bool = False

    def summary(self) -> str:
        late = " (after the approval timeout)" if self.late else ""
        return f"{self.service}: {self.method} approved by {self.by}{late}: {self.why}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRejected(Event):
    """An audited rejection: the incident goes to a human instead of the proposed method."""

    kind: ClassVar[str] = "approval.rejected"
    incident: str
    method: str
    by: str
    why: str
    late: bool = False

    def summary(self) -> str:
        late = " (after the approval timeout)" if self.late else ""
        return f"{self.service}: {self.method} rejected by {self.by}{late}: {self.why}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalTimedOut(Event):
    """No one answered in time; nothing was done, the request stays open and escalates."""

    kind: ClassVar[str] = "approval.timed_out"
    incident: str
    method: str
    waited_s: float

    def summary(self) -> str:
        return (
            f"{self.service}: no answer on {self.method} after {duration(self.waited_s)};"
            " no action taken, escalating"
        )


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryStepStarted(Event):
    """A step of a recovery run began (index is 1-based, as people count)."""

    kind: ClassVar[str] = "recovery.step_started"
    incident: str
    step: str
    index: int
    total: int

    def summary(self) -> str:
        return f"{self.service}: step {self.index}/{self.total} started: {self.step}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryStepFinished(Event):
    """A step ended; its duration feeds the next run's ETA, so it is always recorded."""

    kind: ClassVar[str] = "recovery.step_finished"
    incident: str
    step: str
    ok: bool
    duration_s: float
    detail: str = ""

    def summary(self) -> str:
        outcome = "done" if self.ok else "FAILED"
        tail = f": {self.detail}" if self.detail else ""
        return f"{self.service}: step {self.step} {outcome} in {duration(self.duration_s)}{tail}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryProgress(Event):
    """A progress snapshot (seed 3.3); `eta_wall` is None while no estimate is possible."""

    kind: ClassVar[str] = "recovery.progress"
    incident: str
    state: str
    percentage: int
    current_step: str
    status_message: str
    completed_steps: tuple[str, ...] = ()
    remaining_steps: tuple[str, ...] = ()
    eta_wall: float | None = None
    eta_source: str | None = None

    def summary(self) -> str:
        return f"{self.service}: [{self.percentage}%] {self.current_step}: {self.status_message}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryFinished(Event):
    """A recovery run ended, well or not; `duration_s` is measured on the monotonic clock."""

    kind: ClassVar[str] = "recovery.finished"
    incident: str
    method: str
    ok: bool
    duration_s: float
    reason: str

    def summary(self) -> str:
        outcome = "recovered" if self.ok else "recovery failed"
        took = duration(self.duration_s)
        return f"{self.service}: {outcome} by {self.method} in {took}: {self.reason}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationTriggered(Event):
    """One of the seed's 7.1 triggers fired; alerting decides whom it wakes."""

    kind: ClassVar[str] = "escalation.triggered"
    incident: str
    trigger: EscalationTrigger
    reason: str
    checks: tuple[str, ...] = ()
    """The failing checks' names, for a validation failure (also named in `reason`)."""
    rto_target_s: float | None = None
    """The recovery's target RTO, for `rto_exceeded` (the page compares it with the outage)."""

    def summary(self) -> str:
        return f"{self.service}: escalation ({self.trigger}): {self.reason}"


CheckOutcome = tuple[str, bool, bool, str, float]
"""One validation check as stored: (name, ok, critical, sentence, duration_s)."""


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationChecked(Event):
    """One validation window's verdict with every check's outcome: the immediate window once,
    a short/medium window at its first critical failure or when all the windows passed.
    The post-mortem reads these, not the notes written beside them."""

    kind: ClassVar[str] = "validation.checked"
    incident: str
    window: str
    ok: bool
    sentence: str
    checks: tuple[CheckOutcome, ...] = ()

    def summary(self) -> str:
        return f"{self.service}: incident {self.incident}: {self.sentence}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ResumptionPhaseEntered(Event):
    """Trading resumption entered a phase, or held one after a failed gate."""

    kind: ClassVar[str] = "resumption.phase"
    incident: str
    phase: str
    multiplier: float
    held: bool
    sentence: str

    def summary(self) -> str:
        held = " (held)" if self.held else ""
        return (
            f"{self.service}: incident {self.incident}: resumption {self.phase}"
            f" at {self.multiplier:g}x{held}: {self.sentence}"
        )


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentDocumented(Event):
    """The incident's report was generated for the first time (the checklist's "incident
    documented"); who asked for it, in which format."""

    kind: ClassVar[str] = "incident.documented"
    incident: str
    by: str
    format: str

    def summary(self) -> str:
        fmt = self.format
        return f"{self.service}: incident {self.incident} documented ({fmt} report, {self.by})"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class LessonsCaptured(Event):
    """An operator wrote the lessons learned of an incident; the latest text is the one shown."""

    kind: ClassVar[str] = "incident.lessons"
    incident: str
    by: str
    text: str

    def summary(self) -> str:
        return f"{self.service}: incident {self.incident}: lessons learned written by {self.by}"
