"""Progress pushes and the all-clear (issue 13, items 4 and 6), through a real `paramedic run`.

The example engine (examples/engine.py, its /health read by a readiness probe) has a
three-step recovery plan: two command steps, then a wait until it is healthy again. Nothing
restarts the engine inside the plan, so the wait blocks until the test releases it: a
restart of paramedic spawns the dead engine again (and a wait is safe to resume). The
on-call's push apps get the notices: `ntfy`, a signed webhook on a loopback receiver, and
`mobile`, the real Apprise library (its json:// plugin: no throttle, unlike ntfy://, whose
5.5 s spacing test_channel_apprise.py covers) posting to a second loopback receiver.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import REPO, free_port
from tests.integration.runner import (
    OPERATOR_TOKEN,
    RunningParamedic,
    config_file,
    started,
    until,
)
from tests.integration.test_resolve_recovered import (
    crash_engine,
    engines_ended,
    events,
    moved_to,
)

pytestmark = pytest.mark.integration

ENV = {"OPS_TOKEN": OPERATOR_TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}
ENGINE = str(REPO / "examples" / "engine.py")
MILESTONES = ["started", "25", "50", "75", "complete"]


def write_config(tmp_path: Path, hook_url: str) -> Path:
    """The push apps: `ntfy` (webhook, /push) and `mobile` (Apprise, its URL in MOBILE_URL)."""
    port = free_port()
    return config_file(
        tmp_path,
        f"""channels:
  pagerduty: {{webhook: {{url: "{hook_url}/page", secret_env: HOOK_SECRET}}}}
  ntfy: {{webhook: {{url: "{hook_url}/push", secret_env: HOOK_SECRET}}}}
  mobile: {{apprise: {{url_env: MOBILE_URL}}}}
alerting:
  contacts:
    oncall: {{display: "On-call engineer", channels: [pagerduty, ntfy, mobile]}}
recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
  target_rto: 1m
  watch_period: 300ms
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, {ENGINE!r}, --port, "{port}"]
      stop_timeout: 2s
    probes:
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 100ms, timeout: 100ms}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Mark checkpoint, timeout: 10s, command: {{argv: ["true"]}}}}
            - {{name: Reload positions, timeout: 10s, command: {{argv: ["true"]}}}}
            - {{name: Wait until healthy, timeout: 2m, wait_healthy: {{}}}}
      validation:
        immediate: [{{name: health endpoint, http: {{url: "http://127.0.0.1:{port}/health"}}}}]
      resumption:
        phases:
          - {{name: monitoring_only, size_multiplier: 0.0, duration: 100ms}}
          - {{name: normal, size_multiplier: 1.0}}
""",
    )


def pushed(hook: LoopbackReceiver, incident: str) -> list[dict[str, Any]]:
    """The notices the push app got about `incident`, in arrival order."""
    bodies = [r.json() for r in hook.requests if r.path == "/push"]
    return [
        b
        for b in bodies
        if b["alert_id"].startswith(f"{incident}:") and "failure" not in b["alert_id"]
    ]


def delivered(p: RunningParamedic, alert_id: str) -> bool:
    """Every notification of `alert_id` recorded delivered (GET /api/alerts)."""
    auth = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    alerts = p.get("/api/alerts", params={"limit": 1000}, headers=auth).json()["alerts"]
    rows = [n for a in alerts if a["id"] == alert_id for n in a["notifications"]]
    return bool(rows) and all(n["status"] == "delivered" for n in rows)


async def test_each_push_arrives_once_across_a_kill_9_between_50_and_75(tmp_path: Path) -> None:
    """kill -9 the engine: started, 25 % and 50 % arrive; paramedic is killed with SIGKILL
    while the plan waits at 50 %; restarted, it spawns the engine, the wait ends, and 75 %,
    complete and the all-clear arrive. Each notice exactly once; the all-clear names the
    RTO against the 1 min target, the cold method and each step with its duration."""
    async with (
        LoopbackReceiver() as hook,
        LoopbackReceiver() as mobile,
        engines_ended(tmp_path) as pids,
    ):
        config = write_config(tmp_path, hook.url)
        env = {**ENV, "MOBILE_URL": f"json://127.0.0.1:{mobile.port}/push"}
        first = await started(config, env)
        try:
            incident = await crash_engine(first)
            pids += [e["payload"]["pid"] for e in events(first, "process.spawned")]
            fifty = f"{incident}:progress:50"
            # Killed at a quiet point: the 50 % push delivered on every channel and recorded
            # so (a send in flight at a kill is sent again: at least once, idempotency key).
            await until("the 50 % push delivered", lambda: delivered(first, fifty), within=30)
            [waiting] = [
                e for e in events(first, "recovery.step_started") if e["payload"]["index"] == 3
            ]
            assert "Wait until healthy" == waiting["payload"]["step"]
            first.signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        finally:
            await asyncio.to_thread(first.ensure_dead)
        before = [b["alert_id"] for b in pushed(hook, incident)]
        assert [f"{incident}:progress:{m}" for m in ("started", "25", "50")] == before

        second = await started(config, env)
        try:
            clear = f"{incident}:all-clear"
            await until(
                "the all-clear",
                lambda: [b for b in pushed(hook, incident) if b["alert_id"] == clear],
                within=30,
            )
            pids += [e["payload"]["pid"] for e in events(second, "process.spawned")]
            assert moved_to(second, incident, "HEALTHY")
            counts = Counter(b["alert_id"] for b in pushed(hook, incident))
            expected = [f"{incident}:progress:{m}" for m in MILESTONES] + [clear]
            assert {k: 1 for k in expected} == dict(counts)
            [done] = [b for b in pushed(hook, incident) if b["alert_id"] == clear]
            what = done["fields"]["what"]
            assert "recovered by the cold method, RTO " in what
            assert "against a target of 1 min (met)" in what
            actions = done["fields"]["actions"]
            for step in ("Mark checkpoint", "Reload positions", "Wait until healthy"):
                assert f"step {step}: done in " in actions
            assert "validation: " in actions
            assert "resumption: " in actions
            # No dashboard_url in this config: the link is the console's incident page.
            assert f"{second.url}/#incident={incident}" == done["fields"]["dashboard"]
            # Through Apprise: each notice once, by its title.
            await until(
                "the all-clear through Apprise",
                lambda: [r for r in mobile.requests if "all clear" in r.json()["title"]],
            )
            titles = Counter(r.json()["title"] for r in mobile.requests)
            expected_titles = [
                "[P1] engine: Recovery Started (cold)",
                "[P2] engine: Recovery 25% Complete",
                "[P2] engine: Recovery 50% Complete",
                "[P2] engine: Recovery 75% Complete",
                "[P1] engine: Recovery Complete",
            ]
            assert {t: 1 for t in expected_titles} == {t: titles[t] for t in expected_titles}
            [closing] = [t for t in titles if "all clear" in t]
            assert 1 == titles[closing]
            # Everyone paged for the incident hears it: the on-call's pager got it too.
            paged = [r.json() for r in hook.requests if r.path == "/page"]
            assert 1 == len([b for b in paged if b["alert_id"] == clear])
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 20)
        finally:
            await asyncio.to_thread(second.ensure_dead)
