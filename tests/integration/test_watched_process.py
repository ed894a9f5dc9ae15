"""Watching a process paramedic did not start: exit noticed through a pidfd, as a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.harness import running_paramedic
from tests.integration.runner import pid_alive

pytestmark = pytest.mark.integration


def orphan(pid_file: Path) -> int:
    """Start a sleeper whose parent exits at once, so it belongs to init, not to us."""
    code = (
        "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c',"
        " 'import signal; signal.pause()'], start_new_session=True);"
        f" open({str(pid_file)!r}, 'w').write(str(p.pid))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    return int(pid_file.read_text())


async def test_foreign_process_exit_is_a_crash_incident(tmp_path: Path) -> None:
    """kill -9 of a process watched by pid file: one crash incident saying the status is unknown."""
    pid_file = tmp_path / "engine.pid"
    pid = orphan(pid_file)
    config = "services:\n  engine:\n    watch: {pid_file: engine.pid}\n"
    try:
        async with running_paramedic(tmp_path, config) as (p, timeline):
            attached = await timeline.wait_for("process.attached")
            assert (
                f"engine: watching pid {pid} (pid file {pid_file}), not started by paramedic"
                == (attached.summary())
            )
            os.kill(pid, signal.SIGKILL)
            detected = await timeline.wait_for("failure.detected")
            assert "crash" == detected.failure_kind  # type: ignore[attr-defined]
            assert detected.reason.startswith(f"pid {pid} exited after ")  # type: ignore[attr-defined]
            assert detected.reason.endswith("(not paramedic's child: exit status unknown)")  # type: ignore[attr-defined]
            assert 1 == len(timeline.of("failure.detected"))
            assert p.parts.services["engine"].watched is not None
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
