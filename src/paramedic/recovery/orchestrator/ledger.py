"""One service's recovery book: its incidents, what each holds in memory, and how moves are
recorded.

Every stage (decide, run, validate, rebuild) writes through this one object, so the rule the
orchestrator lives by is kept in one place: a move is recorded (awaited, durable) before it
takes effect, and automation still running when a human took the incident over stops at its
next move (`TakenOver`). It holds no stage's logic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.contracts import Record
from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event, NoteAdded
from paramedic.core.incident_events import (
    EscalationTrigger,
    EscalationTriggered,
    RecoveryFinished,
    RecoveryProgress,
)
from paramedic.recovery.approval import ApprovalGate
from paramedic.recovery.decision import Decision
from paramedic.recovery.history import RtoHistory
from paramedic.recovery.progress import ProgressTracker, RtoWatch
from paramedic.recovery.resumption import Resumption
from paramedic.recovery.states import Incident, IncidentState, plan_transition
from paramedic.recovery.validation import Validator

__all__ = ["VALIDATION_SOURCE", "Ledger", "Live", "TakenOver", "page_id"]

log = structlog.get_logger("paramedic.recovery")
S = IncidentState
VALIDATION_SOURCE = "validation"
"""The `source` of the failure that pages a failed critical validation check."""
_BUSY = frozenset(
    {
        S.FAILURE_DETECTED,
        S.AWAITING_APPROVAL,
        S.RECOVERY_IN_PROGRESS,
        S.VALIDATING,
        S.RECOVERY_FAILED,
        S.MANUAL_RECOVERY,  # a human owns the service: a new failure is theirs, not a new run
    }
)


def page_id(incident: str) -> str:
    """The id of the page for a failed validation of `incident`: derived, so a rebuilt
    orchestrator finds it, and its own, so the crash's resolved alert is not re-triggered."""
    return f"{incident}_validation"


class TakenOver(Exception):
    """An operator took the incident to manual: the automation that was running stops."""


@dataclass(slots=True)
class Live:
    """What an incident has in memory besides its state: timers and trackers, all droppable."""

    decision: Decision | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # the decision's, for the steps
    gate: ApprovalGate | None = None
    tracker: ProgressTracker | None = None
    logged: int = 0
    rto: RtoWatch | None = None
    validator: Validator | None = None
    resumption: Resumption | None = None
    watch: TimerHandle | None = None
    escalated: set[str] = field(default_factory=set)
    snapshots: list[Path] = field(default_factory=list)
    superseded: bool = False
    validating: bool = False  # short/medium windows still to pass after RECOVERED
    page: str | None = None  # the failure.detected that paged a failed validation
    watched: bool = False  # the watch period is over (HEALTHY may still wait, see above)


