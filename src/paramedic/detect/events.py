"""Events the detection layer records on the timeline as evidence, kept so that a person
reading the timeline can see why a failure was (or was not) declared.

The verdicts other rooms act on (`FailureDetected`, `FailureCleared`, ...) are in
`core/failure_events.py`; what is here is read by detection and the runtime only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from paramedic.core.events import Event, register_event
from paramedic.core.text import duration

__all__ = [
    "DetectionHeld",
    "HeartbeatRestartSeen",
    "ProcessRestartScheduled",
    "ServiceFlapping",
    "SignalChanged",
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
