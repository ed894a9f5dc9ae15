"""`shutdown_timeout` is a promise about the whole exit: from the signal to the process gone."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.integration.runner import RunningParamedic, pid_alive
from tests.integration.test_run import TOKEN, stubborn, wait_ready, write_config

pytestmark = pytest.mark.integration


def test_the_shutdown_deadline_holds_to_the_exit(
    tmp_path: Path, running: list[RunningParamedic]
) -> None:
    """A child that ignores SIGTERM with a grace longer than shutdown_timeout (1 s): paramedic
    kills it at the deadline and its process is gone within 150 ms of it (it used to take
    0.3-1.2 s more, tearing the interpreter down after the deadline)."""
    code, ready = stubborn(tmp_path)
    config = write_config(tmp_path, child=code, stop_timeout="30s", shutdown="1s")
    p = RunningParamedic(config, env={"TEST_OPERATOR_TOKEN": TOKEN})
    running.append(p)
    p.wait_started()
    wait_ready(ready)
    [child] = p.child_pids()
    began = time.monotonic()
    p.signal(signal.SIGTERM)
    assert 1 == p.proc.wait(timeout=10)
    took = time.monotonic() - began
    assert 1.0 <= took < 1.15, f"exit {took:.3f} s after the signal"
    assert not pid_alive(child)
