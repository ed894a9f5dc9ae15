"""Failure events: the verdicts of detection that every other room acts on.

`FailureDetected` is the one incident-opening event per real failure: recovery opens an
incident from it, alerting pages from it. They live in core (not in detect, which produces
them) so that recovery and alerting read them without importing detection; their `kind`
strings and payloads are stored, so they never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from paramedic.core.events import Event, register_event
from paramedic.core.text import duration

__all__ = [
    "FailureCleared",
    "FailureDetected",
    "ServiceUp",
    "WatchdogGaveUp",
]


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class FailureDetected(Event):
    """A service went down: opens exactly one incident. `reason` is one plain sentence."""

    kind: ClassVar[str] = "failure.detected"
    incident: str
    failure_kind: str
    reason: str
    source: str
    evidence: tuple[str, ...] = ()
    upstream_down: tuple[str, ...] = ()
    needs_human: bool = False
    severity: str | None = None  # stated by the source (Alertmanager's label), else None

    def summary(self) -> str:
        return f"{self.service}: {self.failure_kind}: {self.reason}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class FailureCleared(Event):
    """The incident's failure has been absent for the hysteresis count: it is over. Other
    kinds may still be open on the service (each clears on its own)."""

    kind: ClassVar[str] = "failure.cleared"
    incident: str
    downtime_s: float
    reason: str
    failure_kind: str = ""

    def summary(self) -> str:
        what = self.failure_kind or "failure"
        return f"{self.service}: {what} cleared after {duration(self.downtime_s)}: {self.reason}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceUp(Event):
    """The first healthy verdict on a service since paramedic started watching it."""

    kind: ClassVar[str] = "service.up"
    reason: str

    def summary(self) -> str:
        return f"{self.service}: up ({self.reason})"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class WatchdogGaveUp(Event):
    """Too many restarts in the window: the watchdog stops, a human must act."""

    kind: ClassVar[str] = "watchdog.gave_up"
    restarts: int
    window_s: float

    def summary(self) -> str:
        return (
            f"{self.service}: watchdog gave up after {self.restarts} restarts in"
            f" {duration(self.window_s)}; needs a human"
        )
