"""A re-adopted process (not paramedic's child) is stopped like an owned one: stop signal,
grace, then SIGKILL of its whole process group; its exit is noticed through the pidfd."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from paramedic.core.clock import SystemClock
from paramedic.process import ExitStatus, ManagedProcess
from paramedic.process.identity import identify, open_if_same
from tests.integration.runner import pid_alive

pytestmark = pytest.mark.integration

# Ignores SIGTERM, starts a grandchild in its own group, then prints the grandchild's pid.
STUBBORN = (
    "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
    " print(g.pid, flush=True); time.sleep(600)"
)


@pytest.fixture
def outside() -> Iterator[subprocess.Popen[bytes]]:
    """A process started elsewhere, in its own session, as paramedic's previous run did."""
    proc = subprocess.Popen(
        [sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, start_new_session=True
    )
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


async def test_an_adopted_stubborn_process_and_its_group_are_killed_after_the_grace(
    outside: subprocess.Popen[bytes],
) -> None:
    """Adopted by identity, a process ignoring SIGTERM is SIGKILLed with its grandchild after
    the grace; the exit is reported as expected, with its status unknown."""
    assert outside.stdout is not None
    grandchild = int(await asyncio.to_thread(outside.stdout.readline))
    identity = identify(outside.pid)
    assert identity is not None
    pidfd, why = open_if_same(identity)
    assert pidfd is not None, why
    exits: list[ExitStatus] = []
    proc = ManagedProcess(
        "engine", ["engine"], clock=SystemClock(), stop_timeout=0.2, on_exit=exits.append
    )
    proc.adopt(identity, pidfd)
    assert (True, outside.pid) == (proc.running, proc.pid)
    status = await asyncio.wait_for(proc.stop(), 10)
    assert status is not None
    assert (outside.pid, True, None, None) == (
        status.pid,
        status.expected,
        status.returncode,
        status.signal,
    )
    assert "status unknown: re-adopted after paramedic restart" == status.unknown
    assert [status] == exits
    assert -signal.SIGKILL == outside.wait(timeout=5)  # the test is its real parent
    await asyncio.to_thread(_wait_gone, grandchild)


def _wait_gone(pid: int) -> None:
    """The grandchild is reaped by init once killed: poll another process's state briefly."""
    for _ in range(250):
        if not pid_alive(pid):
            return
        time.sleep(0.02)
    msg = f"grandchild {pid} survived the group SIGKILL"
    raise AssertionError(msg)
