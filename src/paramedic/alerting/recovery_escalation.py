"""Escalation during recovery: who an `escalation.triggered` wakes, and what the page says.

Recovery records a trigger (RTO exceeded by 50%, recovery failed, repeated failures, data
corruption, a failed critical validation, an approval nobody answered); this turns it into
pages. The levels are the P0 policy's outage ladder (`escalation_levels.py`). A trigger
pages the on-call with its facts, and every level the outage's length has reached that was
not yet paged for this incident; while the incident stays open, each further level is
paged when the outage reaches it (`overdue`, on the stage's timer), with the last trigger's
facts. Each level once per incident: a level the failure alert's own outage rung of the
same name pages is left to it. A recovery that ends in manual recovery is paged as "Manual
intervention required", with what was tried, where the failed state was preserved and the
runbook.

Pure: the fold (`EscalationFacts`) reads the incident events (live from the bus, or from the
stored timeline after a restart) and returns the alerts; `escalation_pages.py` raises them.
Every page has a derived id (the trigger's event id for the on-call, incident + level for a
level), so a restart that plans the same pages again raises only those without a row.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from paramedic.alerting.escalation_levels import ESCALATION_TYPE, LEVEL_LABEL, Level, Levels
from paramedic.alerting.model import Alert, alert_id
from paramedic.core.clock import Instant
from paramedic.core.events import Event, NoteAdded
from paramedic.core.incident_events import (
    EscalationTrigger,
    EscalationTriggered,
    IncidentOpened,
    IncidentTransitioned,
    RecoveryDecided,
    RecoveryFinished,
)
from paramedic.core.severity import Severity
from paramedic.core.text import duration

__all__ = ["TRIGGER_TEXT", "EscalationFacts", "IncidentFacts", "PageContext", "Tried"]

_MANUAL = "MANUAL_RECOVERY"
_RESOLVED_BY_HAND = frozenset({"RECOVERED", "HEALTHY"})
_KEEP = 10_000  # incidents remembered; the oldest are let go first
_PRESERVED = re.compile(r"^incident (\S+): preserved \d+ files \(\d+ bytes\) in (.+?)(?:; |$)")

TRIGGER_TEXT: Mapping[EscalationTrigger, str] = {
    "rto_exceeded": "recovery over its RTO by 50%",
    "recovery_failed": "automated recovery failed",
    "repeated_failures": "repeated recovery failures",
    "data_corruption": "data corruption detected",
    "validation_failed": "critical validation failed",
    "approval_timeout": "no answer to an approval request",
}


# -- the fold -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tried:
    """One method run and how it ended (a `recovery.finished`)."""

    method: str
    ok: bool
    duration_s: float
    reason: str

    def line(self) -> str:
        outcome = "recovered" if self.ok else "failed"
        return f"tried {self.method}: {outcome} after {duration(self.duration_s)}: {self.reason}"


@dataclass(slots=True)
class IncidentFacts:
    """What the pages of one incident name; `live`: opened while this process listened
    (its monotonic instant is comparable with a live trigger's)."""

    service: str
    opened: Instant
    live: bool
    failure: str = ""
    state: str = "FAILURE_DETECTED"
    decided: list[str] = field(default_factory=list)
    tried: list[Tried] = field(default_factory=list)
    preserved: list[str] = field(default_factory=list)
    paged: set[str] = field(default_factory=set)
    last: EscalationTriggered | None = None  # the latest trigger: what a later level reads

    def elapsed(self, at: Instant, live: bool) -> float:
        """Outage length at `at`: monotonic when both instants are this run's, else wall
        (the only clock two runs share)."""
        if live and self.live:
            return max(0.0, at.mono - self.opened.mono)
        return max(0.0, at.wall - self.opened.wall)


@dataclass(frozen=True, slots=True)
class PageContext:
    """What the intake knows beyond the events: the severity decided by the rules (already
    floored), the runbooks and where the API and the console are."""

    severity: Severity
    severity_reason: str
    labels: Mapping[str, str]
    runbook: str
    manual_runbook: str
    api_url: str
    dashboard: str
    also_paged: frozenset[str] = frozenset()
    """Levels the failure alert's own ladder has a rung of the same name for (fired or
    pending): that rung pages them; a level is paged once per incident."""


@dataclass(slots=True)
class EscalationFacts:
    """The open incidents of services with a plan, as their escalation pages need them."""

    levels: Levels
    open: dict[str, IncidentFacts] = field(default_factory=dict)

    def observe(self, event: Event, *, live: bool = True) -> None:
        """Fold one event (every bus event passes here; the others are ignored)."""
        if isinstance(event, IncidentOpened):
            service = event.service or ""
            for old in [i for i, f in self.open.items() if f.service == service]:
                del self.open[old]  # superseded by a relapse: the new incident carries on
            self.open[event.incident] = IncidentFacts(
                service, event.at, live, failure=f"{event.failure_kind}: {event.reason}"
            )
            while len(self.open) > _KEEP:
                del self.open[next(iter(self.open))]
        elif isinstance(event, IncidentTransitioned):
            facts = self.open.get(event.incident)
            if facts is None:
                return
            healthy = event.to_state == "HEALTHY" and event.from_state != _MANUAL
            by_hand = event.from_state == _MANUAL and event.to_state in _RESOLVED_BY_HAND
            if healthy or by_hand:
                del self.open[event.incident]
            else:
                facts.state = event.to_state
        elif isinstance(event, RecoveryDecided):
            if (facts := self.open.get(event.incident)) is not None:
                facts.decided.append(event.sentence)
        elif isinstance(event, RecoveryFinished):
            if (facts := self.open.get(event.incident)) is not None:
                facts.tried.append(Tried(event.method, event.ok, event.duration_s, event.reason))
        elif isinstance(event, NoteAdded) and event.author == "paramedic":
            found = _PRESERVED.match(event.text)
            if found is not None and (facts := self.open.get(found.group(1))) is not None:
                facts.preserved.append(found.group(2))

    def is_open(self, incident: str) -> bool:
        return incident in self.open

    def facts(self, event: EscalationTriggered, live: bool) -> IncidentFacts:
        found = self.open.get(event.incident)
        if found is None:  # its opening was not seen: its outage counts from here
            found = self.open[event.incident] = IncidentFacts(event.service or "", event.at, live)
        return found

    def manual(self, event: EscalationTriggered) -> bool:
        """The recovery ended in manual recovery without a human taking it over: automation
        moved the incident to MANUAL_RECOVERY and says why with `recovery_failed`."""
        found = self.open.get(event.incident)
        return event.trigger == "recovery_failed" and found is not None and found.state == _MANUAL

    def pages(
        self, event: EscalationTriggered, ctx: PageContext, *, live: bool = True
    ) -> list[Alert]:
        """The pages of one trigger: the on-call's (unless a failed validation window is
        paged by its own failure page), then each level reached and not yet paged, which
        is marked paged here (before any await: a second trigger sees it)."""
        facts = self.facts(event, live)
        facts.last = event
        elapsed = facts.elapsed(event.at, live)
        reached = self._reached(facts, elapsed, ctx)
        nxt = self.levels.next_after(elapsed)
        content = _Content(event, facts, ctx, elapsed, self.manual(event), nxt)
        out: list[Alert] = []
        # A failed validation window (named checks) pages through its own failure page.
        if not (event.trigger == "validation_failed" and event.checks):
            out.append(content.alert(self.levels.on_call, f"escalation:{event.id}"))
        out += [content.alert(lv, f"escalation:{lv.name}") for lv in reached]
        return out

    def overdue(self, incident: str, now: Instant, ctx: PageContext) -> list[Alert]:
        """An escalated incident still open at `now` (this run's instant): the levels its
        outage has reached since its last trigger, each once, with that trigger's facts."""
        facts = self.open.get(incident)
        if facts is None or facts.last is None:
            return []
        elapsed = facts.elapsed(now, True)
        reached = self._reached(facts, elapsed, ctx)
        if not reached:
            return []
        nxt = self.levels.next_after(elapsed)
        last = facts.last
        manual = last.trigger == "recovery_failed" and facts.state == _MANUAL
        content = _Content(last, facts, ctx, elapsed, manual, nxt, late=True)
        return [content.alert(lv, f"escalation:{lv.name}") for lv in reached]

    def wait(self, incident: str, now: Instant) -> float | None:
        """Seconds from `now` until the outage of an escalated incident reaches a level not
        yet paged (None: not escalated, ended, or no level left)."""
        facts = self.open.get(incident)
        if facts is None or facts.last is None:
            return None
        elapsed = facts.elapsed(now, True)
        left = [lv.after for lv in self.levels.ladder if lv.name not in facts.paged]
        return max(0.0, min(left) - elapsed) if left else None

    def _reached(self, facts: IncidentFacts, elapsed: float, ctx: PageContext) -> list[Level]:
        """The levels reached at `elapsed` that nobody paged yet; marked paged here (before
        any await: the next trigger, or the timer, sees it). A level the failure alert's
        ladder owns is marked too: its rung pages it."""
        due = [lv for lv in self.levels.reached(elapsed) if lv.name not in facts.paged]
        facts.paged.update(lv.name for lv in due)
        return [lv for lv in due if lv.name not in ctx.also_paged]

    def fold(self, events: Iterable[Event]) -> list[EscalationTriggered]:
        """Rebuild from the stored events (oldest first); returns the triggers of incidents
        still open, in order, for their pages to be planned again. Incidents the events do
        not name (opened live meanwhile) are kept."""
        live = dict(self.open)
        self.open.clear()
        named: set[str] = set()
        triggers: list[EscalationTriggered] = []
        for event in events:
            incident = getattr(event, "incident", None)
            if isinstance(incident, str):
                named.add(incident)
            self.observe(event, live=False)
            if isinstance(event, EscalationTriggered):
                triggers.append(event)
        for incident, facts in live.items():
            if incident not in named:
                self.open[incident] = facts
        return [t for t in triggers if t.incident in self.open]


@dataclass(frozen=True, slots=True)
class _Content:
    """One trigger's page content, shared by the on-call's page and the levels'."""

    event: EscalationTriggered
    facts: IncidentFacts
    ctx: PageContext
    elapsed: float
    manual: bool
    nxt: Level | None
    late: bool = False  # a level the outage reached after the trigger, not the trigger's own

    def alert(self, level: Level | None, trigger: str) -> Alert:
        event, facts, ctx = self.event, self.facts, self.ctx
        service = facts.service or event.service or ""
        incident = event.incident
        out = duration(self.elapsed)
        if self.manual:
            headline = "automated recovery failed - Manual intervention required"
        else:
            headline = f"escalation: {TRIGGER_TEXT[event.trigger]}"
        to = "" if level is None or level.after <= 0 else f" (to {level.describe()})"
        if self.late:
            headline = f"still not recovered, {headline}"
        labels = {
            "service": service,
            "kind": event.trigger,
            **ctx.labels,
            "trigger": event.trigger,
            LEVEL_LABEL: level.name if level is not None else "",
        }
        return Alert(
            id=alert_id(incident, trigger),
            type=ESCALATION_TYPE,
            source=alert_id(incident, trigger),  # its own: never a duplicate of another level's
            severity=ctx.severity,
            title=f"{service}: {headline}{to}, incident {incident}, down {out}",
            labels=labels,
            what=self._what(),
            when_wall=event.at.wall,
            impact=(
                f"{service} out for {out} since {_utc(facts.opened.wall)}"
                + (f" ({facts.failure})" if facts.failure else "")
            ),
            status=self._status(level),
            actions=self._actions(),
            runbook=(ctx.manual_runbook or ctx.runbook) if self.manual else ctx.runbook,
            dashboard=ctx.dashboard,
            severity_reason=ctx.severity_reason,
            incident=incident,
        )

    def _what(self) -> str:
        event = self.event
        what = f"{event.trigger}: {event.reason}"
        if event.checks:
            what += f" (failing checks: {', '.join(event.checks)})"
        return what

    def _status(self, level: Level | None) -> str:
        state = self.facts.state
        if self.manual:
            head = "manual recovery: automation stopped, a human must recover the service"
        else:
            head = f"incident {state.lower().replace('_', ' ')}"
        who = "on-call" if level is None or level.after <= 0 else level.describe()
        tail = f"; paged: {who} at {duration(self.elapsed)} of outage"
        if self.nxt is not None:
            tail += f"; next: {self.nxt.describe()} at {duration(self.nxt.after)}"
        return head + tail

    def _actions(self) -> tuple[str, ...]:
        event, facts, ctx = self.event, self.facts, self.ctx
        lines: list[str] = []
        if event.rto_target_s:
            ratio = self.elapsed / event.rto_target_s
            lines.append(
                f"RTO target {duration(event.rto_target_s)}, outage {duration(self.elapsed)}"
                f" ({ratio:.1f}x the target)"
            )
        if event.checks:
            lines.append(f"failing checks: {', '.join(event.checks)}")
        lines += [f"decided: {d}" for d in facts.decided]
        lines += [t.line() for t in facts.tried]
        if not facts.tried:
            lines.append("tried: no recovery method has finished yet")
        lines += [f"preserved state: {p}" for p in facts.preserved]
        if self.manual:
            if not facts.preserved:
                lines.append("preserved state: none recorded")
            incident, url = shlex.quote(event.incident), shlex.quote(ctx.api_url)
            lines.append(
                f"when fixed: paramedic resolve-incident {incident} --url {url}"
                " --reason '<what was done>'"
            )
        return tuple(lines)


def _utc(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
