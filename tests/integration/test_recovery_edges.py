"""The edges of recovery through a real paramedic with real children: repeated crashes, a
failing validation, an unanswered approval, the evidence kept, a lost standby."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from paramedic.runtime.app import Paramedic
from tests.integration.harness import Timeline, running_paramedic

pytestmark = pytest.mark.integration

OPERATOR = "operator-token-0123456789"
ENV = {"OPS": OPERATOR}
TOKENS = """
  tokens:
    - {name: olga, role: operator, token_env: OPS}
"""
SLEEPER = f'[{sys.executable!r}, "-u", "-c", "print(\'engine up\'); import signal; signal.pause()"]'
NO_APPROVAL = "  approval: {require: {market_open: [manual], market_closed: [manual]}}\n"


def api(p: Paramedic, token: str | None = None) -> httpx.AsyncClient:
    host, port = p.api.address
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=f"http://{host}:{port}", headers=headers, timeout=10)


async def kill_engine(p: Paramedic, timeline: Timeline) -> Any:
    """SIGKILL the running engine; return the failure.detected it causes."""
    pid = p.processes["engine"].pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return await timeline.wait_for("failure.detected")


async def test_repeated_crashes_go_to_manual_whether_or_not_recovered(tmp_path: Path) -> None:
    """failures_limit 3 in 10 min: two crashes are recovered automatically (warm); the third
    crash of the service in the window is decided manual, although no recovery ever failed."""
    config = f"""
recovery:
{NO_APPROVAL}  decision: {{failures_limit: 3, failures_window: 10m}}
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
"""
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        for _ in range(2):
            await kill_engine(p, timeline)
            decided = await timeline.wait_for("recovery.decided")
            assert "cold" == decided.method  # type: ignore[attr-defined]
            finished = await timeline.wait_for("recovery.finished", within=20)
            assert finished.ok  # type: ignore[attr-defined]
        await kill_engine(p, timeline)
        decided = await timeline.wait_for("recovery.decided")
        assert ("manual", "manual: 3 failures of engine in 10 min") == (
            decided.method,  # type: ignore[attr-defined]
            decided.sentence,  # type: ignore[attr-defined]
        )
        escalated = await timeline.wait_for(
            "escalation.triggered",
            lambda e: e.trigger == "repeated_failures",  # type: ignore[attr-defined]
        )
        assert "3 failures of engine within 10 min" == escalated.reason  # type: ignore[attr-defined]


async def test_a_failed_method_preserves_the_services_own_output(tmp_path: Path) -> None:
    """No `preserve:` section at all: a failed cold restart still snapshots what paramedic
    captured of the engine's output, in <store folder>/snapshots, and the manifest names the
    service and, apart, the method."""
    import json

    config = f"""
recovery:
{NO_APPROVAL}services:
  engine:
    process: {{argv: {SLEEPER}}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - name: Rebuild
              command: {{argv: [{sys.executable!r}, "-c", "raise SystemExit(3)"]}}
"""
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        await kill_engine(p, timeline)
        note = await timeline.wait_for(
            "note.added",
            lambda e: "preserved" in e.text,  # type: ignore[attr-defined]
            within=20,
        )
    folders = list((tmp_path / "snapshots").iterdir())
    assert 1 == len(folders), note
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    assert ("engine", "cold") == (manifest["service"], manifest["method"])
    logs = [f for f in manifest["files"] if f["source"] == str(tmp_path / "logs" / "engine.log")]
    assert 1 == len(logs), manifest
    assert "engine up\n" == (folders[0] / logs[0]["path"]).read_text()
