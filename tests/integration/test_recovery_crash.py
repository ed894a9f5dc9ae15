"""paramedic dies mid-recovery (kill -9) and comes back: resume, or hand over with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration import runner
from tests.integration.configs import engine_plan
from tests.integration.runner import RunningParamedic

pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, steps: str) -> Path:
    return runner.config_file(tmp_path, engine_plan(steps + "\n"), operator=None)


def crash_engine_then_kill_paramedic_during(p: RunningParamedic, step_line: str) -> None:
    p.wait_started()
    p.wait_for_line("engine: up")
    [engine] = p.child_pids()
    os.kill(engine, signal.SIGKILL)
    p.wait_for_line(step_line)
    p.signal(signal.SIGKILL)
    p.wait(timeout=10)


def test_unknown_step_outcome_goes_to_a_human_with_the_reason(tmp_path: Path) -> None:
    """Killed while a command step runs: after restart nobody knows if it finished, so the
    incident is MANUAL_RECOVERY with a sentence naming the step; the step is not repeated."""
    marker = f"paramedic-test-step-{os.getpid()}"
    steps = (
        f"            - {{name: Reload positions, timeout: 60s, command: {{argv: "
        f"[{sys.executable!r}, -c, 'import time; time.sleep(30)', {marker}]}}}}"
    )
    config = write_config(tmp_path, steps)
    first = RunningParamedic(config)
    try:
        crash_engine_then_kill_paramedic_during(first, "step 1/1 started: Reload positions")
    finally:
        first.ensure_dead()
        subprocess.run(["pkill", "-f", marker], check=False)
    second = RunningParamedic(config)
    try:
        second.wait_started()
        status = httpx.get(f"{second.url}/recovery/status", timeout=5).json()
        assert "MANUAL_RECOVERY" == status["state"]
        expected = (
            'paramedic restarted during step 1/1 "Reload positions" of the cold method;'
            " whether it completed is unknown"
        )
        assert expected in status["status_message"]
        events = httpx.get(f"{second.url}/api/timeline", params={"limit": 1000}, timeout=5).json()
        started = [e for e in events["events"] if e["kind"] == "recovery.step_started"]
        assert 1 == len(started)  # not blindly repeated
        escalations = [e for e in events["events"] if e["kind"] == "escalation.triggered"]
        assert escalations
        second.signal(signal.SIGTERM)
        assert 0 == second.wait(timeout=15)
    finally:
        second.ensure_dead()


def test_a_finished_step_is_not_repeated_and_the_recovery_resumes(tmp_path: Path) -> None:
    """Killed while waiting after a finished step: after restart the recovery resumes at the
    wait (waiting changes nothing), the finished step is not run again, and it recovers."""
    steps = (
        "            - {name: Mark checkpoint, timeout: 10s, command: {argv: ['true']}}\n"
        "            - {name: Wait until healthy, timeout: 60s, wait_healthy: {}}"
    )
    config = write_config(tmp_path, steps)
    first = RunningParamedic(config)
    try:
        crash_engine_then_kill_paramedic_during(first, "step 2/2 started: Wait until healthy")
    finally:
        first.ensure_dead()
    second = RunningParamedic(config)
    try:
        second.wait_started()
        second.wait_for_line("Total recovery time:")
        status = httpx.get(f"{second.url}/recovery/status", timeout=5).json()
        assert "RECOVERED" == status["state"]
        events = httpx.get(f"{second.url}/api/timeline", params={"limit": 1000}, timeout=5).json()
        finished = [
            e["payload"]["step"] for e in events["events"] if e["kind"] == "recovery.step_finished"
        ]
        assert ["Mark checkpoint", "Wait until healthy"] == finished
        second.signal(signal.SIGTERM)
        assert 0 == second.wait(timeout=15)
    finally:
        second.ensure_dead()
