"""A relapse within the watch period, recovered in turn: the service trades again.

Found by the kill -9 torture (tests/torture/test_kill9.py), but no kill is needed: the
relapsed incident stays RECOVERY_FAILED (superseded: the next incident owns the recovery),
and once that next incident was HEALTHY, /recovery/status still showed the superseded one
and the resumption endpoint held trading at 0x for good, while /api/incidents said HEALTHY.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.harness import running_paramedic
from tests.integration.test_recovery_edges import NO_APPROVAL, SLEEPER, api, kill_engine

pytestmark = pytest.mark.integration

CONFIG = f"""
recovery:
{NO_APPROVAL}  decision: {{failures_limit: 100}}
  watch_period: 1s
services:
  engine:
    process: {{argv: {SLEEPER}}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s}}
      resumption:
        phases:
          - {{name: monitoring_only, size_multiplier: 0.0, duration: 50ms}}
          - {{name: normal, size_multiplier: 1.0}}
"""


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
