"""`/api/silences`: add, list and expire silences at run time (operator role to change them).

Matchers are written as in the config (`service=engine`, `venue=~"NYSE|CME"`); the author is
the token's name. A silence has an end: `ends` (a time with its zone), `duration` (`2h`) or
`until_resolved: true` (it ends when an alert it matched resolves). Every mistake is
answered 422 naming its field, and nothing is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from paramedic.alerting.silence_admin import SilenceAdmin, silence_view
from paramedic.api.audit_trail import note_target
from paramedic.api.auth import Principal, require
from paramedic.config.durations import parse_duration
from paramedic.core.errors import AlertingError
from paramedic.core.labels import Matcher
from paramedic.core.text import duration

__all__ = ["MAX_SILENCE_S", "router"]

router = APIRouter(tags=["silences"])
Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]

# A silence is a promise to look again; a month is the longest such promise we accept.
MAX_SILENCE_S = 30 * 86400.0


class SilenceIn(BaseModel):
    """A new silence: matchers, an optional start, and exactly one way for it to end."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[Annotated[str, Field(min_length=3, max_length=300)]] = Field(
        min_length=1, max_length=20
    )
    starts: datetime | None = None
    ends: datetime | None = None
    duration: str | None = Field(default=None, max_length=32, examples=["2h"])
    until_resolved: bool = False
    comment: str = Field(min_length=1, max_length=2000)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        for text in value:
            Matcher.parse(text)  # ValueError names what is wrong with the one matcher
        return value

    @field_validator("starts", "ends")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            msg = "give a time zone (e.g. 2026-01-02T18:00:00Z)"
            raise ValueError(msg)
        return value

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= 0:
            msg = "must be longer than 0s"
            raise ValueError(msg)
        return value


def _invalid(field: str, msg: str) -> HTTPException:
    """A 422 in FastAPI's own shape, located at the field."""
    return HTTPException(422, detail=[{"loc": ["body", field], "msg": msg, "type": "value_error"}])


def _admin(request: Request) -> SilenceAdmin:
    admin: SilenceAdmin | None = request.app.state.context.silences
    if admin is None:
        raise HTTPException(503, detail="alerting is not running")
    return admin


Admin = Annotated[SilenceAdmin, Depends(_admin)]


@router.post("/api/silences", status_code=201)
async def add_silence(
    body: SilenceIn, request: Request, admin: Admin, who: Operator
) -> dict[str, Any]:
    """Add a silence: stored, then effective at once (matching alerts are held, recorded)."""
    now = request.app.state.context.clock.wall()
    starts = body.starts.timestamp() if body.starts is not None else now
    ways = [n for n in ("ends", "duration") if getattr(body, n) is not None]
    ways += ["until_resolved"] if body.until_resolved else []
    if len(ways) != 1:
        field = ways[-1] if ways else "ends"
        given = " and ".join(ways) if ways else "none of them"
        msg = f"give exactly one of ends, duration, until_resolved (got {given})"
        raise _invalid(field, msg)
    ends: float | None = None
    if body.ends is not None:
        ends = body.ends.timestamp()
        if ends <= max(now, starts):
            raise _invalid("ends", "must be later than now and than starts")
    elif body.duration is not None:
        ends = starts + parse_duration(body.duration)
    if ends is not None and ends - starts > MAX_SILENCE_S:
        longest = duration(MAX_SILENCE_S)
        raise _invalid("ends" if body.ends else "duration", f"at most {longest} after starts")
    if starts - now > MAX_SILENCE_S:
        raise _invalid("starts", f"at most {duration(MAX_SILENCE_S)} from now")
    row = await admin.add(
        matchers=body.matchers,
        starts_wall=starts,
        ends_wall=ends,
        until_resolved=body.until_resolved,
        author=who.name,
        comment=body.comment,
    )
    note_target(request, row.id)
    return {"silence": silence_view(row, now)}


@router.get("/api/silences")
async def list_silences(
    admin: Admin,
    _who: Viewer,
    state: Literal["live", "all"] = "live",
) -> dict[str, Any]:
    """Silences from the config and the API: active and pending (`state=all`: and expired)."""
    return {"silences": await admin.listing(include_expired=state == "all")}


@router.delete("/api/silences/{silence_id}")
async def expire_silence(
    silence_id: str, request: Request, admin: Admin, who: Operator
) -> dict[str, Any]:
    """Expire a silence now; held alerts that still fire (and nothing else mutes) are paged."""
    try:
        row = await admin.expire(silence_id, by=who.name)
    except LookupError as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except AlertingError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    return {"silence": silence_view(row, request.app.state.context.clock.wall())}
