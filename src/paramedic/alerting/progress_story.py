"""One incident's recovery as its stakeholders hear it: milestones and the all-clear (pure).

Folded from the committed events alerting already receives (incident opened and moved,
recovery progress, steps, runs, the `resumption: ...` notes), live and, after a restart, from
the stored timeline, so which milestones an incident crossed is always derivable from what
is stored. The milestones are the mobile pushes of the recovery (started, 25 / 50 / 75 %,
complete with all validations passed, failed with manual intervention required) and the
all-clear once the incident is HEALTHY after a recovery whose validation passed.

`fold` returns the milestones an event crosses, each once per incident; what is sent, to
whom, and the idempotency across a crash is `progress_push.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from paramedic.alerting.model import alert_id
from paramedic.core.events import Event, NoteAdded
from paramedic.core.incident_events import (
    IncidentOpened,
    IncidentTransitioned,
    RecoveryFinished,
    RecoveryProgress,
    RecoveryStepFinished,
)
from paramedic.core.severity import Severity
from paramedic.core.text import duration

__all__ = [
    "ALL_CLEAR",
    "ALL_CLEAR_TYPE",
    "PRIORITY",
    "PUSH_TYPE",
    "Milestone",
    "Priority",
    "Story",
    "fold",
    "milestone_id",
    "push_severity",
]

Milestone = Literal["started", "25", "50", "75", "complete", "failed", "all-clear"]
Priority = Literal["CRITICAL", "HIGH", "MEDIUM"]

ALL_CLEAR: Milestone = "all-clear"
PUSH_TYPE = "recovery_update"
"""The alert type of a progress push: informational, no ladder, stored resolved."""
ALL_CLEAR_TYPE = "all_clear"
"""The alert type of the closing message; its id is `<incident>:all-clear`."""

PRIORITY: dict[Milestone, Priority] = {
    "started": "HIGH",
    "25": "MEDIUM",
    "50": "MEDIUM",
    "75": "MEDIUM",
    "complete": "HIGH",
    "failed": "CRITICAL",
    "all-clear": "HIGH",
}
_SEVERITY: dict[Priority, Severity] = {"CRITICAL": "P0", "HIGH": "P1", "MEDIUM": "P2"}
_PERCENTAGES: tuple[Milestone, ...] = ("25", "50", "75")
_RUNNING = frozenset({"RECOVERY_IN_PROGRESS", "VALIDATING"})
_RESUMPTION = "resumption: "


def milestone_id(incident: str, milestone: Milestone) -> str:
    """Deterministic, so a restart finds what was sent: `<incident>:progress:50`, and
    `<incident>:all-clear` for the closing message."""
    if milestone == ALL_CLEAR:
        return alert_id(incident, ALL_CLEAR)
    return alert_id(incident, f"progress:{milestone}")


def push_severity(milestone: Milestone) -> Severity:
    """The push's priority as the severity channels already speak (CRITICAL P0, HIGH P1,
    MEDIUM P2): apprise's notify type, Slack's colour, the log level follow from it."""
    return _SEVERITY[PRIORITY[milestone]]


@dataclass(slots=True)
class Story:
    """What the milestones and the all-clear say about one incident."""

    incident: str
    service: str = ""
    opened_wall: float | None = None
    opened_mono: float | None = None
    state: str = "FAILURE_DETECTED"
    method: str | None = None
    percentage: int = 0
    steps: list[tuple[str, bool, float, str]] = field(default_factory=list)
    runs: list[RecoveryFinished] = field(default_factory=list)
    validation: str = ""
    recovered: tuple[float, float] | None = None  # (mono, wall) validation passed
    healthy: str = ""
    closed_wall: float = 0.0
    failed: str = ""
    resumption: list[str] = field(default_factory=list)
    reached: list[Milestone] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        return self.state == "HEALTHY"

    def rto_s(self) -> float | None:
        """From the incident's opening to the validation passing (service back)."""
        if self.recovered is None or self.opened_mono is None or self.opened_wall is None:
            return None
        mono, wall = self.recovered
        took = mono - self.opened_mono
        return took if took >= 0 else wall - self.opened_wall  # a reboot restarted mono

    def _cross(self, milestone: Milestone) -> list[Milestone]:
        if milestone in self.reached:
            return []
        self.reached.append(milestone)
        return [milestone]


