"""Alert endpoints: history with every attempt, acknowledge, resolve, and test pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from paramedic.alerting.codec import alert_to_data
from paramedic.alerting.service import AlertingService
from paramedic.alerting.views import alert_state, iso, ladder_view
from paramedic.api.auth import Principal, require
from paramedic.config.durations import parse_duration
from paramedic.core.errors import AlertingError
from paramedic.core.text import duration

__all__ = ["router"]

router = APIRouter(tags=["alerts"])

# An ack shorter than a minute is a typo; one longer than a day is a silence: use one.
ACK_MIN_S = 60.0
ACK_MAX_S = 86400.0

Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]


class Answer(BaseModel):
    """Why the alert is acknowledged or resolved: goes into the audit trail with the name."""

    reason: str = Field(min_length=1, max_length=2000)


class AckIn(BaseModel):
    """An acknowledgement: why, and for how long (`for: "30m"` or `expires_in_seconds`;
    neither: `alerting.escalation.ack_ttl`). When it lapses the ladder resumes."""

    model_config = ConfigDict(populate_by_name=True)

    reason: str = Field(min_length=1, max_length=2000)
    for_: str | None = Field(default=None, alias="for", max_length=32, examples=["30m"])
    expires_in_seconds: float | None = Field(default=None, ge=ACK_MIN_S, le=ACK_MAX_S)

    @field_validator("for_")
    @classmethod
    def _for(cls, value: str | None) -> str | None:
        if value is None:
            return value
        seconds = parse_duration(value)
        if not ACK_MIN_S <= seconds <= ACK_MAX_S:
            low, high = duration(ACK_MIN_S), duration(ACK_MAX_S)
            msg = f"an acknowledgement lasts from {low} to {high}; got {value}"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _one(self) -> AckIn:
        if self.for_ is not None and self.expires_in_seconds is not None:
            msg = "give `for` or `expires_in_seconds`, not both"
            raise ValueError(msg)
        return self

    def ttl(self) -> float | None:
        if self.for_ is not None:
            return parse_duration(self.for_)
        return self.expires_in_seconds


class TestPage(BaseModel):
    """A test page: delivery of every contact method is worth testing regularly."""

    severity: Literal["P0", "P1", "P2", "P3"] = "P1"
    channel: str | None = Field(default=None, max_length=64)


def _alerting(request: Request) -> AlertingService:
    service: AlertingService | None = request.app.state.context.alerting
    if service is None:
        raise HTTPException(503, detail="alerting is not running")
    return service


Alerting = Annotated[AlertingService, Depends(_alerting)]


@router.get("/api/alerts")
async def list_alerts(
    alerting: Alerting,
    _who: Viewer,
    state: Literal["firing", "acknowledged", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Alerts, newest first, each with every notification and every attempt, its
    acknowledgement and what its escalation ladder is doing (times in ISO 8601 UTC)."""
    store = alerting.store
    out = []
    rows = await store.alerts(state=state, limit=limit)
    deliveries = await store.deliveries([row.id for row in rows])
    for row in rows:
        notifications = []
        for n, attempts in deliveries[row.id]:
            notifications.append(
                {
                    "id": n.id,
                    "channel": n.channel,
                    "receiver": n.payload.get("labels", {}).get("receiver", ""),
                    "action": n.action,
                    "status": n.status,
                    "idempotency_key": n.idempotency_key,
                    "attempts": [
                        {
                            "number": a.number,
                            "at": a.started_wall,
                            "duration_s": a.duration_s,
                            "outcome": a.outcome,
                            "status": a.status,
                            "detail": a.detail,
                        }
                        for a in attempts
                    ],
                }
            )
        out.append(
            {
                "id": row.id,
                "incident": row.incident,
                "service": row.service,
                "severity": row.severity,
                "state": alert_state(alerting, row),
                "opened": row.opened_wall,
                "opened_at": iso(row.opened_wall),
                "updated": row.updated_wall,
                "escalation_level": alerting.escalation.levels().get(row.id, 0),
                **ladder_view(alerting, row),
                "alert": _readable(row.data.get("alert", {})),
                "notifications": notifications,
            }
        )
    return {"alerts": out}


def _readable(alert: dict[str, Any]) -> dict[str, Any]:
    """The stored alert without monotonic readings (paramedic's own clock, meaningless to a
    client): `acknowledgement` has the ack's times in UTC."""
    ack = alert.get("ack")
    if not ack:
        return alert
    return {**alert, "ack": {k: v for k, v in ack.items() if not k.endswith("_mono")}}


@router.post("/api/alerts/{alert_id}/ack")
async def acknowledge(
    alert_id: str, body: AckIn, alerting: Alerting, who: Operator
) -> dict[str, Any]:
    """Acknowledge: escalation pauses until resolved or the acknowledgement expires
    (`expires_at`, wall clock, UTC); then the ladder resumes where it stood."""
    ttl = body.ttl()
    try:
        alert = await alerting.acknowledge(alert_id, by=who.name, why=body.reason, ttl=ttl)
    except AlertingError as exc:
        raise HTTPException(404 if "no open alert" in str(exc) else 409, detail=str(exc)) from None
    lasts = alerting.config.escalation.ack_ttl if ttl is None else ttl
    expires = datetime.fromtimestamp(alert.ack.at_wall + lasts if alert.ack else 0, UTC)
    return {
        "alert": _readable(alert_to_data(alert)),
        "expires_at": expires.isoformat(timespec="seconds"),
        "expires_in_seconds": lasts,
    }


@router.post("/api/alerts/{alert_id}/resolve")
async def resolve(alert_id: str, body: Answer, alerting: Alerting, who: Operator) -> dict[str, Any]:
    """Resolve: the resolve notice goes to every channel that got the trigger."""
    alert = await alerting.resolve(alert_id, by=who.name, why=body.reason)
    if alert is None:
        raise HTTPException(404, detail=f"no open alert {alert_id!r}")
    return {"alert": alert_to_data(alert)}


@router.post("/api/test-alert", status_code=201)
async def send_test_page(body: TestPage, alerting: Alerting, who: Operator) -> dict[str, Any]:
    """Send a test page through the routes for its severity, or to one channel."""
    try:
        alert = await alerting.test_page(body.severity, channel=body.channel, by=who.name)
    except AlertingError as exc:
        raise HTTPException(400, detail=str(exc)) from None
    return {"alert": alert_to_data(alert)}
