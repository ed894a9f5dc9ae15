"""The watchdog with real processes and real signals: crash -> one incident -> restart."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from paramedic.core.failure_events import FailureDetected
from tests.integration.harness import running_paramedic

pytestmark = pytest.mark.integration

SLEEPER = "import signal; signal.pause()"


def service(code: str = SLEEPER, restart: str = "{policy: always}", health: str = "") -> str:
    return f"""
services:
  engine:
    process:
      argv: [{sys.executable!r}, "-c", {code!r}]
      stop_timeout: 2s
      restart: {restart}
    health: {{up_after: 2, evaluate_every: 50ms{health}}}
"""


async def test_kill_9_gives_one_crash_incident_then_restart_then_clear(tmp_path: Path) -> None:
    """kill -9 of the child: exactly one crash incident naming the signal, a new pid, cleared."""
    async with running_paramedic(tmp_path, service()) as (p, timeline):
        first = p.parts.processes["engine"].pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        detected = await timeline.wait_for("failure.detected")
        respawned = await timeline.wait_for("process.spawned", lambda e: e.pid != first)  # type: ignore[attr-defined]
        cleared = await timeline.wait_for("failure.cleared")
        assert isinstance(detected, FailureDetected)
        assert "crash" == detected.failure_kind
        assert detected.reason.startswith(f"pid {first} killed by SIGKILL after ")
        assert detected.incident == cleared.incident  # type: ignore[attr-defined]
        assert p.parts.processes["engine"].pid == respawned.pid  # type: ignore[attr-defined]
        assert 1 == len(timeline.of("failure.detected"))
        kinds = [e.kind for e in timeline.events]
        # Recorded before acted on: the exit and the incident precede the restart.
        assert kinds.index("process.exited") < kinds.index("failure.detected")
        assert kinds.index("failure.detected") < kinds.index("process.restart_scheduled")


async def test_crash_loop_hits_the_burst_limit_and_calls_a_human(tmp_path: Path) -> None:
    """A child that always dies is restarted `burst` times, then the watchdog gives up."""
    config = service(
        code="import sys; sys.exit(7)",
        restart="{policy: on-failure, burst: 3, window: 5m,"
        " initial_backoff: 10ms, max_backoff: 20ms}",
    )
    async with running_paramedic(tmp_path, config) as (p, timeline):
        gave_up = await timeline.wait_for("watchdog.gave_up")
        assert (
            "engine: watchdog gave up after 3 restarts in 5 min; needs a human" == gave_up.summary()
        )
        restarts = timeline.of("process.restart_scheduled")
        assert [1, 2, 3] == [e.attempt for e in restarts]  # type: ignore[attr-defined]
        assert 0.0 == restarts[0].delay_s  # type: ignore[attr-defined]
        incidents = timeline.of("failure.detected")
        assert 1 == len(incidents)
        assert "exited with code 7" in incidents[0].reason  # type: ignore[attr-defined]
        assert not p.parts.processes["engine"].running


async def test_clean_exit_with_on_failure_is_not_restarted(tmp_path: Path) -> None:
    """Exit code 0 under on-failure: recorded, an incident (the service is gone), no restart."""
    async with running_paramedic(
        tmp_path, service(code="pass", restart="{policy: on-failure}")
    ) as (_p, timeline):
        exited = await timeline.wait_for("process.exited")
        assert 0 == exited.returncode  # type: ignore[attr-defined]
        await timeline.wait_for("failure.detected")
        assert [] == timeline.of("process.restart_scheduled")
