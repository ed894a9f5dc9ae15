"""An engine that died while paramedic was down is a crash like one seen live: the restart
opens an incident that says so and pages it; with a plan, the recovery (not a blind start)
brings the engine back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import free_port
from tests.integration.runner import RunningParamedic, pid_alive

pytestmark = pytest.mark.integration

ENV = {"HOOK_SECRET": "hook-secret-0123456789"}
SLEEPER = "import signal; signal.pause()"


def config(tmp_path: Path, hook: str, extra: str = "") -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        f"""
store: {{path: var/p.db}}
api: {{listen: 127.0.0.1:{free_port()}}}
channels:
  hook: {{webhook: {{url: "{hook}/hook", secret_env: HOOK_SECRET}}}}
alerting:
  replace_defaults: true
  contacts: {{ops: {{channels: [hook]}}}}
  routes: {{routes: [{{matchers: ["severity=~P0|P1|P2|P3"], receivers: [ops]}}]}}
  grouping: {{severities: []}}
services:
  engine:
    process:
      argv: [{sys.executable!r}, -c, {SLEEPER!r}]
      restart: {{policy: always, initial_backoff: 10ms}}
    health: {{up_after: 1, evaluate_every: 50ms}}
{extra}
"""
    )
    return path


def events(p: RunningParamedic, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = p.get("/api/timeline", params={"limit": 1000}).json()["events"]
    return [e for e in found if e["kind"] == kind]


async def until(what: str, condition: Any, within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while not (value := await asyncio.to_thread(condition)):
        if time.monotonic() > deadline:
            msg = f"timed out waiting for {what}"
            raise AssertionError(msg)
        await asyncio.sleep(0.05)
    return value


async def crash_both(path: Path) -> tuple[RunningParamedic, int]:
    """kill -9 paramedic, then its engine: the engine dies while nobody watches it."""
    first = RunningParamedic(path, env=ENV)
    try:
        await asyncio.to_thread(first.wait_started)
        [engine] = await until("the engine", first.child_pids)
        await until("its service.up", lambda: events(first, "service.up"))
        first.signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
        os.kill(engine, signal.SIGKILL)
        await until("the engine's death", lambda: not pid_alive(engine))
    finally:
        first.ensure_dead()
    return first, engine


async def test_an_engine_dead_while_paramedic_was_down_opens_an_incident_and_pages(
    tmp_path: Path,
) -> None:
    """No plan: the restart records the lost exit, opens a crash incident whose sentence says
    the engine exited while paramedic was down, pages it through the real webhook, starts a
    new engine (one), and the incident clears once it is up."""
    async with LoopbackReceiver() as hook:
        path = config(tmp_path, hook.url)
        _first, engine = await crash_both(path)
        second = RunningParamedic(path, env=ENV)
        try:
            await asyncio.to_thread(second.wait_started)
            page = await asyncio.wait_for(hook.next_request(), 20)
            sentence = f"pid {engine} exited while paramedic was down: it is no longer running"
            assert sentence in json.dumps(page.json())
            [failure] = events(second, "failure.detected")
            assert ("crash", sentence) == (
                failure["payload"]["failure_kind"],
                failure["payload"]["reason"],
            )
            spawned = await until("a new engine", lambda: events(second, "process.spawned")[1:])
            assert 1 == len(spawned)
            assert pid_alive(spawned[0]["payload"]["pid"])
            cleared = await until("the clear", lambda: events(second, "failure.cleared"))
            assert failure["payload"]["incident"] == cleared[0]["payload"]["incident"]
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 15)
        finally:
            second.ensure_dead()


PLAN = """
    recovery:
      methods:
        cold:
          steps:
            - {name: Restart engine, restart_process: {}, timeout: 10s}
            - {name: Wait until healthy, wait_healthy: {}, timeout: 10s}
recovery:
  approval: {require: {market_open: [manual], market_closed: [manual]}}
"""


async def test_with_a_plan_the_recovery_restarts_it_not_a_blind_start(tmp_path: Path) -> None:
    """With a plan: the lost engine is the recovery's incident (decided, run, RECOVERED), and
    the engine is started once, by the recovery's restart step, not also at paramedic's start."""
    async with LoopbackReceiver() as hook:
        path = config(tmp_path, hook.url, PLAN)
        await crash_both(path)
        second = RunningParamedic(path, env=ENV)
        try:
            await asyncio.to_thread(second.wait_started)
            await asyncio.wait_for(hook.next_request(), 20)
            finished = await until("the recovery", lambda: events(second, "recovery.finished"))
            assert finished[0]["payload"]["ok"]
            assert "RECOVERED" == second.get("/recovery/status").json()["state"]
            assert 2 == len(events(second, "process.spawned"))  # the first run's, then one
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 15)
        finally:
            second.ensure_dead()
