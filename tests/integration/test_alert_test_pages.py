"""A test page through a real `paramedic run`: Slack shows no empty links, and PagerDuty's
incident is resolved there as it is in paramedic (Events API v2, same dedup_key)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.integration.runner import RunningParamedic, config_file

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
PD_KEY = "R0UTINGKEY0123456789abcdef012345"
ENV = {"OPS_TOKEN": TOKEN, "PD_KEY": PD_KEY, "SLACK_URL": ""}


def write_config(tmp_path: Path, pd_url: str, slack_url: str) -> Path:
    return config_file(
        tmp_path,
        f"""channels:
  pagerduty: {{pagerduty: {{routing_key_env: PD_KEY, url: "{pd_url}/v2/enqueue"}}}}
  slack: {{slack: {{webhook_url_env: SLACK_URL}}}}
""",
    )


async def page(p: RunningParamedic, channel: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{p.url}/api/test-alert",
            json={"severity": "P1", "channel": channel},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert 201 == response.status_code, response.text
    alert: dict[str, Any] = response.json()["alert"]
    return alert


async def test_test_page_is_resolved_on_pagerduty_and_slack_has_no_empty_links(
    tmp_path: Path,
) -> None:
    """A P1 test page to PagerDuty: the trigger, then a resolve with the same dedup_key and
    exactly the three keys Events v2 documents for it; paramedic lists the alert resolved.
    A test page to Slack (no runbook, no dashboard): no `<|Runbook>`-style empty link."""
    async with (
        LoopbackReceiver(status=202, reply='{"status":"success"}') as pd,
        LoopbackReceiver() as slack,
    ):
        config = write_config(tmp_path, pd.url, slack.url)
        p = RunningParamedic(config, env={**ENV, "SLACK_URL": f"{slack.url}/services/T0/B0/x"})
        try:
            await asyncio.to_thread(p.wait_started)
            alert = await page(p, "pagerduty")
            trigger = (await asyncio.wait_for(pd.next_request(), 10)).json()
            assert ("trigger", alert["id"]) == (trigger["event_action"], trigger["dedup_key"])
            resolve = (await asyncio.wait_for(pd.next_request(), 10)).json()
            assert {
                "routing_key": PD_KEY,
                "event_action": "resolve",
                "dedup_key": alert["id"],
            } == resolve
            listed = p.get("/api/alerts", headers={"Authorization": f"Bearer {TOKEN}"}).json()
            [row] = [a for a in listed["alerts"] if a["id"] == alert["id"]]
            assert "resolved" == row["state"]

            await page(p, "slack")
            posted = (await asyncio.wait_for(slack.next_request(), 10)).json()
            text = posted["attachments"][0]["text"]
            assert "*[P1] [TEST] paramedic test page (P1)*" == text.splitlines()[0]
            assert "<|" not in text
            assert "Runbook" not in text
            assert "Dashboard" not in text
        finally:
            p.ensure_dead()
