"""The process watchdog: restart what died, kill what hung, give up when it keeps dying.

Every action is recorded before it is taken. A service with a recovery plan is handed to the
recovery orchestrator (`handoff`) instead of being restarted blindly: a warm restart from a
checkpoint, or a human, may be the right answer there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from paramedic.core.clock import Clock
from paramedic.core.contracts import Record
from paramedic.core.errors import ProcessError
from paramedic.core.failure_events import WatchdogGaveUp
from paramedic.core.process_events import ProcessSpawned
from paramedic.detect.events import ProcessRestartScheduled, WatchdogKilledHung
from paramedic.detect.restart_policy import RestartPlanner
from paramedic.process.managed import ExitStatus, ManagedProcess

__all__ = ["Watchdog"]

log = structlog.get_logger("paramedic.watchdog")


class Watchdog:
    """Restart policy in action for one owned process."""

    def __init__(
        self,
        service: str,
        process: ManagedProcess,
        planner: RestartPlanner,
        *,
        clock: Clock,
        record: Record,
        on_give_up: Callable[[str], Awaitable[None]],
        on_spawned: Callable[[int], None] = lambda pid: None,
        handoff: Callable[[ExitStatus], bool] | None = None,
    ) -> None:
        self.service = service
        self.process = process
        self.planner = planner
        self._clock = clock
        self._record = record
        self._on_give_up = on_give_up
        self._on_spawned = on_spawned
        self._handoff = handoff
        self._killing_hung = False
        self._closed = False
        self.gave_up = False
        self.restarts = 0

    async def process_exited(self, status: ExitStatus) -> None:
        """Decide about an exit and act: restart after the backoff, or give up."""
        forced, self._killing_hung = self._killing_hung, False
        if self._closed or self.gave_up:
            return
        if self._handoff is not None and self._handoff(status):
            return
        decision = self.planner.decide(status, self._clock.monotonic(), forced=forced)
        if decision.action == "leave":
            return
        if decision.action == "give_up":
            self.gave_up = True
            await self._record(
                WatchdogGaveUp(
                    at=self._clock.now(),
                    service=self.service,
                    restarts=self.planner.recent_restarts,
                    window_s=self.planner.window,
                )
            )
            await self._on_give_up(decision.reason)
            return
        await self._record(
            ProcessRestartScheduled(
                at=self._clock.now(),
                service=self.service,
                attempt=decision.attempt,
                delay_s=round(decision.delay, 6),
                reason=decision.reason,
            )
        )
        if decision.delay > 0:
            await self._clock.sleep(decision.delay)
        if self._closed:
            return
        await self.start()

    async def start(self) -> int | None:
        """Spawn the process and record it; a spawn failure gives up at once (it won't heal)."""
        try:
            pid = self.process.spawn()
        except ProcessError as exc:
            self.gave_up = True
            await self._on_give_up(f"cannot start: {exc}")
            return None
        self.restarts += 1
        self._on_spawned(pid)
        identity = self.process.identity
        await self._record(
            ProcessSpawned(
                at=self._clock.now(),
                service=self.service,
                pid=pid,
                argv=self.process.argv,
                start_time=identity.start_time if identity is not None else 0,
                boot_id=identity.boot_id if identity is not None else "",
                spawn_id=self.process.spawn_id,
            )
        )
        return pid

    async def kill_hung(self, reason: str) -> None:
        """Stop signal, SIGKILL after the grace; the exit then restarts it like a crash."""
        pid = self.process.pid
        if pid is None or self._killing_hung or self._closed:
            return
        self._killing_hung = True
        await self._record(
            WatchdogKilledHung(
                at=self._clock.now(),
                service=self.service,
                pid=pid,
                reason=reason,
                grace_s=self.process.stop_timeout,
            )
        )
        await self.process.stop()

    def close(self) -> None:
        """No more restarts: paramedic is shutting down."""
        self._closed = True

    @property
    def killing_hung(self) -> bool:
        return self._killing_hung