class Ledger:
    """The incidents of one service and the recording primitives every stage shares."""

    def __init__(
        self,
        service: str,
        *,
        clock: Clock,
        record: Record,
        session: aiohttp.ClientSession | None,
        failures_window: float,
        market_open: Callable[[float], bool],
    ) -> None:
        self.service = service
        self.clock = clock
        self._record_fn = record
        self._session, self._own_session = session, False
        self._failures_window = failures_window
        self._market_open = market_open
        self.incidents: dict[str, Incident] = {}
        self.live: dict[str, Live] = {}
        self.failures: list[float] = []  # monotonic instants of failed method runs
        # Monotonic instants of every failure of the service (seed 6.1/6.2's "multiple
        # failures"): each failure.detected counts, recovered or not, folded in or not.
        self.service_failures: list[float] = []
        self.validations: list[float] = []  # seconds each passed immediate validation took
        self.last_rto: float | None = None
        self.history = RtoHistory()  # the recovery-history histogram's counts
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        self.log_lines: list[str] = []
        """The seed's 3.5 lines of every run, in order (also logged)."""

    # -- incidents -----------------------------------------------------------------------

    def need(self, incident_id: str) -> tuple[Incident, Live]:
        incident = self.incidents.get(incident_id)
        if incident is None:
            msg = f"incident {incident_id}: unknown to the {self.service} recovery"
            raise RecoveryError(msg)
        return incident, self.live[incident_id]

    def busy(self) -> Incident | None:
        for incident in self.incidents.values():
            if incident.state in _BUSY and not self.live[incident.id].superseded:
                return incident
        return None

    def current(self) -> Incident | None:
        # A relapsed incident stays RECOVERY_FAILED, superseded by the one that owns the
        # recovery now: never the current one, or its halt would outlive the recovery.
        incidents = list(self.incidents.values())
        open_ones = [i for i in incidents if not i.closed and not self.live[i.id].superseded]
        found = open_ones or incidents
        return found[-1] if found else None

    def halt(self, incident_id: str, live: Live) -> None:
        """Stop every timer and watcher of an incident (its records stay as they are)."""
        if live.gate is not None:
            live.gate.withdraw(incident_id)
        for stop in (live.rto, live.resumption):
            if stop is not None:
                stop.stop()
        live.resumption = None
        if live.validator is not None:
            live.validator.cancel()
            live.validator = None
        if live.watch is not None:
            live.watch.cancel()
            live.watch = None

    # -- background work -----------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self.closed:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except TakenOver as exc:
            log.info("automation stopped: an operator took over", incident=str(exc))
        except Exception:  # the edge of a background run: log with context, keep supervising
            log.exception("recovery task failed", service=self.service)

    async def get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session, self._own_session = aiohttp.ClientSession(), True
        return self._session

    async def close_session(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()

    # -- records -------------------------------------------------------------------------

    async def record(self, event: Event) -> None:
        await self._record_fn(event)

    def emit(self, event: Event) -> None:
        """For timer callbacks (approval timeout, RTO): record in the background, in order."""
        self.spawn(self.record(event))

    async def move(
        self,
        incident: Incident,
        to: IncidentState,
        reason: str,
        *,
        method: str | None = None,
        human: bool = False,
    ) -> None:
        if incident.state is S.MANUAL_RECOVERY and not human:
            raise TakenOver(incident.id)  # automation still running when a human took over
        event = plan_transition(incident, to, reason, self.clock.now(), method=method)
        await self.record(event)
        incident.apply(event)

    async def escalate(
        self,
        incident: Incident,
        trigger: EscalationTrigger,
        reason: str,
        *,
        checks: tuple[str, ...] = (),
    ) -> None:
        self.live[incident.id].escalated.add(trigger)
        await self.record(
            EscalationTriggered(
                at=self.clock.now(),
                service=self.service,
                incident=incident.id,
                trigger=trigger,
                reason=reason,
                checks=checks,
            )
        )

    async def to_manual(
        self, incident: Incident, why: str, *, trigger: EscalationTrigger | None = "recovery_failed"
    ) -> None:
        live = self.live[incident.id]
        if live.rto is not None:
            live.rto.stop()
        await self.move(incident, S.MANUAL_RECOVERY, why)
        if trigger is not None:
            await self.escalate(incident, trigger, why)

    async def finish(
        self, incident: Incident, method: str, *, ok: bool, duration_s: float, reason: str
    ) -> None:
        """The Recovery History row (seed 3.x): method, RTO and whether it worked."""
        self.history.observe(method, incident.kind, ok, duration_s)
        await self.record(
            RecoveryFinished(
                at=self.clock.now(),
                service=self.service,
                incident=incident.id,
                method=method,
                ok=ok,
                duration_s=duration_s,
                reason=reason,
            )
        )

    async def note(self, incident: Incident, text: str) -> None:
        await self.record(
            NoteAdded(
                at=self.clock.now(),
                service=self.service,
                author="paramedic",
                text=f"incident {incident.id}: {text}",
            )
        )

    async def progress(self, incident: Incident, event: RecoveryProgress) -> None:
        await self.record(event)
        live = self.live[incident.id]
        tracker = live.tracker
        if tracker is None:
            return
        for line in tracker.log_lines[live.logged :]:
            self.log_lines.append(line)
            log.info(line, service=self.service, incident=incident.id)
        live.logged = len(tracker.log_lines)

    # -- time ----------------------------------------------------------------------------

    def as_mono(self, wall: float) -> float:
        """A previous run's instant on this run's monotonic clock (wall time is the only
        clock two runs share; a reboot restarts the monotonic one)."""
        return self.clock.monotonic() - (self.clock.wall() - wall)

    def recent(self, instants: list[float]) -> int:
        """How many of `instants` fall in the failures window; older ones are dropped."""
        since = self.clock.monotonic() - self._failures_window
        instants[:] = [t for t in instants if t >= since]
        return len(instants)

    def market_open(self) -> bool:
        return self._market_open(self.clock.wall())
