"""What makes a service's alerts a drill's, read back from the store after a restart.

A drill's labels (`drill`, `drill_to`) must not live only in memory: after a kill -9 of
paramedic mid-drill, the incident the drill caused goes on (a recovery step cut off goes to
a human, an approval times out, the all-clear follows) and every page it raises must still
read DRILL and reach only the drill's contacts, never the real escalation ladder. So the
restart derives them from what is durable: the service's last `drill.started` (its contacts),
its `drill.finished` if any, and the incident events after it (the drill's incident is the
service's first `failure.detected` after the start; it ends at HEALTHY, or when a new
incident of the service supersedes it). Read before alerting resumes, so its catch-up
already sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paramedic.store.protocol import Store, StoredEvent

__all__ = ["ENDS", "Active", "Found", "read_drills"]

ENDS = ("HEALTHY", "MANUAL_RECOVERY")  # where a drill stops following its incident
_PAGE = 1000


@dataclass(slots=True)
class Active:
    """One drill: what labels its service's alerts, and how far its incident got.
    `incident` is known from the service's first conviction after the start; `closed` once
    that incident is HEALTHY or superseded (its pages are no longer the drill's to label)."""

    drill: str
    service: str
    kind: str
    contacts: tuple[str, ...]
    stopped_pid: int | None = None  # a hang drill's SIGSTOP, undone at the end
    incident: str = ""
    closed: bool = False
    started_wall: float = 0.0
    timeout_s: float = 300.0

    def labels(self) -> dict[str, str]:
        return {"drill": self.drill, "drill_to": ",".join(self.contacts)}


@dataclass(slots=True)
class Cut:
    """A drill a crash cut off (no `drill.finished`): `end` is the (state, reason) its
    incident reached while paramedic was down, if it ended."""

    active: Active
    end: tuple[str, str] | None = None


@dataclass(slots=True)
class Found:
    last_success: dict[str, float] = field(default_factory=dict)
    cut: list[Cut] = field(default_factory=list)  # the last drill of a service, unfinished
    stale: list[Active] = field(default_factory=list)  # older unfinished ones: interrupted
    held: list[Active] = field(default_factory=list)  # finished, their incident still open


async def _scan(
    store: Store, kinds: tuple[str, ...], *, after: int = 0, service: str | None = None
) -> list[StoredEvent]:
    out: list[StoredEvent] = []
    while True:
        rows = await store.timeline(after_seq=after, limit=_PAGE, service=service, kinds=kinds)
        out += rows
        if len(rows) < _PAGE:
            return out
        after = rows[-1].seq


def _active(started: StoredEvent, stopped: int | None, incident: str = "") -> Active:
    p = started.payload
    return Active(
        drill=str(p.get("drill", "")),
        service=started.service or "",
        kind=str(p.get("drill_kind", "")),
        contacts=tuple(str(c) for c in p.get("contacts", ())),
        stopped_pid=stopped,
        incident=incident,
        started_wall=started.wall,
        timeout_s=float(p.get("timeout_s", 300.0)),
    )


async def _follow_stored(store: Store, active: Active, after: int) -> tuple[str, str] | None:
    """Fold the incident events after the drill's start into `active` (its incident, and
    whether it closed); returns the first end (state, reason) the drill would have seen."""
    kinds = ("failure.detected", "incident.opened", "incident.transitioned")
    end: tuple[str, str] | None = None
    for row in await _scan(store, kinds, after=after, service=active.service):
        incident = str(row.payload.get("incident", ""))
        if row.kind == "failure.detected":
            active.incident = active.incident or incident
        elif not active.incident:
            continue
        elif row.kind == "incident.opened" and incident != active.incident:
            active.closed = True  # superseded: the service's trouble is another incident now
        elif row.kind == "incident.transitioned" and incident == active.incident:
            state = str(row.payload.get("to_state", ""))
            if state in ENDS and end is None:
                end = (state, str(row.payload.get("reason", "")))
            active.closed = active.closed or state == "HEALTHY"
    return end


async def read_drills(store: Store, services: set[str]) -> Found:
    """Every drill on the timeline: the last successful one per service, and for each
    configured service its last drill if it still labels the service's alerts."""
    found = Found()
    started: dict[str, StoredEvent] = {}  # drill -> its start, while not finished
    stopped: dict[str, int] = {}  # drill -> the pid its hang stopped
    finished: dict[str, StoredEvent] = {}
    last: dict[str, StoredEvent] = {}  # service -> its last drill's start
    kinds = ("drill.started", "drill.injected", "drill.finished")
    for row in await _scan(store, kinds):
        drill = str(row.payload.get("drill", ""))
        if row.kind == "drill.started":
            started[drill] = row
            last[row.service or ""] = row
        elif row.kind == "drill.injected":
            if isinstance(pid := row.payload.get("stopped_pid"), int):
                stopped[drill] = pid
        else:
            started.pop(drill, None)
            finished[drill] = row
            if row.payload.get("ok") and row.service:
                found.last_success[row.service] = row.wall
    for service, start in last.items():
        drill = str(start.payload.get("drill", ""))
        end = finished.get(drill)
        if service not in services:
            continue
        if end is None:
            active = _active(start, stopped.get(drill))
            found.cut.append(Cut(active, await _follow_stored(store, active, start.seq)))
            continue
        incident = str(end.payload.get("incident", ""))
        if not incident or end.payload.get("outcome") == "HEALTHY":
            continue
        active = _active(start, None, incident)
        await _follow_stored(store, active, start.seq)
        if not active.closed:
            found.held.append(active)
    cut = {c.active.drill for c in found.cut}
    found.stale = [
        _active(row, stopped.get(drill)) for drill, row in started.items() if drill not in cut
    ]
    return found
