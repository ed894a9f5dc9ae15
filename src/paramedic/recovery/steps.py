"""Recovery step actions: one async callable per step, each ending in one plain sentence.

A step either does something to the world (run a program, call an API, restart the process)
or waits for something (healthy, heartbeat). The difference matters when a step is cut short:
a timed-out wait changed nothing, but a timed-out promotion may or may not have promoted, so
every outcome (the check kit's `CheckResult`; the kit also runs the `command` and `http`
steps) says whether it is *known* and the runner refuses to guess on the operator's behalf.
Process and service hooks come from the integrator through `StepContext`
(`recovery/hooks.py`), which keeps this module free of the runtime's internals.

Durations are `time.perf_counter` readings: they describe real I/O, not an injected clock.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from paramedic.checks import CheckResult
from paramedic.core.errors import ParamedicError
from paramedic.core.text import duration
from paramedic.recovery.hooks import StepContext

__all__ = [
    "StepAction",
    "hook_step",
    "wait_step",
]


StepAction = Callable[[StepContext], Awaitable[CheckResult]]


def hook_step(kind: str) -> StepAction:
    async def act(ctx: StepContext) -> CheckResult:
        start = time.perf_counter()
        hook = ctx.restart_process if kind == "restart_process" else ctx.stop_process
        try:
            said = await hook()
        except ParamedicError as exc:
            # Our own errors name a cause that stopped the action before it took effect.
            return CheckResult(False, f"{kind} failed: {exc}", time.perf_counter() - start)
        took = time.perf_counter() - start
        done = "process restarted" if kind == "restart_process" else "process stopped"
        return CheckResult(True, said or f"{done} in {duration(took)}", took)

    return act


def wait_step(kind: str, timeout: float) -> StepAction:
    async def act(ctx: StepContext) -> CheckResult:
        start = time.perf_counter()
        wait = ctx.wait_healthy if kind == "wait_healthy" else ctx.wait_heartbeat
        ok = await wait(timeout)
        took = time.perf_counter() - start
        what = "healthy" if kind == "wait_healthy" else "heartbeat back"
        sentence = (
            f"{what} after {duration(took)}" if ok else f"not {what} within {duration(timeout)}"
        )
        return CheckResult(ok, sentence, took)

    return act
