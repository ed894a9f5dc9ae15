"""Running a short-lived program (a check, a recovery step) without a shell.

It runs in its own process group; if the caller gives up (a timeout cancels it), the whole
group is SIGKILLed and the child reaped before the cancellation goes on, so neither the
program nor anything it spawned outlives the check.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from paramedic.core.text import duration, one_line
from paramedic.process.ledger import current_ledger

__all__ = ["CommandResult", "run_command"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    output: str
    took: float

    def describe(self, label: str) -> str:
        code = self.returncode
        status = f"killed by signal {-code}" if code < 0 else f"exited {code}"
        lines = self.output.strip().splitlines()
        tail = f": {one_line(lines[-1])}" if lines and code != 0 else ""
        return f"{label} {status} in {duration(self.took)}{tail}"


async def run_command(
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    on_spawn: Callable[[int], None] | None = None,
) -> CommandResult:
    """Exec without a shell, in a new process group; OSError if it cannot start.

    Cancelled (the runner's timeout): SIGKILL the whole group and reap the child before the
    cancellation goes on, so neither the program nor what it spawned outlives the step.
    Every command goes in the context's `CommandLedger`, so that if paramedic dies while it
    runs the next start can end it (a SIGKILLed paramedic cancels nothing); `on_spawn(pid)`
    lets a caller also record it where it belongs (a recovery step's on the timeline).
    """
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )
    ledger = current_ledger.get()
    if ledger is not None:  # at once: the caller's record may be committed too late
        ledger.add(proc.pid, f"command {argv[0]}")
    if on_spawn is not None:
        on_spawn(proc.pid)
    try:
        output, _ = await proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.shield(proc.wait())
        raise
    finally:
        if ledger is not None:
            ledger.remove(proc.pid)
    assert proc.returncode is not None
    took = time.perf_counter() - start
    return CommandResult(proc.returncode, output.decode("utf-8", "replace"), took)
