"""The shipped demo config: killing the example engine shows a full recovery (issue 4)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port, free_udp_port
from tests.integration.runner import RunningParamedic, pid_alive

pytestmark = pytest.mark.integration

SEED_KEYS = {
    "state",
    "progress_percentage",
    "current_step",
    "status_message",
    "last_update",
    "completed_steps",
    "remaining_steps",
}


def demo_copy(tmp_path: Path) -> tuple[Path, int]:
    """examples/demo.yaml on free ports, with its files referenced where they are."""
    examples = REPO / "examples"
    engine_port, udp = free_port(), free_udp_port()
    text = (examples / "demo.yaml").read_text()
    text = text.replace("8081", str(engine_port)).replace("9999", str(udp))
    text = text.replace("engine.py", str(examples / "engine.py"))
    text = text.replace("demo-secrets/", f"{examples}/demo-secrets/")
    text = text.replace("../var", str(tmp_path / "var"))
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    return path, engine_port


def test_killing_the_demo_engine_shows_a_full_recovery(tmp_path: Path) -> None:
    """kill -9 of the demo's engine: a cold restart runs its steps, validation passes, and
    /recovery/status reports RECOVERED in the seed's 3.4 shape; resumption starts at 0.0."""
    config, engine_port = demo_copy(tmp_path)
    env = {
        "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
        "PARAMEDIC_LISTEN": f"127.0.0.1:{free_port()}",
    }
    p = RunningParamedic(config, env=env)
    try:
        p.wait_started()
        p.wait_for_line("engine: up")
        [engine] = p.child_pids()
        os.kill(engine, signal.SIGKILL)
        total = p.wait_for_line("Total recovery time:")
        assert "seconds" in total
        status = httpx.get(f"{p.url}/recovery/status", timeout=5).json()
        assert SEED_KEYS <= set(status)
        assert ("RECOVERED", 100, []) == (
            status["state"],
            status["progress_percentage"],
            status["remaining_steps"],
        )
        assert ["Restart engine", "Wait for heartbeat", "Wait until healthy"] == status[
            "completed_steps"
        ]
        sizing = httpx.get(f"{p.url}/api/services/engine/resumption", timeout=5).json()
        assert ("monitoring_only", 0.0, False) == (
            sizing["phase"],
            sizing["size_multiplier"],
            sizing["should_trade"],
        )
        [recovery] = httpx.get(f"{p.url}/api/recoveries", timeout=5).json()["recoveries"]
        assert ("crash", "cold", True) == (
            recovery["failure_type"],
            recovery["method"],
            recovery["success"],
        )
        health = httpx.get(f"http://127.0.0.1:{engine_port}/health", timeout=5)
        assert 200 == health.status_code
        new_engines = [pid for pid in p.child_pids() if pid != engine]
        p.signal(signal.SIGTERM)
        assert 0 == p.wait(timeout=20)
        assert not any(pid_alive(pid) for pid in new_engines)
    finally:
        p.ensure_dead()


def test_the_demo_inbox_shows_the_page_the_pushes_and_the_all_clear(tmp_path: Path) -> None:
    """The demo's inbox is its terminal (every notification one log line): kill -9 the demo's
    engine and the terminal shows the P0 page, the progress pushes (started, 25, 50, 75 %,
    complete) and the all-clear with the RTO against the demo's 10 s target, each once.
    (The demo's resumption phases and watch period are shortened here: the all-clear comes
    when they are over, about a minute after the recovery in the real demo.)"""
    config, _port = demo_copy(tmp_path)
    text = config.read_text().replace("duration: 20s", "duration: 200ms")
    config.write_text(text.replace("watch_period: 1m", "watch_period: 1s"))
    env = {
        "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
        "PARAMEDIC_LISTEN": f"127.0.0.1:{free_port()}",
    }
    p = RunningParamedic(config, env=env)
    try:
        p.wait_started()
        p.wait_for_line("engine: up")
        [engine] = p.child_pids()
        os.kill(engine, signal.SIGKILL)
        clear = p.wait_for_line("all clear: [P1] engine: all clear, recovered in", within=60)
        assert "RTO " in clear
        assert "against a target of 10 s (met)" in clear
        expected = [
            "page: [P0] engine crash: pid ",
            "update: [P1] engine: Recovery Started (cold)",
            "update: [P2] engine: Recovery 25% Complete",
            "update: [P2] engine: Recovery 50% Complete",
            "update: [P2] engine: Recovery 75% Complete",
            "update: [P1] engine: Recovery Complete",
            "all clear: [P1] engine: all clear",
        ]
        seen = {line: sum(line in out for out in p.output) for line in expected}
        assert dict.fromkeys(expected, 1) == seen
        p.signal(signal.SIGTERM)
        assert 0 == p.wait(timeout=20)
    finally:
        p.ensure_dead()
