"""A drill cut off by a kill -9 of paramedic (through a real `paramedic run`).

A hang drill stops the engine (SIGSTOP) of a service that only watches its process, so
nothing convicts it and the drill runs on; paramedic is killed -9. Restarted on the same
store, it re-adopts the engine, continues it (it must not stay frozen), and finishes the
drill as interrupted: the report reads finished, not running forever.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.integration.configs import SLEEPER
from tests.integration.runner import config_file, started, until
from tests.integration.test_drill_real import drill_started
from tests.integration.test_resolve_recovered import ENV, engines_ended, events

pytestmark = pytest.mark.integration


def state_of(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


async def test_a_hang_drill_cut_off_by_kill_9_is_finished_and_the_engine_continued(
    tmp_path: Path,
) -> None:
    """hang drill (SIGSTOP, nothing detects it), kill -9 paramedic: the engine is stopped
    (T). Restart: the same engine adopted, running again (not T), `drill.finished`
    interrupted, the report `finished` with that outcome."""
    body = f"""
services:
  engine:
    process: {{argv: {SLEEPER}}}
    health: {{up_after: 1, evaluate_every: 50ms}}
"""
    config = config_file(tmp_path, body)
    async with engines_ended(tmp_path) as pids:
        first = await started(config, ENV)
        try:
            await until("the engine up", lambda: events(first, "service.up"))
            [spawned] = events(first, "process.spawned")
            pid = spawned["payload"]["pid"]
            pids.append(pid)
            drill = await drill_started(first.url, "hang")
            await until("the drill injected", lambda: events(first, "drill.injected"))
            await until("the engine stopped", lambda: state_of(pid) == "T")
            first.signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        finally:
            await asyncio.to_thread(first.ensure_dead)
        assert "T" == state_of(pid)
        second = await started(config, ENV)
        try:
            [finished] = events(second, "drill.finished")
            assert (drill, "interrupted") == (
                finished["payload"]["drill"],
                finished["payload"]["outcome"],
            )
            assert [] == events(second, "process.spawned")[1:]  # adopted, not started again
            await until("the engine running again", lambda: state_of(pid) != "T")
            report = second.get(f"/api/drills/{drill}").json()
            assert ("finished", "interrupted") == (report["state"], report["outcome"])
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 20)
        finally:
            await asyncio.to_thread(second.ensure_dead)
