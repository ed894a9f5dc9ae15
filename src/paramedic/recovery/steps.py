"""Recovery step actions: one async callable per step, each ending in one plain sentence.

A step either does something to the world (run a program, call an API, restart the process)
or waits for something (healthy, heartbeat). The difference matters when a step is cut short:
a timed-out wait changed nothing, but a timed-out promotion may or may not have promoted, so
every outcome (the check kit's `CheckResult`; the kit also runs the `command` and `http`
steps) says whether it is *known* and the runner refuses to guess on the operator's behalf.
Process and service hooks come from the integrator through `StepContext`, which keeps this
module free of the runtime's internals.

Durations are `time.perf_counter` readings: they describe real I/O, not an injected clock.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp

from paramedic.checks import CheckResult
from paramedic.core.errors import ParamedicError, RecoveryError
from paramedic.core.text import duration

__all__ = [
    "StepAction",
    "StepContext",
    "hook_step",
    "wait_step",
]

_H = TypeVar("_H")


@dataclass(slots=True)
class StepContext:
    """What a step may touch; every hook is the integrator's, so steps never reach into it."""

    service: str
    session: aiohttp.ClientSession
    env: Mapping[str, str] = field(default_factory=dict)
    incident_id: str = ""
    method: str = ""
    restart_hook: Callable[[], Awaitable[str | None]] | None = None
    stop_hook: Callable[[], Awaitable[str | None]] | None = None
    wait_healthy_hook: Callable[[float], Awaitable[bool]] | None = None
    wait_heartbeat_hook: Callable[[float], Awaitable[bool]] | None = None
    # Told (label, pid) of every command a step starts: recorded so that a restart of
    # paramedic can end a command its crash left running.
    command_hook: Callable[[str, int], None] | None = None

    def command_started(self, label: str) -> Callable[[int], None] | None:
        hook = self.command_hook
        return None if hook is None else lambda pid: hook(label, pid)

    async def restart_process(self) -> str | None:
        return await _need(self.restart_hook, "restart_process")()

    async def stop_process(self) -> str | None:
        return await _need(self.stop_hook, "stop_process")()

    # The integrator's wait honours the bound itself (it may wait on a probe's own deadline).
    async def wait_healthy(self, timeout: float) -> bool:  # noqa: ASYNC109
        return await _need(self.wait_healthy_hook, "wait_healthy")(timeout)

    async def wait_heartbeat(self, timeout: float) -> bool:  # noqa: ASYNC109
        return await _need(self.wait_heartbeat_hook, "wait_heartbeat")(timeout)


def _need(hook: _H | None, what: str) -> _H:
    if hook is None:
        msg = f"no {what} hook was given to this recovery run"
        raise RecoveryError(msg)
    return hook


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
