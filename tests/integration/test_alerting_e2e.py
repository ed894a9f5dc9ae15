"""Alerting end to end: a real crash pages on-call through PagerDuty's documented Events API v2
(a loopback receiver stands in for the SaaS), and acknowledge/resolve follow with the same key."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.integration.harness import running_paramedic

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"


def config(pd_url: str) -> str:
    return f"""
  tokens:
    - {{name: olga, role: operator, token_env: OPS_TOKEN}}
channels:
  pagerduty:
    pagerduty: {{routing_key_env: PD_KEY, url: "{pd_url}/v2/enqueue"}}
services:
  engine:
    tier: 1
    runbook: https://wiki.example/runbooks/engine-crash
    process:
      argv: [{sys.executable!r}, "-c", "import signal; signal.pause()"]
      restart: {{policy: never}}
    health: {{up_after: 1, evaluate_every: 50ms}}
"""


async def test_crash_pages_oncall_on_pagerduty_then_ack_and_resolve_follow(tmp_path: Path) -> None:
    """kill -9 of a tier-1 engine: a P0 PagerDuty trigger naming the runbook; ack and resolve
    through the API reach PagerDuty with the same dedup_key; everything is audited."""
    async with LoopbackReceiver(status=202, reply='{"status":"success"}') as pd:
        env = {"OPS_TOKEN": TOKEN, "PD_KEY": "R0UTINGKEY0123456789abcdef012345"}
        yaml_text = config(pd.url)
        async with running_paramedic(tmp_path, yaml_text, env=env) as (p, timeline):
            await timeline.wait_for("service.up")
            pid = p.parts.processes["engine"].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            detected = await timeline.wait_for("failure.detected")
            raised = await timeline.wait_for("alert.raised")
            assert "P0" == raised.severity  # type: ignore[attr-defined]
            trigger = (await pd.next_request()).json()
            alert_id = f"{detected.incident}:failure"  # type: ignore[attr-defined]
            assert "R0UTINGKEY0123456789abcdef012345" == trigger["routing_key"]
            assert ("trigger", alert_id) == (trigger["event_action"], trigger["dedup_key"])
            assert "critical" == trigger["payload"]["severity"]
            assert "engine" in trigger["payload"]["summary"]
            assert "crash" in trigger["payload"]["summary"]
            assert detected.reason in str(trigger["payload"]["custom_details"])  # type: ignore[attr-defined]
            assert "https://wiki.example/runbooks/engine-crash" in str(trigger)

            host, port = p.parts.api.address
            api = f"http://{host}:{port}"
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=api, headers=auth, timeout=10) as client:
                forbidden = await client.post(
                    f"/api/alerts/{alert_id}/ack",
                    json={"reason": "x"},
                    headers={"Authorization": ""},
                )
                assert 401 == forbidden.status_code
                acked = await client.post(
                    f"/api/alerts/{alert_id}/ack", json={"reason": "looking at the core dump"}
                )
                assert 200 == acked.status_code, acked.text
                ack = await _next_action(pd, "acknowledge")
                assert alert_id == ack["dedup_key"]
                assert {"routing_key", "dedup_key", "event_action"} == set(ack)
                resolved = await client.post(
                    f"/api/alerts/{alert_id}/resolve", json={"reason": "engine replaced by hand"}
                )
                assert 200 == resolved.status_code, resolved.text
                res = await _next_action(pd, "resolve")
                assert alert_id == res["dedup_key"]
                listing = (await client.get("/api/alerts")).json()["alerts"]
            [alert] = [a for a in listing if a["id"] == alert_id]
            assert "resolved" == alert["state"]
            delivered = [n for n in alert["notifications"] if n["channel"] == "pagerduty"]
            assert {"trigger", "acknowledge", "resolve"} <= {n["action"] for n in delivered}
            assert all(
                n["attempts"][-1]["outcome"] == "delivered" for n in delivered if n["attempts"]
            )
            audit = await p.parts.store.audit_log(target=alert_id)  # type: ignore[attr-defined]
            assert [("olga", "resolve"), ("olga", "acknowledge")] == [
                (a.actor, a.action) for a in audit
            ]


async def _next_action(pd: LoopbackReceiver, action: str) -> dict[str, object]:
    while True:
        body = (await pd.next_request()).json()
        if body["event_action"] == action:
            return body  # type: ignore[no-any-return]
