"""The runtime's hands on a service's process, declared once for the orchestrator and the steps.

Recovery never reaches into the runtime: the runtime hands over these callables
(`ServiceRuntime.hooks()`), the orchestrator keeps them, and every step run gets them inside
its `StepContext`. A hook the integrator did not give fails the step with a sentence instead
of the supervisor, so a test (or a plan without a process) can hand over only what it uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paramedic.core.errors import RecoveryError

if TYPE_CHECKING:
    import aiohttp

__all__ = ["RecoveryHooks", "StepContext"]


def _missing(what: str) -> RecoveryError:
    msg = f"no {what} hook was given to this recovery run"
    return RecoveryError(msg)


async def _no_restart() -> str | None:
    raise _missing("restart_process")


async def _no_stop() -> str | None:
    raise _missing("stop_process")


async def _no_wait_healthy(_timeout: float) -> bool:
    raise _missing("wait_healthy")


async def _no_wait_heartbeat(_timeout: float) -> bool:
    raise _missing("wait_heartbeat")


def _no_pid() -> int | None:
    return None


@dataclass(slots=True)
class RecoveryHooks:
    """The runtime's hands on the service's process; steps reach it only through these."""

    restart_process: Callable[[], Awaitable[str | None]] = _no_restart
    stop_process: Callable[[], Awaitable[str | None]] = _no_stop
    # The integrator's wait honours the bound itself (it may wait on a probe's own deadline).
    wait_healthy: Callable[[float], Awaitable[bool]] = _no_wait_healthy
    wait_heartbeat: Callable[[float], Awaitable[bool]] = _no_wait_heartbeat
    pid: Callable[[], int | None] = _no_pid
    # Told (label, pid) of every command a step starts: recorded so that a restart of
    # paramedic can end a command its crash left running.
    command_started: Callable[[str, int], None] | None = None
    log_files: Callable[[], list[Path]] = list
    """The service's own output files paramedic captured: kept in every snapshot."""
    facts_dir: Path | None = None
    """Where a step's facts file is written (paramedic's own folder, swept at its start);
    None: the temporary directory."""


@dataclass(slots=True)
class StepContext:
    """What a step may touch: the run's identity, an HTTP session, and the runtime's hooks.

    `facts` are what the decision saw (`recovery/facts.py`); `env` carries them as
    `PARAMEDIC_*` variables for the programs a step runs."""

    service: str
    session: aiohttp.ClientSession
    env: Mapping[str, str] = field(default_factory=dict)
    incident_id: str = ""
    method: str = ""
    hooks: RecoveryHooks = field(default_factory=RecoveryHooks)
    facts: Mapping[str, Any] = field(default_factory=dict)

    def command_started(self, label: str) -> Callable[[int], None] | None:
        hook = self.hooks.command_started
        return None if hook is None else lambda pid: hook(label, pid)

    async def restart_process(self) -> str | None:
        return await self.hooks.restart_process()

    async def stop_process(self) -> str | None:
        return await self.hooks.stop_process()

    async def wait_healthy(self, timeout: float) -> bool:  # noqa: ASYNC109
        return await self.hooks.wait_healthy(timeout)

    async def wait_heartbeat(self, timeout: float) -> bool:  # noqa: ASYNC109
        return await self.hooks.wait_heartbeat(timeout)
