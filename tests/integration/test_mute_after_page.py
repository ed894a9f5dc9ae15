"""A mute that begins after the first page holds the later rungs, and its end by the clock
pages them: through a real `paramedic run` (the default alerting policy, with the P0
backup-oncall rung moved to +8 s), real children killed with SIGKILL, and a loopback
receiver standing in for PagerDuty.

- engine: paged, then a silence is added through the API while the alert fires; the +8 s
  rung falls inside it and is held; nobody expires it: when it ends, backup-oncall is paged.
- gateway: paged before a one-off maintenance window starts; its +8 s rung falls inside
  the window and is held; when the window ends, backup-oncall is paged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import free_port
from tests.integration.runner import RunningParamedic

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENV = {"OPS_TOKEN": TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}
SLEEPER = "import signal; signal.pause()"
RUNG_S = 8.0  # also when the window begins (before the pages) and how long it lasts


def write_config(tmp_path: Path, hook_url: str, window: tuple[datetime, datetime]) -> Path:
    service = f"""
    tier: 1
    process:
      argv: [{sys.executable!r}, "-c", {SLEEPER!r}]
      restart: {{policy: never}}
    health: {{evaluate_every: 100ms}}"""
    start, end = (t.isoformat() for t in window)
    path = tmp_path / "paramedic.yaml"
    path.write_text(
        f"""
api:
  listen: 127.0.0.1:{free_port()}
  tokens: [{{name: olga, role: operator, token_env: OPS_TOKEN}}]
store: {{path: var/p.db}}
channels:
  pagerduty: {{webhook: {{url: "{hook_url}/hook", secret_env: HOOK_SECRET}}}}
alerting:
  escalation:
    policies:
      P0:
        steps: [{{name: backup-oncall, after: {RUNG_S:g}s, contacts: [backup-oncall], level: 1}}]
  maintenance_windows:
    - {{name: upkeep, matchers: [service=gateway], once: {{start: "{start}", end: "{end}"}}}}
services:
  engine:{service}
  gateway:{service}
"""
    )
    return path


async def until(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    """Poll another process's API (no event crosses the process boundary) with a deadline."""
    deadline = time.monotonic() + within
    while True:
        found = await asyncio.to_thread(check)
        if found:
            return found
        if time.monotonic() > deadline:
            msg = f"timed out waiting for {what}"
            raise AssertionError(msg)
        await asyncio.sleep(0.05)


def events(p: RunningParamedic, kind: str, service: str) -> list[dict[str, Any]]:
    found = p.get("/api/timeline", params={"limit": 1000}, headers=AUTH).json()["events"]
    return [e for e in found if e["kind"] == kind and e["service"] == service]


def pid_of(p: RunningParamedic, service: str) -> int:
    [spawned, *_] = events(p, "process.spawned", service)
    pid: int = spawned["payload"]["pid"]
    return pid


def pages(hook: LoopbackReceiver, alert_id: str) -> list[tuple[str, float]]:
    """(receiver, arrival on the wall clock) of each trigger that reached the receiver."""
    out = []
    for r in hook.requests:
        body = r.json()
        if (body["alert_id"], body["action"]) == (alert_id, "trigger"):
            out.append((body["labels"]["receiver"], datetime.fromisoformat(body["sent_at"])))
    return [(who, at.timestamp()) for who, at in out]


async def test_a_silence_and_a_window_that_begin_after_the_page_hold_later_rungs_till_they_end(
    tmp_path: Path,
) -> None:
    """Kill the engine and the gateway: both paged to oncall at once. Add an 18 s silence over
    the engine while its alert fires. At +8 s both backup-oncall rungs are held (the engine
    by the silence, the gateway by the window), nothing reaches the receiver for them; when
    the silence ends and the window ends, each backup-oncall is paged once, after that end,
    and the timeline says it was released. The window ends first, and the gateway is paged
    before the silence ends: on its own end, not as a side effect of the silence's."""
    window_start = datetime.now(UTC) + timedelta(seconds=RUNG_S)
    window = (window_start, window_start + timedelta(seconds=RUNG_S))
    async with LoopbackReceiver() as hook:
        p = RunningParamedic(write_config(tmp_path, hook.url, window), env=ENV)
        try:
            await asyncio.to_thread(p.wait_started)
            for name in ("engine", "gateway"):
                await until(lambda n=name: events(p, "service.up", n), f"{name} up")
            for name in ("engine", "gateway"):
                os.kill(pid_of(p, name), signal.SIGKILL)
            ids = {}
            for name in ("engine", "gateway"):
                [raised] = await until(lambda n=name: events(p, "alert.raised", n), "raised")
                ids[name] = raised["payload"]["alert_id"]
                await until(lambda n=name: pages(hook, ids[n]), f"{name} paged")
            assert time.time() < window_start.timestamp(), "too slow: the window had begun"
            async with httpx.AsyncClient(base_url=p.url, headers=AUTH, timeout=10) as client:
                added = await client.post(
                    "/api/silences",
                    json={"matchers": ["service=engine"], "duration": "18s", "comment": "swap"},
                )
            assert 201 == added.status_code, added.text
            silence = added.json()["silence"]
            silence_end = datetime.fromisoformat(silence["ends"]).timestamp()

            held: dict[str, str] = {}
            for name in ("engine", "gateway"):
                found = await until(
                    lambda n=name: [
                        e
                        for e in events(p, "alert.held", n)
                        if e["payload"]["receiver"] == "backup-oncall"
                    ],
                    f"{name}'s backup-oncall rung held",
                )
                held[name] = found[0]["payload"]["reason"]
                assert ["oncall"] == [who.partition(":")[0] for who, _ in pages(hook, ids[name])]
            assert held["engine"].startswith(f"silenced by silence {silence['id']} ")
            assert "maintenance window upkeep" == held["gateway"]

            ends = {"engine": silence_end, "gateway": window[1].timestamp()}
            for name in ("gateway", "engine"):
                paged = await until(
                    lambda n=name: [w for w in pages(hook, ids[n]) if w[0] == "backup-oncall"],
                    f"{name}'s backup-oncall paged after the mute ended",
                )
                assert 1 == len(paged)
                assert paged[0][1] >= ends[name] - 0.05  # not before the mute ended
                if name == "gateway":
                    assert paged[0][1] < silence_end  # nor only when the silence ended
                [released] = await until(
                    lambda n=name: events(p, "alert.released", n),
                    f"{name} released",
                )
                assert "rungs held while muted" == released["payload"]["was"]
                assert ("backup-oncall",) == tuple(released["payload"]["receivers"])
            assert not events(p, "failure.cleared", "engine")
        finally:
            p.ensure_dead()
