"""Recovery endpoints: the recovery status document, incidents, recovery history, approvals,
sizing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from paramedic.api.auth import Principal, require
from paramedic.api.checklist import checklist
from paramedic.api.incident_report import load_pages
from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event
from paramedic.core.incident_events import IncidentOpened, RecoveryFinished, RecoveryStepFinished
from paramedic.recovery.plain import IncidentOwner
from paramedic.recovery.states import Incident
from paramedic.store.protocol import Store
from paramedic.store.timeline import decode, read_events, read_rows

__all__ = ["router"]

router = APIRouter(tags=["recovery"])
Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]

# Most urgent first: what a person looking at one status line needs to see.
_URGENCY = [
    "AWAITING_APPROVAL",
    "MANUAL_RECOVERY",
    "RECOVERY_FAILED",
    "RECOVERY_IN_PROGRESS",
    "VALIDATING",
    "FAILURE_DETECTED",
    "RECOVERED",
    "HEALTHY",
]


class Decision(BaseModel):
    """A human decision on an incident (approve, reject, take to manual, resolve): who (the
    token) and why go into the audit trail."""

    reason: str = Field(min_length=1, max_length=2000)


def _orchestrators(request: Request) -> dict[str, IncidentOwner]:
    result: dict[str, IncidentOwner] = request.app.state.context.recovery
    return result


def _store(request: Request) -> Store:
    result: Store = request.app.state.context.store
    return result


Orchestrators = Annotated[dict[str, IncidentOwner], Depends(_orchestrators)]
TimelineStore = Annotated[Store, Depends(_store)]


def _rank(status: dict[str, Any]) -> int:
    state = str(status.get("state", "HEALTHY"))
    return _URGENCY.index(state) if state in _URGENCY else len(_URGENCY)


@router.get("/recovery/status")
async def recovery_status(
    orchestrators: Orchestrators, _who: Viewer, service: str | None = None
) -> dict[str, Any]:
    """The recovery status for one service, or for the most urgent incident of all."""
    if service is not None:
        orchestrator = orchestrators.get(service)
        if orchestrator is None:
            raise HTTPException(404, detail=f"no service {service!r}")
        return orchestrator.status()
    statuses = [o.status() for o in orchestrators.values()]
    if not statuses:
        raise HTTPException(404, detail="no service is configured")
    return min(statuses, key=_rank)


def _incident(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id,
        "service": i.service,
        "kind": i.kind,
        "reason": i.reason,
        "state": str(i.state),
        "method": i.method,
        "attempts": i.attempts,
        "decision": i.decision,
        "opened": i.opened_wall,
        "closed": i.closed,
    }


@router.get("/api/incidents")
async def list_incidents(orchestrators: Orchestrators, _who: Viewer) -> dict[str, Any]:
    """Every incident the orchestrators know, newest first."""
    pairs = [(i, o) for o in orchestrators.values() for i in o.incidents()]
    pairs.sort(key=lambda pair: pair[0].opened_wall, reverse=True)
    return {"incidents": [{**_incident(i), "resumption": o.sizing(i.id)} for i, o in pairs]}


@router.get("/api/incidents/{incident_id}")
async def get_incident(
    incident_id: str, orchestrators: Orchestrators, store: TimelineStore, _who: Viewer
) -> dict[str, Any]:
    """One incident: its timeline in sentences, decision, steps with durations, RTO."""
    found = [i for o in orchestrators.values() for i in o.incidents() if i.id == incident_id]
    if not found:
        raise HTTPException(404, detail=f"no incident {incident_id!r}")
    incident = found[0]
    events = await read_events(store, service=incident.service)
    timeline = [e for e in events if getattr(e, "incident", None) == incident_id]
    steps = [
        {"step": e.step, "ok": e.ok, "duration_s": e.duration_s}
        for e in timeline
        if isinstance(e, RecoveryStepFinished)
    ]
    finished = [e for e in timeline if isinstance(e, RecoveryFinished)]
    return {
        **_incident(incident),
        "history": [
            {"from": str(t.from_state), "to": str(t.to_state), "reason": t.reason, "at": t.wall}
            for t in incident.history
        ],
        "timeline": [_line(e) for e in timeline],
        "steps": steps,
        "rto_s": finished[-1].duration_s if finished else None,
        "checklist": checklist(
            incident_id, events, await load_pages(store, incident_id, scan=False)
        ),
    }


def _line(e: Event) -> dict[str, Any]:
    return {"at": e.at.wall, "kind": e.kind, "summary": e.summary()}


@router.get("/api/recoveries")
async def recoveries(
    store: TimelineStore, _who: Viewer, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Recovery history: time, failure type, method, RTO, success."""
    # The newest `limit` recoveries first, then only the openings of their incidents (read
    # per service, by its index): the timeline may hold thousands of incidents, and the
    # console asks for 20 recoveries on its first load.
    got = await store.timeline(kinds=(RecoveryFinished.kind,), limit=limit, newest=True)
    events = [e for e in decode(got) if isinstance(e, RecoveryFinished)]
    wanted = {e.incident for e in events}
    kinds: dict[str, str] = {}
    # (a recovery of no service, if one were recorded, reads every opening: service None)
    for service in dict.fromkeys(e.service for e in events):
        opened = await read_rows(store, service=service, kinds=(IncidentOpened.kind,))
        mine = [r for r in opened if r.payload.get("incident") in wanted]
        kinds.update(
            {e.incident: e.failure_kind for e in decode(mine) if isinstance(e, IncidentOpened)}
        )
    rows = [
        {
            "time": e.at.wall,
            "service": e.service,
            "incident": e.incident,
            "failure_type": kinds.get(e.incident),
            "method": e.method,
            "rto_s": e.duration_s,
            "success": e.ok,
        }
        for e in events
    ]
    return {"recoveries": list(reversed(rows))}


