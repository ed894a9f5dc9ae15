"""What every detector reports to ServiceHealth: a `Signal`.

Detectors do not decide that a service is down; they report observations, each with the
failure kind it points to and one plain sentence. `ServiceHealth` combines them per service
with hysteresis, so one glitch does not open an incident and one incident is opened once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from paramedic.core.failures import FAILURE_KINDS, FailureKind

__all__ = ["FAILURE_KINDS", "FailureKind", "Signal", "SignalSink"]


@dataclass(frozen=True, slots=True)
class Signal:
    """One observation of one service by one detector.

    `source` names the detector and what it watched (`heartbeat`, `probe:liveness`,
    `resource:memory`, `health:exchange`...); the latest signal per (service, source) is the
    detector's current verdict. `kind` is the failure a bad signal points to (None when ok).
    `at` is monotonic seconds; `reason` is one sentence a person can act on. `severity`
    (P0-P3) is set only by a source that states one (an Alertmanager rule's `severity`
    label); otherwise the severity rules decide.
    """

    service: str
    source: str
    ok: bool
    reason: str
    at: float
    kind: FailureKind | None = None
    severity: str | None = None


SignalSink = Callable[[Signal], None]
