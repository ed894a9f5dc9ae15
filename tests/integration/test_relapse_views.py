"""A relapse within the watch period, recovered in turn: the service trades again.

Found by the kill -9 torture (tests/torture/test_kill9.py), but no kill is needed: the
relapsed incident stays RECOVERY_FAILED (superseded: the next incident owns the recovery),
and once that next incident was HEALTHY, /recovery/status still showed the superseded one
and the resumption endpoint held trading at 0x for good, while /api/incidents said HEALTHY.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.configs import NO_APPROVAL, engine_plan
from tests.integration.harness import api, kill_engine, running_paramedic

pytestmark = pytest.mark.integration

RESUMPTION = """\
      resumption:
        phases:
          - {name: monitoring_only, size_multiplier: 0.0, duration: 50ms}
          - {name: normal, size_multiplier: 1.0}
"""
CONFIG = engine_plan(
    recovery=NO_APPROVAL + "  decision: {failures_limit: 100}\n  watch_period: 1s\n",
    plan=RESUMPTION,
)


async def test_after_a_recovered_relapse_the_views_say_healthy_and_trading_resumes(
    tmp_path: Path,
) -> None:
    """Crash, recovered; crash again inside the 1 s watch period (a relapse: the first
    incident goes RECOVERY_FAILED, superseded); the second recovery holds for its watch
    period: the second incident is HEALTHY, and /recovery/status and the resumption
    endpoint say so too (trade at 1x), not the superseded incident's halt."""
    async with running_paramedic(tmp_path, CONFIG) as (p, timeline):
        await timeline.wait_for("service.up")
        first = (await kill_engine(p, timeline)).incident  # type: ignore[attr-defined]
        await timeline.wait_for("recovery.finished")
        second = (await kill_engine(p, timeline)).incident  # type: ignore[attr-defined]
        await timeline.wait_for(
            "incident.transitioned",
            lambda e: e.incident == first and e.to_state == "RECOVERY_FAILED",  # type: ignore[attr-defined]
        )
        await timeline.wait_for(
            "incident.transitioned",
            lambda e: e.incident == second and e.to_state == "HEALTHY",  # type: ignore[attr-defined]
        )
        async with api(p) as client:
            status = (await client.get("/recovery/status")).json()
            listed = (await client.get("/api/incidents")).json()["incidents"]
            sizing = (await client.get("/api/services/engine/resumption")).json()
    states = {i["id"]: i["state"] for i in listed}
    assert {first: "RECOVERY_FAILED", second: "HEALTHY"} == states
    assert "HEALTHY" == status["state"]
    assert (True, 1.0) == (sizing["should_trade"], sizing["size_multiplier"])
