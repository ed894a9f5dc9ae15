"""Drill endpoints: start a drill (operator), its report and the history (viewer).

The runtime's drill runner is handed in as a `DrillStarter` (the API is built below the
runtime); a refusal is one of its errors with the HTTP `status` it asks for, and its sentence
names what to fix (an unknown service, a missing chaos hook, a drill already running).
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from paramedic.api.auth import Principal, require
from paramedic.api.drill_report import drill_history, drill_report
from paramedic.config.chaos import DrillKind
from paramedic.config.durations import parse_duration
from paramedic.core.errors import ParamedicError
from paramedic.store.protocol import Store

__all__ = ["DrillIn", "DrillStarter", "router"]

router = APIRouter(tags=["drills"])

Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]

MAX_TIMEOUT_S = 3600.0


class DrillStarter(Protocol):
    """What the API needs of the runtime's drills."""

    async def start(
        self, service: str, kind: str, *, by: str, contacts: list[str] | None, follow_s: float
    ) -> str: ...

    def offered(self, service: str) -> list[str]:
        """The drill kinds `service` can take (crash and hang of a process paramedic runs or
        watches, and every kind it has a chaos hook for); empty for an unknown service."""
        ...

    def running(self, service: str) -> str | None:
        """The id of the drill running on `service`, if any."""
        ...


class DrillIn(BaseModel):
    """A drill: which service, which failure, who is paged (default: the on-call contact),
    how long to follow the incident before calling it a timeout."""

    service: str = Field(min_length=1, max_length=64)
    kind: DrillKind
    contacts: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=20
    )
    timeout: str = Field(default="5m", max_length=32, examples=["5m"])

    def timeout_s(self) -> float:
        try:
            seconds = parse_duration(self.timeout)
        except ValueError as exc:
            raise HTTPException(422, detail=f"timeout: {exc}") from None
        if not 1.0 <= seconds <= MAX_TIMEOUT_S:
            raise HTTPException(422, detail="timeout: give from 1s to 1h") from None
        return seconds


def _drills(request: Request) -> DrillStarter:
    drills: DrillStarter | None = request.app.state.context.drills
    if drills is None:
        raise HTTPException(503, detail="drills are not available in this paramedic")
    return drills


def _store(request: Request) -> Store:
    store: Store = request.app.state.context.store
    return store


@router.post("/api/drills", status_code=202)
async def start_drill(
    body: DrillIn, drills: Annotated[DrillStarter, Depends(_drills)], who: Operator
) -> dict[str, Any]:
    """Start a drill: recorded first, then the failure is injected and the incident
    followed in the background; read its report at `GET /api/drills/{id}`."""
    timeout = body.timeout_s()
    try:
        drill = await drills.start(
            body.service, body.kind, by=who.name, contacts=body.contacts, follow_s=timeout
        )
    except ParamedicError as exc:
        status = getattr(exc, "status", 422)
        raise HTTPException(status, detail=str(exc)) from None
    return {"drill": drill, "report": f"/api/drills/{drill}"}


@router.get("/api/drills")
async def list_drills(store: Annotated[Store, Depends(_store)], _who: Viewer) -> dict[str, Any]:
    """Every drill, newest first, with its outcome (null while it runs)."""
    return {"drills": await drill_history(store)}


@router.get("/api/drills/{drill_id}")
async def get_drill(
    drill_id: str, store: Annotated[Store, Depends(_store)], _who: Viewer
) -> dict[str, Any]:
    """A drill's report: time to detect, the convicting layer, the decision, the path, RTO
    against target, every page with its delivery and acknowledgement, escalation."""
    report = await drill_report(store, drill_id)
    if report is None:
        raise HTTPException(404, detail=f"no drill {drill_id!r}")
    return report
