"""`GET /api/services`: one row per configured service, what an overview screen shows of it.

The console's cards (and any other screen) read this instead of asking `/recovery/status` once
per service: the state in one word, the seed's status body, the open incident with its
detection sentence, and the pending approval with its deadline.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from paramedic.api.auth import Principal, require
from paramedic.api.drills import DrillStarter
from paramedic.api.key_metrics import key_metrics
from paramedic.core.incident_events import ApprovalRequested
from paramedic.recovery.plain import IncidentOwner
from paramedic.recovery.states import Incident, IncidentState
from paramedic.store.timeline import read_events

__all__ = ["card_state", "router"]

router = APIRouter(tags=["recovery"])
Viewer = Annotated[Principal, Depends(require("viewer"))]

S = IncidentState
# Failure kinds that leave the process running: until a plan acts, the service is degraded.
_RUNNING_KINDS = frozenset(
    {"degradation", "memory_leak", "disk_full", "network_partition", "db_connection_loss"}
)
_YIELD_EVERY = 100  # rows of /api/services built between two turns of the loop
_BY_STATE = {
    S.AWAITING_APPROVAL: "awaiting_approval",
    S.MANUAL_RECOVERY: "manual",
    S.RECOVERY_FAILED: "failed",
}


def card_state(incident: Incident | None, up: bool) -> str:
    """healthy / degraded / recovering / awaiting_approval / failed / manual: the one word
    a card is coloured by."""
    if incident is None or incident.closed:
        return "healthy" if up else "degraded"
    if incident.state in _BY_STATE:
        return _BY_STATE[incident.state]
    if incident.state is S.FAILURE_DETECTED and incident.kind in _RUNNING_KINDS:
        return "degraded"
    return "recovering"


def _current(owner: IncidentOwner) -> Incident | None:
    incidents = owner.incidents()
    open_ones = [i for i in incidents if not i.closed]
    return max(open_ones, key=lambda i: i.opened_wall) if open_ones else None


@router.get("/api/services")
async def list_services(request: Request, _who: Viewer) -> dict[str, Any]:
    """Every configured service: `state` (one word), `up`, the recovery `status` body, the
    open `incident` (its detection sentence in `reason`), a pending `approval` (method,
    sentence, `deadline` in epoch seconds), the key metrics of its last /health reading
    beside their configured limits (`health`) and the drills it can take (`drills`: `kinds`
    and the `active` drill's id); `now` is paramedic's wall clock."""
    context = request.app.state.context
    owners: dict[str, IncidentOwner] = context.recovery
    rows = []
    for n, name in enumerate(sorted(set(owners) | set(context.known_services))):
        if n and n % _YIELD_EVERY == 0:
            # 1,000 rows hold the loop ~5-20 ms: let the console's own files, heartbeats and
            # timers through between slices (rows were never one instant: an approval's
            # read awaits too).
            await asyncio.sleep(0)
        owner = owners.get(name)
        incident = _current(owner) if owner is not None else None
        up = bool(context.service_up(name))
        approval = None
        if incident is not None and incident.state is S.AWAITING_APPROVAL:
            approval = await _approval(request, incident)
        rows.append(
            {
                "name": name,
                "state": card_state(incident, up),
                "up": up,
                "status": owner.status() if owner is not None else None,
                "incident": _incident(incident),
                "approval": approval,
                "health": key_metrics(
                    context.health_readings.get(name), context.metric_limits.get(name, ())
                ),
                "drills": _drills(context.drills, name),
            }
        )
    return {"now": context.clock.wall(), "services": rows}


def _drills(drills: DrillStarter | None, service: str) -> dict[str, Any]:
    if drills is None:
        return {"kinds": [], "active": None}
    return {"kinds": drills.offered(service), "active": drills.running(service)}


def _incident(i: Incident | None) -> dict[str, Any] | None:
    if i is None:
        return None
    return {
        "id": i.id,
        "kind": i.kind,
        "reason": i.reason,
        "state": str(i.state),
        "method": i.method,
        "decision": i.decision,
        "opened": i.opened_wall,
    }


async def _approval(request: Request, incident: Incident) -> dict[str, Any] | None:
    events = await read_events(
        request.app.state.context.store, service=incident.service, kinds=(ApprovalRequested.kind,)
    )
    asked = [e for e in events if isinstance(e, ApprovalRequested) and e.incident == incident.id]
    if not asked:
        return None
    last = asked[-1]
    return {
        "method": last.method,
        "sentence": last.sentence,
        "asked": last.at.wall,
        "timeout_s": last.timeout_s,
        "deadline": last.at.wall + last.timeout_s,
    }
