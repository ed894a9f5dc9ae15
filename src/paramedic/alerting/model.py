"""The alert: its identity, its loudness, and what a person must read.

An alert is a value: each change (acknowledge, resolve, new status) makes a new one, so a
notification can carry exactly what was true when it was sent, and the store can keep that.
The label matchers rules are written in are in `core/labels.py`, severities in
`core/severity.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from paramedic.core.failure_events import FailureDetected
from paramedic.core.severity import Severity

__all__ = [
    "Ack",
    "Alert",
    "AlertState",
    "alert_from_failure",
    "alert_id",
    "dashboard_link",
]

AlertState = Literal["firing", "acknowledged", "resolved"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """Who took the alert and why; `expires_mono` lets an ack lapse if nobody follows up.

    The ladder acts on the monotonic times; the wall times are what people and clients read
    (a monotonic reading means nothing outside this process)."""

    by: str
    why: str
    at_wall: float
    at_mono: float
    expires_mono: float | None = None
    expires_wall: float | None = None


def alert_id(incident: str, trigger: str) -> str:
    """Stable across restarts and retries, so channels can dedup (PagerDuty's dedup_key)."""
    return f"{incident}:{trigger}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert: its identity, its loudness, and the seed's eight things a person must read."""

    id: str
    type: str
    source: str
    severity: Severity
    title: str
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    what: str = ""
    when_wall: float = 0.0
    impact: str = ""
    status: str = ""
    actions: tuple[str, ...] = ()
    eta: str = ""
    runbook: str = ""
    dashboard: str = ""
    on_call: tuple[str, ...] = ()
    state: AlertState = "firing"
    ack: Ack | None = None
    severity_reason: str = ""
    incident: str | None = None

    def __post_init__(self) -> None:
        # a frozen alert must not share a mutable dict with its creator
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))

    @property
    def key(self) -> tuple[str, str]:
        """The dedup key of the seed's 2.6: same type from the same source is the same alert."""
        return (self.type, self.source)

    def all_labels(self) -> dict[str, str]:
        """Labels plus severity, type, source and state, for matchers and routing."""
        return {
            **self.labels,
            "severity": self.severity,
            "type": self.type,
            "source": self.source,
            "state": self.state,
        }

    def acknowledge(self, ack: Ack) -> Alert:
        return replace(self, state="acknowledged", ack=ack)

    def unacknowledge(self) -> Alert:
        return replace(self, state="firing", ack=None)

    def resolve(self, status: str = "") -> Alert:
        return replace(self, state="resolved", status=status or self.status)


def alert_from_failure(
    event: FailureDetected,
    severity: Severity,
    severity_reason: str,
    *,
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
    impact: str = "",
    runbook: str = "",
    dashboard: str = "",
    on_call: tuple[str, ...] = (),
    eta: str = "",
) -> Alert:
    """The alert an incident opens with: the detector's sentence is the "What"."""
    service = event.service or event.source
    merged = {"service": service, "kind": event.failure_kind, **(labels or {})}
    return Alert(
        id=alert_id(event.incident, "failure"),
        type=event.failure_kind,
        source=service,
        severity=severity,
        title=title or f"{service} {event.failure_kind}",
        labels=merged,
        what=event.reason,
        when_wall=event.at.wall,
        impact=impact,
        # Where the recovery is then goes on in the alert's updates (`live_status.py`).
        status="human action needed" if event.needs_human else "detected",
        eta=eta,
        runbook=runbook,
        dashboard=dashboard,
        on_call=on_call,
        severity_reason=severity_reason,
        incident=event.incident,
    )


def dashboard_link(url: str, incident: str) -> str:
    """`dashboard_url` as configured, `{incident}` in it replaced by the incident's id (a
    dashboard that shows one incident; the default is the console's incident page); empty
    stays empty."""
    return url.replace("{incident}", incident)
