"""Drill events: a game day's durable record, read back by the drill report.

A drill is its events: `drill.started` (what, against whom, who is paged), `drill.injected`
(how the failure was caused, or why it could not be), `drill.finished` (how the incident
ended: HEALTHY, MANUAL_RECOVERY, or the timeout). The report is computed from these and
the incident's own events between them, so it survives a restart of paramedic. Their
`kind` strings and payloads are stored, so they never change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar

from paramedic.core.events import Event, register_event

__all__ = [
    "DrillFinished",
    "DrillInjected",
    "DrillStarted",
    "TestPageDelivered",
    "TestPageRound",
]


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class DrillStarted(Event):
    """A drill began: its pages go only to `contacts`, labelled DRILL."""

    kind: ClassVar[str] = "drill.started"
    drill: str
    drill_kind: str
    contacts: tuple[str, ...]
    by: str
    timeout_s: float
    target_rto_s: float

    def summary(self) -> str:
        to = ", ".join(self.contacts) or "nobody"
        return f"{self.service}: {self.drill_kind} drill {self.drill} by {self.by}; pages to {to}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class DrillInjected(Event):
    """The failure was caused (`ok`), or could not be: `how` says which, in one sentence.
    `stopped_pid`: the process a hang drill stopped (SIGSTOP), to continue if the drill is
    cut off by a crash of paramedic."""

    kind: ClassVar[str] = "drill.injected"
    drill: str
    ok: bool
    how: str
    stopped_pid: int | None = None

    def summary(self) -> str:
        verb = "injected" if self.ok else "not injected"
        return f"{self.service}: drill {self.drill} {verb}: {self.how}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class DrillFinished(Event):
    """The drill ended: `outcome` is the incident's last state (HEALTHY, MANUAL_RECOVERY),
    `timeout`, `not_detected` or `not_injected`; `ok` when the service came back by itself."""

    kind: ClassVar[str] = "drill.finished"
    drill: str
    outcome: str
    ok: bool
    incident: str
    sentence: str

    def summary(self) -> str:
        return f"{self.service}: drill {self.drill} finished ({self.outcome}): {self.sentence}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class TestPageDelivered(Event):
    """A scheduled test page reached one contact method: proof preflight's on-call item
    reads (a test page sent to one channel does not otherwise say whose it was)."""

    __test__ = False  # not a pytest class, whatever its name

    kind: ClassVar[str] = "test_page.delivered"
    contact: str
    channel: str
    alert_id: str

    def summary(self) -> str:
        return f"scheduled test page delivered to {self.contact} on {self.channel}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class TestPageRound(Event):
    """A firing of the test-page schedule is being sent, recorded before its first page:
    `firing` is the cron's time (Unix seconds), the key of the round's page ids, so a restart
    finishes this round rather than starting another, and knows which firing ran last.
    `late`: a catch-up, the firing having passed while paramedic was down."""

    __test__ = False  # not a pytest class, whatever its name

    kind: ClassVar[str] = "test_page.round"
    firing: float
    late: bool = False

    def summary(self) -> str:
        at = dt.datetime.fromtimestamp(self.firing, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        late = " (late: paramedic was down at its time)" if self.late else ""
        return f"scheduled test pages of {at}{late}"
