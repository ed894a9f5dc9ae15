"""The HTTP API: the one door every screen (CLI, dashboard, Grafana) comes through.

`create_app` takes everything it serves in an `ApiContext`; nothing is global, so two
paramedics (or two tests) can run in one process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field

from paramedic.alerting.service import AlertingService
from paramedic.alerting.silence_admin import SilenceAdmin
from paramedic.api.alertmanager import router as alertmanager_router
from paramedic.api.alerts import router as alerts_router
from paramedic.api.audit import router as audit_router
from paramedic.api.audit_trail import AuditOutcome
from paramedic.api.auth import Principal, TokenAuth, require
from paramedic.api.body_guard import DEFAULT_MAX_BODY_BYTES, install_body_guard
from paramedic.api.console_files import router as console_router
from paramedic.api.drills import DrillStarter
from paramedic.api.drills import router as drills_router
from paramedic.api.incident_report import router as incident_report_router
from paramedic.api.preflight import PreflightRunner
from paramedic.api.preflight import router as preflight_router
from paramedic.api.readiness import CheckRegistry, CheckResult
from paramedic.api.recovery import router as recovery_router
from paramedic.api.services import router as services_router
from paramedic.api.silences import router as silences_router
from paramedic.api.stream import router as stream_router
from paramedic.config.resources import MetricThreshold
from paramedic.core.bus import EventBus
from paramedic.core.clock import Clock
from paramedic.core.errors import StoreError
from paramedic.core.events import NoteAdded
from paramedic.detect.health_readings import HealthReading
from paramedic.detect.signals import Signal
from paramedic.recovery.plain import IncidentOwner
from paramedic.store.protocol import Store

__all__ = ["ApiContext", "create_app"]


async def _nothing_to_wait_for() -> None:
    return None


@dataclass
class ApiContext:
    """What the API serves. Built by the runtime; tests build their own."""

    clock: Clock
    store: Store
    bus: EventBus
    checks: CheckRegistry
    registry: CollectorRegistry
    auth: TokenAuth
    version: str
    health_metrics: Callable[[], dict[str, float]] = field(default=lambda: {})
    alerting: AlertingService | None = None
    silences: SilenceAdmin | None = None
    recovery: dict[str, IncidentOwner] = field(default_factory=dict)
    # How outside sources (the Alertmanager webhook) report on a service; False if unknown.
    signal_sink: Callable[[str, Signal], bool] = field(default=lambda service, signal: False)
    # Returns once every signal handed to `signal_sink` so far is durable (before a 2xx).
    inputs_durable: Callable[[], Awaitable[None]] = field(default=_nothing_to_wait_for)
    known_services: frozenset[str] = frozenset()
    service_up: Callable[[str], bool] = field(default=lambda service: False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    target_rto_s: float = 30.0  # recovery.target_rto: what the incident report measures against
    drills: DrillStarter | None = None
    preflight: PreflightRunner | None = None
    # The last /health reading per service (the key-metrics gauges' source) and the limits
    # its config states (`resources.metrics`), for GET /api/services.
    health_readings: Mapping[str, HealthReading] = field(default_factory=dict)
    metric_limits: Mapping[str, Sequence[MetricThreshold]] = field(default_factory=dict)


class NoteIn(BaseModel):
    """An operator's note on the timeline."""

    text: str = Field(min_length=1, max_length=2000)
    service: str | None = Field(default=None, max_length=64)


def _context(request: Request) -> ApiContext:
    result: ApiContext = request.app.state.context
    return result