def fold(stories: dict[str, Story], event: Event) -> list[Milestone]:
    """Apply one event; the milestones it crosses for the first time (oldest first)."""
    if isinstance(event, NoteAdded):
        return _note(stories, event)
    incident = getattr(event, "incident", None)
    if not isinstance(incident, str):
        return []
    story = stories.get(incident)
    if story is None:
        story = stories[incident] = Story(incident, event.service or "")
    if isinstance(event, IncidentOpened):
        story.opened_wall, story.opened_mono = event.at.wall, event.at.mono
        return []
    if isinstance(event, IncidentTransitioned):
        return _moved(story, event)
    if isinstance(event, RecoveryProgress):
        story.percentage = max(story.percentage, event.percentage)
        if event.state not in _RUNNING or "started" not in story.reached:
            return []
        crossed: list[Milestone] = []
        for milestone in _PERCENTAGES:
            if event.percentage >= int(milestone):
                crossed += story._cross(milestone)
        return crossed
    if isinstance(event, RecoveryStepFinished):
        story.steps.append((event.step, event.ok, event.duration_s, event.detail))
    elif isinstance(event, RecoveryFinished):
        story.runs.append(event)
    return []


def _moved(story: Story, event: IncidentTransitioned) -> list[Milestone]:
    before, story.state = story.state, event.to_state
    if event.to_state == "HEALTHY":
        story.closed_wall = event.at.wall
    story.method = event.method or story.method
    to, since = event.to_state, event.from_state
    if to == "RECOVERY_IN_PROGRESS":
        return story._cross("started")
    if to == "RECOVERED" and since == "VALIDATING":
        story.validation = event.reason
        story.recovered = (event.at.mono, event.at.wall)
        return story._cross("complete")
    if to == "MANUAL_RECOVERY" and since == "RECOVERY_FAILED" and "started" in story.reached:
        story.failed = event.reason
        return story._cross("failed")
    if to == "HEALTHY" and before == "RECOVERED" and "complete" in story.reached:
        story.healthy = event.reason
        return story._cross(ALL_CLEAR)
    return []


def _note(stories: dict[str, Story], event: NoteAdded) -> list[Milestone]:
    """The orchestrator's `incident <id>: resumption: <phase sentence>` notes."""
    head, sep, rest = event.text.partition(": ")
    incident = head.removeprefix("incident ")
    if not sep or incident == head or not rest.startswith(_RESUMPTION):
        return []
    if (story := stories.get(incident)) is not None:
        story.resumption.append(rest.removeprefix(_RESUMPTION))
    return []


# -- what people read ----------------------------------------------------------------------


def headline(story: Story, milestone: Milestone) -> tuple[str, str]:
    """(title, what): the seed's push titles, with the service and what is known."""
    service = story.service or "service"
    method = f" ({story.method})" if story.method else ""
    if milestone == "started":
        return (
            f"{service}: Recovery Started{method}",
            f"System recovery in progress{method}. Monitoring closely.",
        )
    if milestone in _PERCENTAGES:
        return (
            f"{service}: Recovery {milestone}% Complete",
            f"Recovery progressing normally ({story.percentage}% done).",
        )
    if milestone == "complete":
        return (
            f"{service}: Recovery Complete",
            f"System fully recovered. All validations passed: {story.validation}",
        )
    if milestone == "failed":
        return (
            f"{service}: Recovery Failed",
            f"System recovery failed. Manual intervention required! {story.failed}",
        )
    return all_clear_title(story), all_clear_what(story)


def all_clear_title(story: Story) -> str:
    rto = story.rto_s()
    took = f" in {duration(rto)}" if rto is not None else ""
    return f"{story.service or 'service'}: all clear, recovered{took}"


def all_clear_what(story: Story, target_s: float | None = None) -> str:
    rto = story.rto_s()
    method = story.method or "unknown"
    if rto is None:
        timing = "RTO unknown"
    elif target_s is None:
        timing = f"RTO {duration(rto)}"
    elif rto <= target_s:
        timing = f"RTO {duration(rto)} against a target of {duration(target_s)} (met)"
    else:
        late = duration(rto - target_s)
        timing = f"RTO {duration(rto)} against a target of {duration(target_s)} (missed by {late})"
    return (
        f"Incident {story.incident} is over: recovered by the {method} method, {timing};"
        " validation passed and trading is back to normal."
    )


def all_clear_lines(story: Story) -> tuple[str, ...]:
    """The closing message's detail, one line each: runs, steps, validation, resumption."""
    lines = [
        f"run: {r.method} {'recovered' if r.ok else 'failed'} in {duration(r.duration_s)}:"
        f" {r.reason}"
        for r in story.runs
    ]
    for name, ok, took, detail in story.steps:
        tail = f": {detail}" if detail and not ok else ""
        lines.append(f"step {name}: {'done' if ok else 'FAILED'} in {duration(took)}{tail}")
    if story.validation:
        lines.append(f"validation: {story.validation}")
    lines += [f"resumption: {phase}" for phase in story.resumption]
    if story.healthy:
        lines.append(f"healthy: {story.healthy}")
    return tuple(lines)
