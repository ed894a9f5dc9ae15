"""What the alert API and a rate-limit summary show, through a real `paramedic run` fed by
Alertmanager's webhook, with a real loopback receiver behind a signed webhook channel."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver, Recorded
from tests.integration.runner import RunningParamedic

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENV = {"OPS_TOKEN": TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}


def am(status: str, service: str, severity: str, kind: str = "disk_full") -> dict[str, Any]:
    """One Alertmanager v4 notification about one alert of `service`."""
    labels = {"alertname": "DiskFilling", "service": service, "severity": severity, "kind": kind}
    return {
        "version": "4",
        "status": status,
        "groupKey": f"{{}}:{{service={service!r}}}",
        "alerts": [
            {"status": status, "labels": labels, "annotations": {"summary": f"{service} disk"}}
        ],
    }


async def started(tmp_path: Path, yaml_text: str) -> RunningParamedic:
    config = tmp_path / "p.yaml"
    config.write_text(yaml_text)
    paramedic = RunningParamedic(config, env=ENV)
    await asyncio.to_thread(paramedic.wait_started)
    return paramedic


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    answer = await client.post("/api/v1/alertmanager", json=body)
    assert 200 == answer.status_code, answer.text


async def arrival(hook: LoopbackReceiver, within: float = 20.0) -> Recorded:
    return await asyncio.wait_for(hook.next_request(), within)


async def test_a_rate_limit_summary_is_a_trigger_then_resolves_with_its_alerts(
    tmp_path: Path,
) -> None:
    """Budget one P3 per 2 s: db-1 pages, db-2 and db-3 are held. The summary that follows is
    a trigger titled without RESOLVED; it resolves, under its own alert id, once both alerts
    it names have resolved in Alertmanager (the receiver gets nothing else: they were never
    paged on their own)."""
    async with LoopbackReceiver() as hook:
        paramedic = await started(
            tmp_path,
            f"""
store: {{path: p.db}}
api:
  listen: 127.0.0.1:0
  tokens: [{{name: olga, role: operator, token_env: OPS_TOKEN}}]
channels:
  hook: {{webhook: {{url: "{hook.url}/hook", secret_env: HOOK_SECRET}}}}
alerting:
  replace_defaults: true
  contacts: {{ops: {{channels: [hook]}}}}
  routes: {{routes: [{{matchers: ["severity=~P2|P3"], receivers: [ops]}}]}}
  grouping: {{severities: []}}
  rate_limit: {{max_per_receiver: 1, window: 2s}}
services:
  db-1: {{}}
  db-2: {{}}
  db-3: {{}}
""",
        )
        try:
            async with httpx.AsyncClient(base_url=paramedic.url, headers=AUTH) as client:
                for n in (1, 2, 3):
                    await post(client, am("firing", f"db-{n}", "P3"))
                first = (await arrival(hook)).json()
                assert ("trigger", "db-1") == (first["action"], first["labels"]["service"])
                summary = (await arrival(hook)).json()
                assert "trigger" == summary["action"]
                assert "suppressed" in summary["title"]
                assert "db-2" in summary["title"]
                assert "db-3" in summary["title"]
                assert "RESOLVED" not in summary["title"] + summary["body"]
                await post(client, am("resolved", "db-2", "P3"))
                await post(client, am("resolved", "db-3", "P3"))
                # db-2 and db-3 were never paged on their own: the summary is what resolves.
                resolve = (await arrival(hook)).json()
                assert ("resolve", summary["alert_id"]) == (resolve["action"], resolve["alert_id"])
                alerts = (await client.get("/api/alerts")).json()["alerts"]
                states = {a["id"]: a["state"] for a in alerts}
                assert "resolved" == states[summary["alert_id"]]
        finally:
            paramedic.ensure_dead()


async def test_an_acknowledgement_shows_wall_clock_times_and_the_ladder_state(
    tmp_path: Path,
) -> None:
    """Ack a P1 for 1 minute: GET /api/alerts shows who and why, when (ISO 8601 UTC, now) and
    until when (a minute later), not expired, and the ladder paused until then; no
    monotonic reading leaks out."""
    async with LoopbackReceiver() as hook:
        paramedic = await started(
            tmp_path,
            f"""
store: {{path: p.db}}
api:
  listen: 127.0.0.1:0
  tokens: [{{name: olga, role: operator, token_env: OPS_TOKEN}}]
channels:
  hook: {{webhook: {{url: "{hook.url}/hook", secret_env: HOOK_SECRET}}}}
alerting:
  contacts: {{oncall: {{channels: [hook]}}, backup-oncall: {{channels: [hook]}}}}
services:
  gateway: {{}}
""",
        )
        try:
            async with httpx.AsyncClient(base_url=paramedic.url, headers=AUTH) as client:
                await post(client, am("firing", "gateway", "P1", kind="network_partition"))
                page = (await arrival(hook)).json()
                alert_id = page["alert_id"]
                before = time.time()
                acked = await client.post(
                    f"/api/alerts/{alert_id}/ack", json={"reason": "on it", "for": "1m"}
                )
                assert 200 == acked.status_code, acked.text
                [alert] = [
                    a
                    for a in (await client.get("/api/alerts")).json()["alerts"]
                    if a["id"] == alert_id
                ]
        finally:
            paramedic.ensure_dead()
    ack = alert["acknowledgement"]
    at = datetime.fromisoformat(ack["at"]).timestamp()
    expires = datetime.fromisoformat(ack["expires"]).timestamp()
    assert ("olga", "on it", False) == (ack["by"], ack["why"], ack["expired"])
    assert before - 1 <= at <= time.time() + 1
    assert 60.0 == pytest.approx(expires - at, abs=1.0)
    assert ack["at"].endswith(("Z", "+00:00"))
    assert "acknowledged" == alert["state"]
    assert "acknowledged" in alert["ladder"]["sentence"]
    assert "_mono" not in str(alert)
