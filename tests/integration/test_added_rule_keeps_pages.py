"""One added rule never silences a P0 (issue 11, defect 2), with a real process and a real
PagerDuty stand-in: the user's rule is evaluated before the defaults, not instead of them."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.integration.configs import tier1_engine
from tests.integration.harness import running_paramedic

pytestmark = pytest.mark.integration


def config(pd_url: str) -> str:
    return f"""
channels:
  pagerduty: {{pagerduty: {{routing_key_env: PD_KEY, url: "{pd_url}/v2/enqueue"}}}}
alerting:
  severity_rules: [{{severity: P3, reason: noise, labels: ["prio=low"]}}]{tier1_engine()}"""


async def test_one_added_severity_rule_still_pages_oncall_for_a_tier1_crash(
    tmp_path: Path,
) -> None:
    """With only `severity_rules: [{severity: P3, labels: [prio=low]}]` added, kill -9 of
    the tier-1 engine is still a P0 ("all trading halted") and the on-call's PagerDuty gets
    the trigger; it used to be "P3: no severity rule matched" with 0 pages."""
    async with LoopbackReceiver(status=202, reply='{"status":"success"}') as pd:
        env = {"PD_KEY": "R0UTINGKEY0123456789abcdef012345"}
        async with running_paramedic(tmp_path, config(pd.url), env=env) as (p, timeline):
            await timeline.wait_for("process.spawned")
            pid = p.parts.processes["engine"].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            raised = await timeline.wait_for("alert.raised")
            reason = raised.severity_reason  # type: ignore[attr-defined]
            assert "P0: all trading halted: crash on engine (tier 1)" == reason
            trigger = (await asyncio.wait_for(pd.next_request(), 10)).json()
            assert ("trigger", "critical") == (
                trigger["event_action"],
                trigger["payload"]["severity"],
            )
