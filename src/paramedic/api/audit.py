"""`GET /api/audit`: who did what through the API, from where, and how it ended.

Operator role, not viewer: the trail names every token and the address it was used from,
which is a map for an attacker holding a read-only (or, by default, no) token; the people
who answer pages are the ones who need to see who else answered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from paramedic.api.auth import Principal, require
from paramedic.store.outbox import AuditRow, OutboxStore

__all__ = ["audit_entry", "router"]

router = APIRouter(tags=["audit"])
Operator = Annotated[Principal, Depends(require("operator"))]


def audit_entry(row: AuditRow) -> dict[str, Any]:
    """One row as the API and `paramedic audit --json` show it (wall time in ISO 8601 UTC)."""
    return {
        "seq": row.seq,
        "at": datetime.fromtimestamp(row.wall, UTC).isoformat(timespec="milliseconds"),
        "who": row.actor,
        "role": row.role,
        "address": row.address,
        "action": row.action,
        "target": row.target,
        "reason": row.reason,
        "outcome": row.outcome or "unknown: paramedic stopped before answering",
    }


@router.get("/api/audit")
async def audit_log(
    request: Request,
    _who: Operator,
    target: Annotated[str | None, Query(max_length=300)] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The audit trail, newest first; page back with `before` (a `seq`)."""
    store: OutboxStore = request.app.state.context.store
    rows = await store.audit_log(target=target, before=before, limit=limit)
    return {"entries": [audit_entry(r) for r in rows]}
