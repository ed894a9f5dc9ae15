"""Incident report and lessons learned: `GET /api/incidents/{id}/report` (viewer) and
`POST /api/incidents/{id}/lessons` (operator).

The report is read from the record: the typed timeline of the incident's service and the
pages the outbox holds for it. Generating it is itself recorded (`incident.documented`, once
per incident) because "incident documented" is an item of the after-recovery checklist.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from paramedic.api.auth import Principal, require
from paramedic.api.checklist import Delivery, Page, all_clear_id
from paramedic.api.report import build_report
from paramedic.api.report_md import render_markdown
from paramedic.core.bus import EventBus
from paramedic.core.events import Event
from paramedic.core.incident_events import IncidentDocumented, LessonsCaptured
from paramedic.recovery.states import Incident
from paramedic.store.outbox import AlertRow, OutboxStore
from paramedic.store.protocol import Store
from paramedic.store.timeline import read_events

__all__ = ["LESSONS_MAX_CHARS", "find_incident", "load_pages", "router"]

router = APIRouter(tags=["recovery"])
Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]

LESSONS_MAX_CHARS = 20_000
"""A post-mortem's lessons fit in a few pages; more is a document to link, not to paste."""

# Alerts scanned for an incident's pages beyond the ids known in advance (approval, escalation
# and progress pages name their incident on the row).
_ALERT_SCAN = 1000


class LessonsIn(BaseModel):
    """The lessons learned of an incident: the latest text written is the one shown."""

    model_config = ConfigDict(strict=True)

    text: str = Field(min_length=1, max_length=LESSONS_MAX_CHARS)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            msg = "the lessons learned are blank"
            raise ValueError(msg)
        return value


def find_incident(request: Request, incident_id: str) -> Incident:
    """The incident with that id, or a 404 naming it."""
    for owner in request.app.state.context.recovery.values():
        for incident in owner.incidents():
            if incident.id == incident_id:
                found: Incident = incident
                return found
    raise HTTPException(404, detail=f"no incident {incident_id!r}")


async def load_pages(
    store: OutboxStore, incident: str, ids: Iterable[str] = (), *, scan: bool = True
) -> list[Page]:
    """The incident's alerts with every notification and attempt. The ids given (and those
    derived from the incident) are read directly; with `scan`, recent alerts naming the
    incident too."""
    wanted = {*ids, f"{incident}:failure", f"{incident}_validation:failure", all_clear_id(incident)}
    rows: dict[str, AlertRow] = {}
    for row in await store.alerts(limit=_ALERT_SCAN) if scan else ():
        if row.incident == incident or row.id.startswith((f"{incident}:", f"{incident}_")):
            rows[row.id] = row
    for alert_id in wanted - rows.keys():
        got = await store.get_alert(alert_id)
        if got is not None:
            rows[alert_id] = got
    sent = await store.deliveries(list(rows))
    return [Page(row, [Delivery(n, a) for n, a in sent.get(row.id, ())]) for row in rows.values()]


def _store(request: Request) -> Store:
    result: Store = request.app.state.context.store
    return result


def _bus(request: Request) -> EventBus:
    result: EventBus = request.app.state.context.bus
    return result


@router.get(
    "/api/incidents/{incident_id}/report",
    responses={200: {"content": {"text/markdown": {}}}},
)
async def incident_report(
    incident_id: str,
    request: Request,
    who: Viewer,
    format: Annotated[Literal["json", "md"], Query()] = "json",
) -> Response:
    """The post-mortem report: timeline to the millisecond, decision, approvals, steps,
    pages with delivery and acknowledgement times per receiver and channel, escalations,
    validation, resumption, RTO against target, time to acknowledge, what was preserved,
    the after-recovery checklist and the lessons learned. `format=md` for Markdown."""
    incident = find_incident(request, incident_id)
    context = request.app.state.context
    store = _store(request)
    events: list[Event] = await read_events(store, service=incident.service)
    documented = any(
        isinstance(e, IncidentDocumented) and e.incident == incident_id for e in events
    )
    if not documented:  # durable before the answer: the checklist item stays ticked
        published = await _bus(request).publish(
            IncidentDocumented(
                at=context.clock.now(),
                service=incident.service,
                incident=incident_id,
                by=who.name,
                format=format,
            )
        )
        events.append(published.event)
    report = build_report(
        incident_id,
        events,
        await load_pages(store, incident_id),
        target_rto_s=context.target_rto_s,
        generated_wall=context.clock.wall(),
    )
    if format == "md":
        return Response(render_markdown(report), media_type="text/markdown; charset=utf-8")
    return JSONResponse(report)


@router.post("/api/incidents/{incident_id}/lessons", status_code=201)
async def lessons(
    incident_id: str, body: LessonsIn, request: Request, who: Operator
) -> dict[str, Any]:
    """Write the lessons learned of an incident (operator; durable before the answer; the
    latest text is the one the report and the checklist show)."""
    incident = find_incident(request, incident_id)
    published = await _bus(request).publish(
        LessonsCaptured(
            at=request.app.state.context.clock.now(),
            service=incident.service,
            incident=incident_id,
            by=who.name,
            text=body.text,
        )
    )
    return {"incident": incident_id, "by": who.name, "seq": published.seq}
