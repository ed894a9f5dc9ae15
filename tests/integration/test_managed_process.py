"""ManagedProcess with real children and real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paramedic.core.clock import SystemClock
from paramedic.core.errors import ProcessError
from paramedic.process import ExitStatus, ManagedProcess

pytestmark = pytest.mark.integration


async def until_ready(tmp_path: Path) -> tuple[str, asyncio.Future[None]]:
    """A Unix socket the child connects to once its signal handlers are in place."""
    path = str(tmp_path / "ready.sock")
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ready.set_result(None)
        writer.close()

    server = await asyncio.start_unix_server(accepted, path)
    ready.add_done_callback(lambda _: server.close())
    # Keep the socket referenced: a signal handled inside its finalizer would be swallowed.
    return f"import socket; _s = socket.socket(socket.AF_UNIX); _s.connect({path!r});", ready


_spawned: list[ManagedProcess] = []


@pytest.fixture(autouse=True)
def _no_child_left() -> Iterator[None]:
    """Whatever a test started is killed at teardown, even when the test failed."""
    yield
    while _spawned:
        _spawned.pop().kill()


def child(code: str, tmp_path: Path, **kwargs: object) -> ManagedProcess:
    proc = ManagedProcess(
        "svc",
        [sys.executable, "-c", code],
        clock=SystemClock(),
        log_path=tmp_path / "svc.log",
        **kwargs,  # type: ignore[arg-type]
    )
    _spawned.append(proc)
    return proc


async def test_kill_9_is_noticed_as_sigkill(tmp_path: Path) -> None:
    """A SIGKILLed child is reported at once as killed by SIGKILL, not as expected."""
    exits: list[ExitStatus] = []
    proc = child("import signal; signal.pause()", tmp_path, on_exit=exits.append)
    pid = proc.spawn()
    os.kill(pid, signal.SIGKILL)
    status = await asyncio.wait_for(proc.wait(), 5)
    assert status is not None
    assert (pid, None, "SIGKILL", False) == (
        status.pid,
        status.returncode,
        status.signal,
        status.expected,
    )
    assert [status] == exits
    assert not proc.running


async def test_exit_code_and_output_captured(tmp_path: Path) -> None:
    """A child's exit code is reported and its stdout/stderr land in its log file."""
    proc = child("import sys; print('hello'); sys.stderr.write('oops\\n'); sys.exit(3)", tmp_path)
    proc.spawn()
    status = await asyncio.wait_for(proc.wait(), 5)
    assert status is not None
    assert (3, None) == (status.returncode, status.signal)
    assert "hello\noops\n" == (tmp_path / "svc.log").read_text()


async def test_stop_escalates_to_sigkill_after_grace(tmp_path: Path) -> None:
    """A child ignoring the stop signal is SIGKILLed after the grace period; stop is expected."""
    announce, ready = await until_ready(tmp_path)
    code = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f"{announce} time.sleep(60)"
    )
    proc = child(code, tmp_path, stop_timeout=0.3)
    proc.spawn()
    await asyncio.wait_for(ready, 5)
    status = await asyncio.wait_for(proc.stop(), 5)
    assert status is not None
    assert ("SIGKILL", True) == (status.signal, status.expected)


async def test_graceful_stop_uses_the_configured_signal(tmp_path: Path) -> None:
    """The configured stop signal is sent first; a child that honours it exits cleanly."""
    announce, ready = await until_ready(tmp_path)
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, lambda *a: sys.exit(0));"
        f"{announce} signal.pause()"
    )
    proc = child(code, tmp_path, stop_signal=signal.SIGINT, stop_timeout=5.0)
    proc.spawn()
    await asyncio.wait_for(ready, 5)
    status = await asyncio.wait_for(proc.stop(), 5)
    assert status is not None
    assert (0, None, True) == (status.returncode, status.signal, status.expected)


async def test_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    """A program not on PATH is reported by name, before anything is forked."""
    proc = ManagedProcess("svc", ["no-such-program-xyz"], clock=SystemClock())
    with pytest.raises(ProcessError, match="'no-such-program-xyz' not found on PATH"):
        proc.spawn()
