"""What a restart of paramedic must finish, read back from the timeline before anything runs.

A `failure.detected` is durable before anything acts on it; the alert row, the recovery's
`incident.opened` and a resolve come after it, each in its own commit. A `kill -9` between
them leaves a failure nobody was paged for, or an alert whose failure cleared. `read_back`
finds, per service, the failures still open (detected and neither cleared nor followed by
the service being seen up) and the bad verdicts of sources that report only on a
change (Alertmanager rules: `alertmanager:<alertname>`); the runtime hands them to
ServiceHealth, the alerting service and the recovery orchestrator, each of which checks what
it already committed, so nothing is done twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from paramedic.core.events import Event, NoteAdded
from paramedic.core.failure_events import FailureCleared, FailureDetected, ServiceUp
from paramedic.core.incident_events import (
    ApprovalGranted,
    ApprovalRejected,
    ApprovalRequested,
    ApprovalTimedOut,
    EscalationTriggered,
    IncidentOpened,
    IncidentTransitioned,
    RecoveryDecided,
    RecoveryFinished,
)
from paramedic.detect.events import SignalChanged
from paramedic.store.protocol import Store
from paramedic.store.timeline import decode, read_rows

__all__ = ["Left", "ServiceLeft", "folded", "read_back", "read_store"]

EXTERNAL = "alertmanager:"  # sources that do not report again by themselves


@dataclass(slots=True)
class ServiceLeft:
    """One service as the timeline left it: its failures still open (one per kind can be open
    at once), by incident id, oldest first."""

    open: dict[str, FailureDetected] = field(default_factory=dict)
    failing: dict[str, SignalChanged] = field(default_factory=dict)

    @property
    def open_failure(self) -> FailureDetected | None:
        """The latest failure still open: the one a recovery in progress was working on."""
        return next(reversed(self.open.values()), None)


@dataclass(slots=True)
class Left:
    services: dict[str, ServiceLeft] = field(default_factory=dict)
    cleared: dict[str, FailureCleared] = field(default_factory=dict)  # by incident id
    # Every incident opened and moved, oldest first: which alerts a recovery keeps open;
    # with its escalations and what their pages name (`read_store`).
    incidents: list[Event] = field(default_factory=list)
    # Approval requests still waiting for an answer and not timed out: their page is open.
    approvals: dict[str, ApprovalRequested] = field(default_factory=dict)  # by incident id

    def open_failures(self) -> list[FailureDetected]:
        return [f for s in self.services.values() for f in s.open.values()]

    def open_approvals(self) -> list[ApprovalRequested]:
        return list(self.approvals.values())


def read_back(events: Iterable[Event]) -> Left:
    """Fold the timeline (oldest first) into what is still open."""
    left = Left()
    for event in events:
        if event.service is None:
            continue
        service = left.services.setdefault(event.service, ServiceLeft())
        if isinstance(event, ApprovalRequested):
            left.approvals[event.incident] = event
        elif isinstance(event, _ANSWERS) or (
            isinstance(event, IncidentTransitioned) and event.from_state == "AWAITING_APPROVAL"
        ):
            left.approvals.pop(event.incident, None)
        elif isinstance(event, FailureDetected):
            service.open[event.incident] = event
        elif isinstance(event, FailureCleared):
            left.cleared[event.incident] = event
            service.open.pop(event.incident, None)
        elif isinstance(event, ServiceUp):
            # Seen up after it (a store written before restarts resumed incidents): over.
            service.open.clear()
        elif isinstance(event, SignalChanged) and event.source.startswith(EXTERNAL):
            if event.ok:
                service.failing.pop(event.source, None)
            else:
                service.failing[event.source] = event
    return left


async def read_store(store: Store, page: int = 5000) -> Left:
    """`read_back` over the store, reading little: the failure records of every service,
    the approval requests with what ended them (answers, timeouts, moves out of waiting) and
    every incident's opening and moves, in one read; then, for a service with a failure
    open, only its signals since it was last seen well (the Alertmanager verdicts that can
    still be failing)."""
    kinds = (
        FailureDetected.kind,
        FailureCleared.kind,
        ServiceUp.kind,
        *(e.kind for e in (ApprovalRequested, *_ANSWERS, IncidentOpened, IncidentTransitioned)),
        *(e.kind for e in _ESCALATION_FACTS),
    )
    marks = await read_rows(store, kinds=kinds, page=page)
    events = decode(marks)
    left = read_back(events)
    # Every incident opened and moved (which alerts a recovery keeps open): from the same
    # read. They are not "seen well" marks below (`_WELL` names only clears and ups).
    _incident = (IncidentOpened, IncidentTransitioned, *_ESCALATION_FACTS)
    left.incidents = [e for e in events if isinstance(e, _incident)]
    for name, found in left.services.items():
        if not found.open:
            continue
        first = next(iter(found.open.values()))
        opened = next(r.seq for r in marks if r.id == first.id)
        since = max(
            (r.seq for r in marks if r.service == name and r.seq < opened and r.kind in _WELL),
            default=0,
        )
        signals = await read_rows(
            store, kinds=(SignalChanged.kind,), page=page, service=name, after=since
        )
        found.failing = read_back(decode(signals)).services.get(name, ServiceLeft()).failing
    return left


_WELL = (FailureCleared.kind, ServiceUp.kind)  # seen well: the signals before are over
_ANSWERS = (ApprovalGranted, ApprovalRejected, ApprovalTimedOut)
# What an escalation page names (alerting/recovery_escalation.py): the triggers, the methods
# decided and tried, the notes saying where the failed state was preserved.
_ESCALATION_FACTS = (EscalationTriggered, RecoveryDecided, RecoveryFinished, NoteAdded)


def folded(failure: FailureDetected, events: Iterable[Event]) -> bool:
    """Whether the recovery already took this failure in as evidence for a running incident
    (its note names the failure's incident) rather than opening one for it."""
    mark = f"failure {failure.incident} ("
    return any(isinstance(e, NoteAdded) and mark in e.text for e in events)
