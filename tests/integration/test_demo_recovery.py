"""The shipped demo (`make demo`: the trading floor, examples/floor/floor.yaml): killing its
engine shows a full recovery, its terminal is the inbox, and Ctrl-C stops everything."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port
from tests.integration.runner import RunningParamedic, pid_alive, wait_until
from tests.integration.test_floor_drills import floor_copy

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
HOT_STEPS = ["Promote standby", "Restart primary (takes positions back)", "Wait for heartbeat"]


def start(config: Path) -> RunningParamedic:
    """`paramedic run` on the floor, as `make demo` runs it (the venv's python3 first on
    PATH), once every one of its five services is up."""
    env = {
        "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
        "PARAMEDIC_LISTEN": f"127.0.0.1:{free_port()}",
    }
    p = RunningParamedic(config, env=env)
    p.wait_started()
    for service in ("exchange", "feed", "engine", "engine-standby", "gateway"):
        wait_until(f"{service} up", lambda s=service: any(f"{s}: up" in o for o in p.output))
    return p


def engine_pid(p: RunningParamedic) -> int:
    events = p.get("/api/timeline", params={"limit": 1000}).json()["events"]
    spawned = [e for e in events if e["kind"] == "process.spawned" and e["service"] == "engine"]
    return int(spawned[-1]["payload"]["pid"])


def test_killing_the_demo_engine_shows_a_full_recovery(tmp_path: Path) -> None:
    """kill -9 of the floor's engine: the synced standby is promoted and the engine restarted
    (a hot restart), validation passes, and /recovery/status reports RECOVERED in the seed's
    3.4 shape; resumption starts at 0.0; the engine answers /health 200 with the positions it
    took back from the standby. Ctrl-C (SIGINT) then stops paramedic and every child."""
    config, urls = floor_copy(tmp_path, short=False)
    p = start(config)
    try:
        os.kill(engine_pid(p), signal.SIGKILL)
        total = p.wait_for_line("Total recovery time:")
        assert "seconds" in total
        status = httpx.get(f"{p.url}/recovery/status", timeout=5).json()
        assert SEED_KEYS <= set(status)
        assert ("RECOVERED", 100, []) == (
            status["state"],
            status["progress_percentage"],
            status["remaining_steps"],
        )
        assert HOT_STEPS == status["completed_steps"]
        sizing = httpx.get(f"{p.url}/api/services/engine/resumption", timeout=5).json()
        assert ("monitoring_only", 0.0, False) == (
            sizing["phase"],
            sizing["size_multiplier"],
            sizing["should_trade"],
        )
        [recovery] = httpx.get(f"{p.url}/api/recoveries", timeout=5).json()["recoveries"]
        assert ("crash", "hot", True) == (
            recovery["failure_type"],
            recovery["method"],
            recovery["success"],
        )
        health = httpx.get(f"{urls['engine']}/health", timeout=5)
        assert (200, "standby") == (health.status_code, health.json()["restored"]["from"])
        children = p.child_pids()
        assert len(children) >= 6  # five services, and the engine started again
        p.signal(signal.SIGINT)
        assert 0 == p.wait(timeout=20)
        assert not any(pid_alive(pid) for pid in children)
    finally:
        p.ensure_dead()


def test_the_demo_inbox_shows_the_page_the_pushes_and_the_all_clear(tmp_path: Path) -> None:
    """The demo's inbox is its terminal (every notification one log line): kill -9 the
    floor's engine and the terminal shows the P0 page, the progress pushes (started, 25, 50,
    75 %, complete) and the all-clear with the RTO against the demo's 10 s target, each once.
    (The resumption phases and watch period are shortened here: in the real demo the
    all-clear comes when they are over, about a minute after the recovery.)"""
    config, _urls = floor_copy(tmp_path)
    p = start(config)
    try:
        os.kill(engine_pid(p), signal.SIGKILL)
        clear = p.wait_for_line("all clear: [P1] engine: all clear, recovered in", within=60)
        assert "RTO " in clear
        assert "against a target of 10 s (met)" in clear
        expected = [
            "page: [P0] engine crash: pid ",
            "update: [P1] engine: Recovery Started (hot)",
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
