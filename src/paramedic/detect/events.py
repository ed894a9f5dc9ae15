"""Events the detection layer records on the timeline.

`FailureDetected` is the one incident-opening event per real failure: the recovery issue
opens an incident from it, the alerting issue pages from it. Everything else here is
evidence, kept so that a person reading the timeline can see why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from paramedic.core.events import Event, register_event
from paramedic.core.text import duration

__all__ = [
    "DetectionHeld",
    "FailureCleared",
    "FailureDetected",
    "HeartbeatRestartSeen",
    "ProcessAttached",
    "ProcessRestartScheduled",
    "ServiceFlapping",
    "ServiceUp",
    "SignalChanged",
    "WatchdogGaveUp",
    "WatchdogKilledHung",
]


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class SignalChanged(Event):
    """A detector's verdict on a service flipped (detectors report flips, not every sample)."""

    kind: ClassVar[str] = "signal.changed"
    source: str
    ok: bool
    failure_kind: str | None
    reason: str

    def summary(self) -> str:
        return f"{self.service}: {self.source} {'ok' if self.ok else 'FAILING'}: {self.reason}"


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
class ServiceFlapping(Event):
    """One failure kind came and went too fast to be separate failures; its repeats are held
    in one incident (a different kind is never held in it)."""

    kind: ClassVar[str] = "service.flapping"
    incident: str
    changes: int
    window_s: float
    flapping: bool
    failure_kind: str = ""

    def summary(self) -> str:
        what = f" {self.failure_kind}" if self.failure_kind else ""
        if self.flapping:
            return (
                f"{self.service}:{what} flapping, {self.changes} state changes in"
                f" {duration(self.window_s)}; its repeats kept as one incident"
            )
        return f"{self.service}:{what} no longer flapping"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessRestartScheduled(Event):
    """The watchdog will restart a process after `delay_s` (capped exponential backoff)."""

    kind: ClassVar[str] = "process.restart_scheduled"
    attempt: int
    delay_s: float
    reason: str

    def summary(self) -> str:
        return (
            f"{self.service}: restart #{self.attempt} in {duration(self.delay_s)} ({self.reason})"
        )


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


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class WatchdogKilledHung(Event):
    """A hung process was sent its stop signal (then SIGKILL after the grace)."""

    kind: ClassVar[str] = "watchdog.killed_hung"
    pid: int
    reason: str
    grace_s: float

    def summary(self) -> str:
        grace = f"grace {duration(self.grace_s)}"
        return f"{self.service}: stopping hung pid {self.pid} ({grace}): {self.reason}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessAttached(Event):
    """paramedic started watching a process it did not start (by pid or pid file)."""

    kind: ClassVar[str] = "process.attached"
    pid: int
    source: str

    def summary(self) -> str:
        return f"{self.service}: watching pid {self.pid} ({self.source}), not started by paramedic"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatRestartSeen(Event):
    """A new instance id appeared: the service restarted, maybe faster than any timeout."""

    kind: ClassVar[str] = "heartbeat.restart_seen"
    old_instance: str
    new_instance: str
    last_seq: int

    def summary(self) -> str:
        return (
            f"{self.service}: restarted (instance {self.old_instance} -> {self.new_instance},"
            f" last seq {self.last_seq})"
        )


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class DetectionHeld(Event):
    """paramedic itself was stalled, so it convicted no one on that tick (Cassandra's rule)."""

    kind: ClassVar[str] = "detection.held"
    reason: str

    def summary(self) -> str:
        return self.reason
