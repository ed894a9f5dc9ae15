"""A watched process that is not there when paramedic starts is a failure, said in one sentence.

Defect 4 of issue 10: a dead pid or a missing pid file at start used to leave no event, no
log line and no `paramedic_service_up` series. Here it opens an incident like a crash, the
service reads down, and a service started after paramedic comes up once its pid file appears.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.integration.harness import running_paramedic
from tests.integration.runner import RunningParamedic, pid_alive
from tests.integration.test_watched_process import orphan

pytestmark = pytest.mark.integration


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def events(p: RunningParamedic, kind: str) -> list[dict[str, Any]]:
    body = p.get("/api/timeline", params={"limit": 1000}).json()
    return [e for e in body["events"] if e["kind"] == kind]


def poll(p: RunningParamedic, kind: str, within: float = 15.0) -> dict[str, Any]:
    """Wait for an event in another process's store (no event to await across processes)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = events(p, kind)
        if found:
            return found[-1]
        time.sleep(0.05)
    msg = f"no {kind} within {within} s; log:\n{''.join(p.output)}"
    raise AssertionError(msg)


def service_up_metric(p: RunningParamedic) -> str | None:
    for line in p.get("/metrics").text.splitlines():
        if line.startswith('paramedic_service_up{service="engine"}'):
            return line.split()[-1]
    return None


def test_missing_pid_file_at_start_is_a_failure_and_the_late_process_is_attached(
    tmp_path: Path, running: list[RunningParamedic]
) -> None:
    """`paramedic run` watching a pid file that does not exist yet: one crash incident saying
    "pid file ... missing at start", logged, service_up 0 in /metrics, services_down 1 in
    /health; the engine then starts and writes its pid file: attached, the incident clears,
    service_up 1."""
    pid_file = tmp_path / "engine.pid"
    config = tmp_path / "paramedic.yaml"
    config.write_text(
        f"api:\n  listen: 127.0.0.1:{free_port()}\nstore:\n  path: p.db\n"
        "services:\n  engine:\n    watch: {pid_file: engine.pid}\n"
        "    health: {up_after: 2, evaluate_every: 100ms}\n"
    )
    p = RunningParamedic(config)
    running.append(p)
    p.wait_started()
    detected = poll(p, "failure.detected")
    sentence = f"pid file {pid_file} missing at start"
    assert ("crash", sentence) == (
        detected["payload"]["failure_kind"],
        detected["payload"]["reason"],
    )
    assert any(sentence in line for line in p.output)  # the log says it too
    assert "0.0" == service_up_metric(p)
    assert 1.0 == p.get("/health").json()["metrics"]["services_down"]
    assert 1 == len(events(p, "failure.detected"))  # re-reading the file every second: once

    pid = orphan(pid_file)  # the engine starts after paramedic and writes its pid file
    try:
        attached = poll(p, "process.attached")
        assert pid == attached["payload"]["pid"]
        cleared = poll(p, "failure.cleared")
        assert detected["payload"]["incident"] == cleared["payload"]["incident"]
        assert "1.0" == service_up_metric(p)
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("watch", "expected"),
    [
        ("{pid: DEAD}", "pid DEAD is not running at start"),
        ("{pid_file: engine.pid}", "pid DEAD from PIDFILE is not running at start"),
        ("{pid_file: garbage.pid}", "pid file GARBAGE holds 'twelve', not a pid at start"),
    ],
)
async def test_dead_pid_or_garbage_pid_file_at_start_opens_one_incident(
    tmp_path: Path, watch: str, expected: str
) -> None:
    """A pid that is not running (given directly or read from the pid file) and a pid file
    that holds no pid each open one crash incident with their sentence; the service is down."""
    pid = dead_pid()
    (tmp_path / "engine.pid").write_text(f"{pid}\n")
    (tmp_path / "garbage.pid").write_text("twelve\n")
    config = "services:\n  engine:\n    watch: " + watch.replace("DEAD", str(pid)) + "\n"
    sentence = (
        expected.replace("DEAD", str(pid))
        .replace("PIDFILE", str(tmp_path / "engine.pid"))
        .replace("GARBAGE", str(tmp_path / "garbage.pid"))
    )
    async with running_paramedic(tmp_path, config) as (p, timeline):
        detected = await timeline.wait_for("failure.detected")
        assert ("crash", sentence) == (detected.failure_kind, detected.reason)  # type: ignore[attr-defined]
        assert "down" == p.parts.services["engine"].health.state
        assert 1 == len(timeline.of("failure.detected"))
