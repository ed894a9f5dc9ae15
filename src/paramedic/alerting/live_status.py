"""The live status of an incident's recovery, as its alert must say it.

A page that says only "recovery starting" leaves the on-call guessing for the whole recovery.
This module folds the incident events alerting already receives (incident opened and moved,
the decision, each step started and finished, the progress tracker's snapshots with their
ETA, the end of a run, the resumption's phases) into one `LiveStatus` per incident: the
status line (`recovering 50%, step 2 of 3 "Replay journal"`), the actions taken so far (one
line each, with the time), and the ETA. `Alert.status`, `actions` and `eta` are filled from
it (`apply`), so every template and channel says the same thing.

Pure: plain data in, plain data out; the clock is a wall time handed in. `observe` says
whether the *phase* changed (detected, awaiting approval, recovering, validating, resuming,
recovered, failed, manual): channels that cannot update a sent message hear only those.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace

from paramedic.alerting.model import Alert
from paramedic.core.events import Event, NoteAdded
from paramedic.core.incident_events import (
    IncidentOpened,
    IncidentTransitioned,
    RecoveryDecided,
    RecoveryFinished,
    RecoveryProgress,
    RecoveryStepFinished,
    RecoveryStepStarted,
)
from paramedic.core.text import duration

__all__ = ["Change", "LiveStatus", "LiveStatuses", "apply", "clock_time", "first_eta"]

_MAX_ACTIONS = 12  # the page stays readable; the timeline keeps every line
_KEEP = 10_000  # incidents remembered; the oldest are let go first
_RESUMPTION = re.compile(r"^incident (\S+): resumption: .*?(\S+) at ([0-9.]+)x size")
_PHASES = {
    "FAILURE_DETECTED": "detected",
    "AWAITING_APPROVAL": "awaiting approval",
    "RECOVERY_IN_PROGRESS": "recovering",
    "VALIDATING": "validating",
    "RECOVERED": "recovered",
    "HEALTHY": "recovered",
    "RECOVERY_FAILED": "failed",
    "MANUAL_RECOVERY": "manual recovery",
}


def clock_time(wall: float) -> str:
    """`10:15:23 UTC`: the time of one action (the alert's When carries the date)."""
    return time.strftime("%H:%M:%S UTC", time.gmtime(wall))


def _date_time(wall: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(wall))


def first_eta(*, planned: bool, needs_human: bool) -> str:
    """The ETA of the first page, before any incident event: a service with a plan is being
    decided; without one nothing estimates it."""
    if needs_human:
        return "unknown: depends on manual intervention"
    return "estimating: the recovery is being decided" if planned else "unknown (no recovery plan)"


@dataclass(slots=True)
class LiveStatus:
    """One incident's recovery as people read it."""

    incident: str
    state: str = "FAILURE_DETECTED"
    method: str = ""
    percentage: int = 0
    step: str = ""
    index: int = 0
    total: int = 0
    eta_wall: float | None = None
    resuming: str = ""  # "resuming at 10% (canary)" while the resumption ramps up
    resuming_pct: int = 0
    actions: list[str] = field(default_factory=list)
    dropped: int = 0  # action lines let go of (the oldest after the first)

    @property
    def phase(self) -> str:
        """The word a state change is told by: every channel hears when it changes."""
        if self.resuming and self.state == "RECOVERED":
            return "resuming"
        return _PHASES.get(self.state, self.state.lower())

    def status_line(self) -> str:
        if self.state == "RECOVERY_IN_PROGRESS":
            line = f"recovering {self.percentage}%"
            if self.total:
                line += f', step {self.index} of {self.total} "{self.step}"'
            if self.method:
                line += f" ({self.method} recovery)"
            return line
        if self.state == "VALIDATING":
            return f"validating ({self.percentage}%)"
        if self.phase == "resuming":
            return self.resuming
        if self.state == "RECOVERY_FAILED":
            return "failed: recovery did not succeed"
        if self.state == "MANUAL_RECOVERY":
            return "failed: manual intervention required"
        if self.state == "AWAITING_APPROVAL":
            return f"detected: awaiting approval of {self.method or 'the recovery'}"
        return self.phase

    def eta_text(self, now_wall: float) -> str:
        """From the progress tracker's estimate; what stands in when there is none."""
        if self.state in ("RECOVERED", "HEALTHY"):
            return "none: recovered"
        if self.state in ("RECOVERY_FAILED", "MANUAL_RECOVERY"):
            return "unknown: depends on manual intervention"
        if self.state == "AWAITING_APPROVAL":
            return "after approval: the recovery waits for a human's yes"
        if self.eta_wall is not None:
            left = max(0.0, self.eta_wall - now_wall)
            return f"{_date_time(self.eta_wall)} (in {duration(left)})"
        if self.state == "FAILURE_DETECTED":
            return "estimating: the recovery is being decided"
        return "estimating: no step has finished yet"

    def fingerprint(self) -> str:
        """Names this status among the updates of one alert (the idempotency key's tail): the
        same status folded again after a restart (from the incident's moves alone) makes the
        same key, so it is not sent twice. An action line alone makes no new update."""
        return f"{self.state}-{self.percentage}-{self.index}-{self.resuming_pct}"

    def act(self, wall: float, text: str) -> None:
        self.actions.append(f"{clock_time(wall)} {text}")
        if len(self.actions) > _MAX_ACTIONS:  # keep the first (what started it) and the last
            del self.actions[1]
            self.dropped += 1


@dataclass(frozen=True, slots=True)
class Change:
    """What one event changed: whose status, and whether its phase moved."""

    incident: str
    phase_changed: bool


@dataclass(slots=True)
class LiveStatuses:
    """Every open incident's live status, folded from the incident events."""

    statuses: dict[str, LiveStatus] = field(default_factory=dict)

    def get(self, incident: str) -> LiveStatus | None:
        return self.statuses.get(incident)

    def observe(self, event: Event) -> Change | None:
        """Fold one event; None when it says nothing about an incident's status."""
        if isinstance(event, NoteAdded):
            return self._note(event)
        incident = getattr(event, "incident", None)
        if not isinstance(incident, str):
            return None
        if isinstance(event, IncidentOpened):
            opened = self.statuses.setdefault(incident, LiveStatus(incident))
            opened.act(event.at.wall, f"detected: {event.failure_kind}: {event.reason}")
            while len(self.statuses) > _KEEP:
                del self.statuses[next(iter(self.statuses))]
            return Change(incident, phase_changed=False)
        found = self.statuses.get(incident)
        if found is None:
            return None
        before = found.phase
        if not _fold(found, event):
            return None
        return Change(incident, phase_changed=found.phase != before)

    def forget(self, incident: str) -> None:
        self.statuses.pop(incident, None)

    def _note(self, note: NoteAdded) -> Change | None:
        found = _RESUMPTION.match(note.text)
        if found is None or (status := self.statuses.get(found[1])) is None:
            return None
        before = status.phase
        pct = round(float(found[3]) * 100)
        status.resuming = "" if pct >= 100 else f"resuming at {pct}% ({found[2]})"
        status.resuming_pct = pct
        status.act(note.at.wall, f"resumption: {found[2]} at {pct}% size")
        return Change(status.incident, phase_changed=status.phase != before)


def _fold(status: LiveStatus, event: Event) -> bool:
    """Apply one event to `status`; False when it is not one this module reads."""
    wall = event.at.wall
    if isinstance(event, IncidentTransitioned):
        status.state = event.to_state
        if event.method:
            status.method = event.method
        status.act(wall, f"{_PHASES.get(event.to_state, event.to_state)}: {event.reason}")
    elif isinstance(event, RecoveryDecided):
        status.method = event.method
        status.act(wall, f"decided: {event.sentence}")
    elif isinstance(event, RecoveryStepStarted):
        status.step, status.index, status.total = event.step, event.index, event.total
    elif isinstance(event, RecoveryStepFinished):
        outcome = "done" if event.ok else "FAILED"
        place = f"step {status.index} of {status.total} " if status.step == event.step else ""
        status.act(wall, f'{place}"{event.step}" {outcome} in {duration(event.duration_s)}')
    elif isinstance(event, RecoveryProgress):
        status.percentage = event.percentage
        status.eta_wall = event.eta_wall
    elif isinstance(event, RecoveryFinished):
        outcome = "recovered" if event.ok else "failed"
        status.act(wall, f"{event.method} recovery {outcome}: {event.reason}")
    else:
        return False
    return True


def apply(alert: Alert, status: LiveStatus | None, now_wall: float) -> Alert:
    """The alert carrying `status`; unchanged without one (no incident events yet)."""
    if status is None:
        return alert
    return replace(
        alert,
        status=status.status_line(),
        actions=tuple(status.actions),
        eta=status.eta_text(now_wall),
    )