async def _decide(
    action: str,
    incident_id: str,
    body: Decision,
    request: Request,
    who: Principal,
) -> None:
    """Act; the action's own record names the operator. The audit row is written by `require`
    before the call acts and gets its outcome (a 409 included) before the answer leaves."""
    orchestrator = _owner(_orchestrators(request), incident_id)
    act = {
        "approve": orchestrator.approve,
        "reject": orchestrator.reject,
        "take-to-manual": orchestrator.take_manual,
        "resolve-incident": orchestrator.resolve,
    }[action]
    try:
        await act(incident_id, by=who.name, why=body.reason)
    except RecoveryError as exc:
        raise HTTPException(409, detail=str(exc)) from None


@router.post("/api/incidents/{incident_id}/approve")
async def approve(
    incident_id: str,
    body: Decision,
    request: Request,
    who: Operator,
) -> dict[str, Any]:
    """Approve the decided recovery, also after the approval timeout (operator; audited)."""
    await _decide("approve", incident_id, body, request, who)
    return {"incident": incident_id, "approved_by": who.name}


@router.post("/api/incidents/{incident_id}/reject")
async def reject(
    incident_id: str,
    body: Decision,
    request: Request,
    who: Operator,
) -> dict[str, Any]:
    """Reject it: the incident goes to manual recovery, nothing is run."""
    await _decide("reject", incident_id, body, request, who)
    return {"incident": incident_id, "rejected_by": who.name}


@router.post("/api/incidents/{incident_id}/manual")
async def take_manual(
    incident_id: str,
    body: Decision,
    request: Request,
    who: Operator,
) -> dict[str, Any]:
    """Take an open incident to MANUAL_RECOVERY from any state: automation stops, trading is
    halted, a human owns it until `resolve` (operator; reason required; audited)."""
    await _decide("take-to-manual", incident_id, body, request, who)
    return {"incident": incident_id, "state": "MANUAL_RECOVERY", "by": who.name}


@router.post("/api/incidents/{incident_id}/resolve")
async def resolve_incident(
    incident_id: str,
    body: Decision,
    request: Request,
    who: Operator,
) -> dict[str, Any]:
    """A human fixed it: MANUAL_RECOVERY -> RECOVERED, gradual resumption, HEALTHY after the
    watch period (operator; reason required; audited)."""
    await _decide("resolve-incident", incident_id, body, request, who)
    return {"incident": incident_id, "state": "RECOVERED", "by": who.name}


@router.get("/api/services/{name}/resumption")
async def resumption(
    name: str, request: Request, orchestrators: Orchestrators, _who: Viewer
) -> dict[str, Any]:
    """{phase, size_multiplier, should_trade, since}: what a trading loop may do now."""
    orchestrator = orchestrators.get(name)
    if orchestrator is not None:
        return orchestrator.resumption()
    if name not in request.app.state.context.known_services:
        raise HTTPException(404, detail=f"no service {name!r}")
    # No plan: paramedic only knows whether the service is healthy.
    up = bool(request.app.state.context.service_up(name))
    return {
        "phase": "normal" if up else "halted",
        "size_multiplier": 1.0 if up else 0.0,
        "should_trade": up,
        "since": None,
    }


def _owner(orchestrators: dict[str, IncidentOwner], incident_id: str) -> IncidentOwner:
    for orchestrator in orchestrators.values():
        if any(i.id == incident_id for i in orchestrator.incidents()):
            return orchestrator
    raise HTTPException(404, detail=f"no incident {incident_id!r}")