Ctx = Annotated[ApiContext, Depends(_context)]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Exclude = Annotated[list[str] | None, Query()]


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="paramedic",
        version=context.version,
        description="Recovery supervisor API: health, timeline, incidents, alerts.",
    )
    app.state.context = context
    app.add_middleware(AuditOutcome)
    install_body_guard(app, max_bytes=context.max_body_bytes)
    app.add_exception_handler(StoreError, _store_refused)
    app.include_router(alerts_router)
    app.include_router(recovery_router)
    app.include_router(alertmanager_router)
    app.include_router(audit_router)
    app.include_router(silences_router)
    app.include_router(incident_report_router)
    app.include_router(stream_router)
    app.include_router(services_router)
    app.include_router(drills_router)
    app.include_router(preflight_router)
    app.include_router(console_router)

    @app.get("/livez", response_class=PlainTextResponse, tags=["probes"])
    async def livez(c: Ctx, verbose: str | None = None, exclude: Exclude = None) -> Response:
        """Liveness, Kubernetes style: fails when paramedic's own loop has stalled."""
        return _probe("livez", await c.checks.run("live"), verbose is not None, exclude or [])

    @app.get("/readyz", response_class=PlainTextResponse, tags=["probes"])
    async def readyz(c: Ctx, verbose: str | None = None, exclude: Exclude = None) -> Response:
        """Readiness, Kubernetes style: started, store writable, API serving."""
        return _probe("readyz", await c.checks.run("ready"), verbose is not None, exclude or [])

    @app.get("/health", tags=["probes"])
    async def health(c: Ctx) -> JSONResponse:
        """paramedic's own health (healthy, timestamp, components, metrics); 503 if unhealthy."""
        results = await c.checks.run("live") + await c.checks.run("ready")
        components = {r.name: r.ok for r in results}
        healthy = all(components.values())
        body = {
            "healthy": healthy,
            "timestamp": int(c.clock.wall() * 1000),
            "components": components,
            "metrics": c.health_metrics(),
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get("/metrics", tags=["probes"])
    async def metrics(c: Ctx) -> Response:
        """Prometheus text exposition, read from live state at scrape time."""
        return Response(generate_latest(c.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/timeline", tags=["timeline"])
    async def timeline(
        c: Ctx,
        _who: Viewer,
        after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # SQLite integers are 64-bit
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        service: str | None = None,
        last: Annotated[int | None, Query(ge=1, le=1000)] = None,
    ) -> dict[str, Any]:
        """Durable events, oldest first, from seq `after` on; with `last=N`, the newest N
        of them instead (a screen's backfill: open the event stream `after` `next_after`)."""
        rows = await c.store.timeline(
            after_seq=after,
            limit=last if last is not None else limit,
            service=service,
            newest=last is not None,
        )
        return {
            "events": [
                {
                    "seq": r.seq,
                    "id": r.id,
                    "kind": r.kind,
                    "wall": r.wall,
                    "service": r.service,
                    "summary": r.summary,
                    "payload": r.payload,
                }
                for r in rows
            ],
            "next_after": rows[-1].seq if rows else after,
        }

    @app.post("/api/timeline/notes", status_code=201, tags=["timeline"])
    async def add_note(note: NoteIn, c: Ctx, who: Operator) -> dict[str, Any]:
        """Write an operator's note on the timeline; the token's name is the author."""
        if note.service is not None and note.service not in c.known_services:
            raise HTTPException(422, detail=f"service: unknown service {note.service!r}")
        published = await c.bus.publish(
            NoteAdded(at=c.clock.now(), service=note.service, author=who.name, text=note.text)
        )
        return {"seq": published.seq, "id": published.event.id}

    return app


async def _store_refused(_request: Request, exc: Exception) -> Response:
    """The store refused the write (disk full, read-only): nothing was accepted, say so
    plainly so the caller retries later, instead of a bare 500."""
    return JSONResponse({"detail": f"not recorded, try again later: {exc}"}, status_code=503)


def _probe(name: str, results: list[CheckResult], verbose: bool, exclude: list[str]) -> Response:
    shown = [r for r in results if r.name not in exclude]
    ok = all(r.ok for r in shown)
    if ok and not verbose:
        return PlainTextResponse("ok")
    lines = [f"[+]{r.name} ok" if r.ok else f"[-]{r.name} failed: {r.reason}" for r in shown]
    lines.extend(f"[+]{n} excluded: ok" for n in exclude if any(r.name == n for r in results))
    lines.append(f"{name} check {'passed' if ok else 'failed'}")
    return PlainTextResponse("\n".join(lines) + "\n", status_code=200 if ok else 503)
