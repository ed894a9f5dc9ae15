"""Preflight endpoints: run the "before recovery" checklist (operator: it may send test
pages, and its verdicts become the `paramedic_preflight_ok` metric) and read the last one."""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from paramedic.api.auth import Principal, require

__all__ = ["PreflightIn", "PreflightRunner", "router"]

router = APIRouter(tags=["preflight"])

Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]


class PreflightRunner(Protocol):
    """What the API needs of the runtime's preflight."""

    ok: dict[str, bool]

    async def run(
        self, *, by: str, send_test: bool, reach_days: float, drill_days: float
    ) -> list[Any]: ...

    @staticmethod
    def as_json(items: list[Any]) -> dict[str, Any]: ...


class PreflightIn(BaseModel):
    """`send_test`: send test pages first (the on-call contacts are paged, marked TEST);
    `reach_days`: how recent an on-call contact's last delivered test page must be;
    `drill_days`: how recent each tier-1 service's last successful drill must be."""

    send_test: bool = Field(default=False, strict=True)
    reach_days: float = Field(default=31.0, gt=0, le=3650, strict=True)
    drill_days: float = Field(default=90.0, gt=0, le=3650, strict=True)


def _runner(request: Request) -> PreflightRunner:
    runner: PreflightRunner | None = request.app.state.context.preflight
    if runner is None:
        raise HTTPException(503, detail="preflight is not available in this paramedic")
    return runner


Runner = Annotated[PreflightRunner, Depends(_runner)]


@router.post("/api/preflight")
async def run_preflight(body: PreflightIn, runner: Runner, who: Operator) -> dict[str, Any]:
    """Run every item of the checklist now; `ok` is true when all passed."""
    items = await runner.run(
        by=who.name,
        send_test=body.send_test,
        reach_days=body.reach_days,
        drill_days=body.drill_days,
    )
    return runner.as_json(items)


@router.get("/api/preflight")
async def last_preflight(runner: Runner, _who: Viewer) -> dict[str, Any]:
    """The last run's verdict per item (empty before the first run)."""
    return {"ok": runner.ok}
