"""Alerting events on the timeline: what was raised, sent, held back, escalated, answered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from paramedic.core.events import Event, register_event

__all__ = [
    "AlertAckExpired",
    "AlertAcknowledged",
    "AlertEscalated",
    "AlertHeld",
    "AlertKept",
    "AlertRaised",
    "AlertReleased",
    "AlertResolved",
]


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRaised(Event):
    """An incident or escalation trigger became an alert, with its severity and why."""

    kind: ClassVar[str] = "alert.raised"
    alert_id: str
    severity: str
    title: str
    severity_reason: str
    receivers: tuple[str, ...]

    def summary(self) -> str:
        to = ", ".join(self.receivers) or "nobody"
        return f"[{self.severity}] {self.title} -> {to} ({self.severity_reason})"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertHeld(Event):
    """A notification was not sent (deduplicated, grouped, rate limited, silenced,
    inhibited, in a maintenance window): recorded, never silently dropped."""

    kind: ClassVar[str] = "alert.held"
    alert_id: str
    receiver: str
    reason: str

    def summary(self) -> str:
        return f"alert {self.alert_id} not sent to {self.receiver}: {self.reason}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertKept(Event):
    """The failure cleared while its incident's recovery is still open (recovering,
    validating, resuming, manual): the alert stays firing until the incident is recovered
    (HEALTHY) or a human resolves it, so nobody is told "resolved" before a validation."""

    kind: ClassVar[str] = "alert.kept"
    alert_id: str
    incident: str
    state: str
    reason: str

    def summary(self) -> str:
        return f"alert {self.alert_id} kept firing: {self.reason}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertReleased(Event):
    """What held an alert back for everyone (an inhibiting alert, a silence, a maintenance
    window, the alert it duplicated) is gone while it still fires: it is paged now."""

    kind: ClassVar[str] = "alert.released"
    alert_id: str
    was: str
    receivers: tuple[str, ...]
    why: str = ""  # what ended the hold, when it is known ("silence ... expired by olga")

    def summary(self) -> str:
        to = ", ".join(self.receivers) or "nobody"
        ended = f"; {self.why}" if self.why else ""
        return f"alert {self.alert_id} still firing and no longer held ({self.was}{ended}): -> {to}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEscalated(Event):
    """An escalation rung fired: the next people are paged."""

    kind: ClassVar[str] = "alert.escalated"
    alert_id: str
    level: int
    step: str
    contacts: tuple[str, ...]
    reason: str

    def summary(self) -> str:
        return (
            f"alert {self.alert_id} escalated to level {self.level} ({self.step}):"
            f" {', '.join(self.contacts)}; {self.reason}"
        )


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAcknowledged(Event):
    """Someone took the alert; escalation pauses until resolved or the ack expires."""

    kind: ClassVar[str] = "alert.acknowledged"
    alert_id: str
    by: str
    why: str

    def summary(self) -> str:
        return f"alert {self.alert_id} acknowledged by {self.by}: {self.why}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertResolved(Event):
    """The alert is over; every channel that got the trigger gets the resolve."""

    kind: ClassVar[str] = "alert.resolved"
    alert_id: str
    by: str
    why: str

    def summary(self) -> str:
        return f"alert {self.alert_id} resolved by {self.by}: {self.why}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAckExpired(Event):
    """An acknowledgement lapsed with the alert unresolved: the ladder escalates again."""

    kind: ClassVar[str] = "alert.ack_expired"
    alert_id: str
    by: str
    expired_wall: float

    def summary(self) -> str:
        return f"alert {self.alert_id}: acknowledgement by {self.by} expired; escalating again"
