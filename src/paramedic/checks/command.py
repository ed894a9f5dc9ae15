"""Command checks: a program exec'd without a shell; exit 0 is success.

`process/command.py` spawns and reaps the program (its own process group, SIGKILLed with
everything it started when the caller gives up); this module says what its exit means.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from paramedic.checks.result import CheckResult
from paramedic.config.checks import CommandCheck
from paramedic.core.text import duration, one_line
from paramedic.process.command import CommandExit, run_command

__all__ = ["command_check", "command_json", "exit_sentence"]


def exit_sentence(done: CommandExit, label: str) -> str:
    """`check exited 2 in 4.1 ms: db lag 9s`: the last output line says why, on failure."""
    code = done.returncode
    status = f"killed by signal {-code}" if code < 0 else f"exited {code}"
    lines = done.output.strip().splitlines()
    tail = f": {one_line(lines[-1])}" if lines and code != 0 else ""
    return f"{label} {status} in {duration(done.took)}{tail}"


async def command_check(
    check: CommandCheck,
    *,
    env: Mapping[str, str] | None = None,
    label: str = "",
    on_spawn: Callable[[int], None] | None = None,
) -> CheckResult:
    """Run `check`; `env` (a recovery run's) goes under the check's own `env`, both over
    paramedic's environment. `on_spawn(pid)` lets a caller record the pid where it belongs."""
    start = time.perf_counter()
    name = label + check.argv[0]
    merged = {**os.environ, **(env or {}), **check.env}
    try:
        done = await run_command(check.argv, env=merged, cwd=check.cwd, on_spawn=on_spawn)
    except OSError as exc:
        took = time.perf_counter() - start
        return CheckResult(False, f"{name} cannot run: {exc.strerror or exc}", took)
    return CheckResult(done.returncode == 0, exit_sentence(done, name), done.took)


async def command_json(check: CommandCheck) -> Any:
    """The JSON a program prints on stdout after exiting 0; ValueError with a sentence else."""
    name = check.argv[0]
    try:
        done = await run_command(check.argv, env={**os.environ, **check.env}, cwd=check.cwd)
    except OSError as exc:
        msg = f"{name} cannot run: {exc.strerror or exc}"
        raise ValueError(msg) from exc
    if done.returncode != 0:
        raise ValueError(exit_sentence(done, name))
    try:
        return json.loads(done.output)
    except ValueError:
        msg = f"{name} did not print JSON: {one_line(done.output)!r}"
        raise ValueError(msg) from None
