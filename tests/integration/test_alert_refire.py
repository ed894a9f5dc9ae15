"""A crash-looping tier-1 service through a real `paramedic run`: whatever dedup and flap
damping decide, the last word a receiver has for each dedup key is paramedic's own state."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.integration.runner import RunningParamedic, config_file, until

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENV = {"OPS_TOKEN": TOKEN, "PD_KEY": "R0UTINGKEY0123456789abcdef012345"}
LAST = {"trigger": "firing", "acknowledge": "acknowledged", "resolve": "resolved"}


def write_config(tmp_path: Path, pd_url: str) -> Path:
    crash_loop = "import time; time.sleep(0.6); raise SystemExit(3)"
    return config_file(
        tmp_path,
        f"""channels:
  pagerduty: {{pagerduty: {{routing_key_env: PD_KEY, url: "{pd_url}/v2/enqueue"}}}}
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, "-c", {crash_loop!r}]
      restart: {{policy: always, burst: 4, window: 5m, initial_backoff: 10ms,
                 max_backoff: 20ms}}
    health: {{up_after: 2, evaluate_every: 50ms, flap_changes: 4}}
""",
    )


async def test_a_refire_after_a_resolve_is_paged_and_receivers_end_on_paramedics_state(
    tmp_path: Path,
) -> None:
    """The engine crashes, comes up (the resolve is paged), crashes again a second later,
    inside the dedup window, and so on until flap damping keeps one incident open and the
    watchdog gives up. Every re-fire after a resolve is a new trigger: for every dedup key the
    PagerDuty receiver's last event is the alert's state in paramedic, and the alert still
    firing at the end was paged."""
    async with LoopbackReceiver(status=202, reply='{"status":"success"}') as pd:
        p = RunningParamedic(write_config(tmp_path, pd.url), env=ENV)
        try:
            await asyncio.to_thread(p.wait_started)

            def gave_up() -> bool:
                events = p.get("/api/timeline", params={"limit": 1000}, headers=AUTH).json()
                return any(e["kind"] == "watchdog.gave_up" for e in events["events"])

            await until("the watchdog to give up", gave_up, 30)

            def settled() -> list[dict[str, Any]] | None:
                alerts: list[dict[str, Any]] = p.get("/api/alerts", headers=AUTH).json()["alerts"]
                mine = [a for a in alerts if a["service"] == "engine"]
                pending = [n for a in mine for n in a["notifications"] if n["status"] == "pending"]
                return None if pending else mine

            alerts = await until("every notification to be delivered", settled, 30)
        finally:
            p.ensure_dead()
    last: dict[str, str] = {}
    for request in pd.requests:
        event = request.json()
        last[event["dedup_key"]] = event["event_action"]
    states = {a["id"]: a["state"] for a in alerts}
    resolved = [aid for aid, state in states.items() if state == "resolved"]
    firing = [aid for aid, state in states.items() if state != "resolved"]
    assert resolved, "the crash loop should have resolved at least once before flapping"
    assert 1 == len(firing), states
    # the receiver's last word per key is paramedic's state, and nothing fires unpaged
    assert {aid: LAST[action] for aid, action in last.items()} == {aid: states[aid] for aid in last}
    assert firing[0] in last
