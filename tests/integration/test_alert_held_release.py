"""What holds an alert back is looked at again when it goes: through a real `paramedic run`,
real children killed with SIGKILL and a loopback PagerDuty, an engine that still fails is
paged once the gateway inhibiting it recovers, once the venue it depends on recovers, and
once the silence over it ends."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.integration.runner import RunningParamedic, config_file, until

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENV = {"OPS_TOKEN": TOKEN, "PD_KEY": "R0UTINGKEY0123456789abcdef012345"}
SLEEPER = "import signal; signal.pause()"


def service(name: str, extra: str = "", restart: str = "{policy: never}") -> str:
    # up_after 25 x 100 ms: a restarted gateway takes ~2.5 s to count as up again, time
    # enough for the engine's failure to be raised and held first.
    return f"""
  {name}:
    tier: 1
    process:
      argv: [{sys.executable!r}, "-c", {SLEEPER!r}]
      restart: {restart}
    health: {{up_after: 25, evaluate_every: 100ms}}{extra}
"""


def write_config(tmp_path: Path, pd_url: str, case: str) -> Path:
    restart = "{policy: always, initial_backoff: 10ms, max_backoff: 20ms}"
    alerting = ""
    if case == "inhibit_rules":
        rule = "{source: [service=exchange-gw], target: [service=engine]}"
        alerting = f"alerting:\n  inhibit_rules: [{rule}]\n"
        services = service("exchange-gw", restart=restart) + service("engine")
    elif case == "depends_on":
        services = service("venue", restart=restart) + service(
            "engine", "\n    depends_on: [venue]"
        )
    elif case == "silence":
        ends = (datetime.now(UTC) + timedelta(seconds=8)).isoformat()
        alerting = f"""alerting:
  silences:
    - {{matchers: [service=engine], ends: "{ends}", author: olga, comment: "engine swap"}}
"""
        services = service("engine")
    else:  # no silence in the file: one is set through the API
        services = service("engine")
    return config_file(
        tmp_path,
        f"""channels:
  pagerduty: {{pagerduty: {{routing_key_env: PD_KEY, url: "{pd_url}/v2/enqueue"}}}}
{alerting}services:{services}""",
    )


def events(p: RunningParamedic, kind: str, service: str) -> list[dict[str, Any]]:
    found = p.get("/api/timeline", params={"limit": 1000}, headers=AUTH).json()["events"]
    return [e for e in found if e["kind"] == kind and e["service"] == service]


def pid_of(p: RunningParamedic, service: str) -> int:
    [spawned, *_] = events(p, "process.spawned", service)
    pid: int = spawned["payload"]["pid"]
    return pid


async def arrives(pd: LoopbackReceiver, key: str, action: str, within: float = 15.0) -> None:
    """Wait for a PagerDuty event of `action` for one dedup key (several receivers of one
    route may page through the one PagerDuty channel: repeats are skipped)."""
    while True:
        event = (await asyncio.wait_for(pd.next_request(), within)).json()
        if (event["dedup_key"], event["event_action"]) == (key, action):
            return


@pytest.mark.parametrize("case", ["inhibit_rules", "depends_on", "silence"])
async def test_an_engine_held_back_is_paged_when_what_held_it_is_gone(
    tmp_path: Path, case: str
) -> None:
    """inhibit_rules / depends_on: kill the gateway (or venue): its P0 is paged; kill the
    engine: recorded and held with a reason naming what holds it, not paged; the gateway
    is restarted and comes up: its resolve is paged, then the engine's trigger, since the
    engine still fails. silence: the engine fails under a silence ending 8 s after start;
    when it ends, the engine is paged."""
    async with LoopbackReceiver(status=202, reply='{"status":"success"}') as pd:
        p = RunningParamedic(write_config(tmp_path, pd.url, case), env=ENV)
        try:
            await asyncio.to_thread(p.wait_started)
            source = {"inhibit_rules": "exchange-gw", "depends_on": "venue"}.get(case)
            if source is not None:
                await until(f"{source} up", lambda: events(p, "service.up", source), 30)
                os.kill(pid_of(p, source), signal.SIGKILL)
                [raised] = await until(
                    "source alert", lambda: events(p, "alert.raised", source), 30
                )
                source_key = raised["payload"]["alert_id"]
                await arrives(pd, source_key, "trigger")
            if source is not None:
                await until("engine up", lambda: events(p, "service.up", "engine"), 30)
            os.kill(pid_of(p, "engine"), signal.SIGKILL)
            [held] = await until("engine held", lambda: events(p, "alert.held", "engine"), 30)
            engine_key = held["payload"]["alert_id"]
            reason = held["payload"]["reason"]
            if case == "inhibit_rules":
                assert reason.startswith(f"inhibited by exchange-gw crash ({source_key})")
            elif case == "depends_on":
                assert f"engine depends on venue, which is down: venue crash ({source_key})" == (
                    reason
                )
            else:
                assert reason.startswith("silenced by silence ")
                assert reason.endswith("(olga: engine swap)")
            assert [] == [r for r in pd.requests if r.json()["dedup_key"] == engine_key]
            if source is not None:
                # the source recovers on its own (restart policy always) while the engine
                # stays down (restart policy never)
                await arrives(pd, source_key, "resolve")
            await arrives(pd, engine_key, "trigger")
            # The page leaves with the alert row's commit; its timeline account follows it.
            [released] = await until("released", lambda: events(p, "alert.released", "engine"), 30)
            assert reason == released["payload"]["was"]
            assert not events(p, "failure.cleared", "engine")
        finally:
            p.ensure_dead()


async def test_a_silence_deleted_through_the_api_pages_what_it_held(tmp_path: Path) -> None:
    """A silence set at run time (`POST /api/silences`, an hour long) holds the engine's
    crash: recorded as held by that silence, nothing paged. `DELETE /api/silences/{id}`
    ends it: the engine, still down, is paged at once (docs/alerting.md: a held alert is
    judged again when a silence is expired or deleted)."""
    async with LoopbackReceiver(status=202, reply='{"status":"success"}') as pd:
        p = RunningParamedic(write_config(tmp_path, pd.url, "api"), env=ENV)
        try:
            await asyncio.to_thread(p.wait_started)
            added = await asyncio.to_thread(
                p.post,
                "/api/silences",
                headers=AUTH,
                json={"matchers": ["service=engine"], "duration": "1h", "comment": "swap"},
            )
            assert 201 == added.status_code, added.text
            silence = added.json()["silence"]["id"]
            await until("engine up", lambda: events(p, "service.up", "engine"), 30)
            os.kill(pid_of(p, "engine"), signal.SIGKILL)
            [held] = await until("engine held", lambda: events(p, "alert.held", "engine"), 30)
            engine_key = held["payload"]["alert_id"]
            assert f"silenced by silence {silence} (olga: swap)" == held["payload"]["reason"]
            assert [] == pd.requests
            deleted = await asyncio.to_thread(p.delete, f"/api/silences/{silence}", headers=AUTH)
            assert 200 == deleted.status_code, deleted.text
            await arrives(pd, engine_key, "trigger")
            [released] = await until("released", lambda: events(p, "alert.released", "engine"), 30)
            assert held["payload"]["reason"] == released["payload"]["was"]
        finally:
            p.ensure_dead()
