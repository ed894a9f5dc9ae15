"""One service's recovery, end to end: the few calls the runtime and the API make.

The orchestrator owns no logic of its own that a stage or a building block already has: the
decide stage picks the method and asks a human, the run stage runs steps and falls back, the
validate stage decides when the service may trade again and when it is HEALTHY, the rebuild
stage resumes after a crash. What this class adds is the wiring, and the rule that every
move is recorded (awaited, durable) before it takes effect (kept by the `Ledger` every stage
writes through), so that a paramedic killed at any instant leaves a timeline from which
`rebuild` can resume without guessing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from paramedic.config.recovery_plan import RecoveryPlan
from paramedic.config.recovery_policy import RecoveryPolicy
from paramedic.core.clock import Clock
from paramedic.core.contracts import Record
from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureDetected
from paramedic.recovery.calendar import calendar_from
from paramedic.recovery.history import RtoHistory
from paramedic.recovery.hooks import RecoveryHooks
from paramedic.recovery.orchestrator.decide import Decider
from paramedic.recovery.orchestrator.ledger import VALIDATION_SOURCE, Ledger, Live, TakenOver
from paramedic.recovery.orchestrator.rebuild import Rebuilder
from paramedic.recovery.orchestrator.run import Runner
from paramedic.recovery.orchestrator.validate import Aftercare
from paramedic.recovery.orchestrator.views import resumption_body, status_body
from paramedic.recovery.standby import STANDBY_SOURCE, StandbyWatch
from paramedic.recovery.states import Incident, IncidentState, open_incident

__all__ = ["RecoveryOrchestrator"]

log = structlog.get_logger("paramedic.recovery")
S = IncidentState


def _no_history(_step: str) -> list[float]:
    return []


class RecoveryOrchestrator:
    """Recovers one service; every public coroutine returns once its records are durable."""

    def __init__(
        self,
        service: str,
        plan: RecoveryPlan,
        policy: RecoveryPolicy,
        *,
        clock: Clock,
        record: Record,
        hooks: RecoveryHooks,
        session: aiohttp.ClientSession | None,
        step_history: Callable[[str], list[float]] = _no_history,
        base_dir: Path,
        snapshot_dir: Path | None = None,
    ) -> None:
        self.service = service
        calendar = calendar_from(policy.market)
        book = self._book = Ledger(
            service,
            clock=clock,
            record=record,
            session=session,
            failures_window=policy.decision.failures_window,
            market_open=calendar.is_open,
        )
        self._standby = (
            StandbyWatch(
                service,
                plan.standby,
                clock=clock,
                record=record,
                session=book.get_session,
                spawn=book.spawn,
            )
            if plan.standby is not None
            else None
        )
        # The stages call each other in a ring (decide -> run -> validate -> run's fallback
        # -> decide's approval request): the two entries back into an earlier stage are
        # bound here, once every stage exists.
        self._decider = Decider(
            book,
            plan,
            policy,
            base_dir=base_dir,
            start_run=lambda incident, method: book.spawn(self._runner.run(incident, method, 0)),
        )
        self._runner = Runner(
            book,
            plan,
            policy,
            hooks=hooks,
            step_history=step_history,
            base_dir=base_dir,
            # Snapshots go beside the store unless the plan names a folder (defect: a fixed
            # /var/lib path that a non-root paramedic cannot even create).
            snapshot_dir=snapshot_dir if snapshot_dir is not None else base_dir / "snapshots",
            validate=lambda incident, method, why: self._after.validate(incident, method, why),
            ask=self._decider.request_approval,
        )
        self._after = Aftercare(
            book, plan, policy, hooks=hooks, fallback=self._runner, standby=self._standby
        )
        self._rebuilder = Rebuilder(
            book,
            plan,
            policy,
            decider=self._decider,
            runner=self._runner,
            aftercare=self._after,
            standby=self._standby,
        )

    @property
    def log_lines(self) -> list[str]:
        """The seed's 3.5 lines of every run, in order (also logged)."""
        return self._book.log_lines

    # -- what happens to the service -----------------------------------------------------

    async def on_failure(self, event: FailureDetected) -> None:
        """Open the incident and decide; a run goes on in the background (see `settle`)."""
        book = self._book
        if event.service != self.service or event.incident in book.incidents:
            return  # another service's, or a replayed duplicate: one incident per failure
        if event.source in (STANDBY_SOURCE, VALIDATION_SOURCE):
            return  # our own pages ("running without a standby", a failed validation)
        book.service_failures.append(event.at.mono)
        for other in list(book.incidents.values()):
            if other.state is S.RECOVERED:
                await self._after.relapsed(other, event)
        busy = book.busy()
        if busy is not None:
            # One recovery per service at a time: a crash caused by (or during) the running
            # recovery is evidence for it, not a second recovery racing the first.
            text = f"failure {event.incident} ({event.failure_kind}: {event.reason}) folded in"
            await book.note(busy, f"{text}; it is {busy.state.value}")
            return
        opened = open_incident(event)
        await book.record(opened)
        incident = Incident.from_opened(opened)
        book.incidents[incident.id] = incident
        book.live[incident.id] = Live()
        try:
            await self._decider.decide(incident)
        except TakenOver:
            log.info("decision dropped: an operator took over", incident=incident.id)

    async def rebuild(self, events: list[Event]) -> None:
        """Replay the timeline, then resume each open incident from what is proven durable."""
        await self._rebuilder.rebuild(events)

    # -- what operators do ---------------------------------------------------------------

    async def approve(self, incident_id: str, *, by: str, why: str) -> None:
        """An operator's yes: recorded with their name, then the method runs (or a human)."""
        await self._decider.approve(incident_id, by=by, why=why)

    async def reject(self, incident_id: str, *, by: str, why: str) -> None:
        """An operator's no: nothing runs; the incident is a human's from now on."""
        await self._decider.reject(incident_id, by=by, why=why)

    async def take_manual(self, incident_id: str, *, by: str, why: str) -> None:
        """An operator takes the incident over, from any open state: whatever automation was
        running stops before its next step, nothing new starts, trading is halted."""
        incident, live = self._book.need(incident_id)
        if incident.state is S.MANUAL_RECOVERY:
            msg = f"incident {incident_id} is already in manual recovery"
            raise RecoveryError(msg)
        if incident.closed:
            msg = f"incident {incident_id} is closed (HEALTHY); a new failure opens a new incident"
            raise RecoveryError(msg)
        if not by.strip():
            msg = f"incident {incident_id}: taking over needs the operator's name"
            raise RecoveryError(msg)
        self._book.halt(incident_id, live)
        reason = f"{by} took over manually: {why}"
        await self._book.move(incident, S.MANUAL_RECOVERY, reason, human=True)

    async def resolve(self, incident_id: str, *, by: str, why: str) -> None:
        """A human says the service is fixed: RECOVERED, trading resumes gradually from its
        first phase, HEALTHY after the watch period (a relapse reopens it, as for any run)."""
        await self._after.resolve(incident_id, by=by, why=why)

    # -- what screens read ---------------------------------------------------------------

    def incidents(self) -> list[Incident]:
        return list(self._book.incidents.values())

    def status(self) -> dict[str, Any]:
        """The seed's 3.4 body for the open incident (else the latest); HEALTHY without one."""
        book = self._book
        incident = book.current()
        if incident is None:
            return status_body(None, None, book.clock.wall())
        live = book.live[incident.id]
        res = live.resumption.current if live.resumption is not None else None
        body = status_body(incident, live.tracker, book.clock.wall(), res, live.validating)
        if self._standby is not None and self._standby.missing:
            body["status_message"] += "; running without a standby"
        return body

    def sizing(self, incident_id: str) -> dict[str, Any] | None:
        """The resumption of one incident (phase, size, held), or None when it has none."""
        live = self._book.live.get(incident_id)
        if live is None or live.resumption is None:
            return None
        state = live.resumption.current
        return {
            "phase": state.phase,
            "size_multiplier": state.size_multiplier,
            "should_trade": state.should_trade,
            "held": state.held,
        }

    def last_rto(self) -> float | None:
        """Seconds the last finished recovery took (for the recovery_rto_seconds gauge)."""
        return self._book.last_rto

    def failure_detected_wall(self) -> float | None:
        """When the open incident's failure was detected (Unix seconds); None without one."""
        incident = self._book.current()
        return None if incident is None or incident.closed else incident.opened_wall

    def rto_history(self) -> RtoHistory:
        """Every recovery this run finished (for the recovery-history histogram)."""
        return self._book.history

    def resumption(self) -> dict[str, Any]:
        """What a trading loop may do now: halted while an incident is open and unresolved."""
        incident = self._book.current()
        res = self._book.live[incident.id].resumption if incident is not None else None
        return resumption_body(incident, res.current if res is not None else None)

    # -- lifecycle -----------------------------------------------------------------------

    async def settle(self) -> None:
        """Wait for background runs, timers' records, validation windows and gates (tests)."""
        book = self._book
        while True:
            pending = [t for t in book.tasks if not t.done()]
            for live in book.live.values():
                if live.validator is not None:
                    await live.validator.settle()
                if live.resumption is not None:
                    await live.resumption.settle()
            if not pending:
                if not [t for t in book.tasks if not t.done()]:
                    return
                continue
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        """Stop timers and runs without recording anything: a stop is not a decision."""
        book = self._book
        book.closed = True
        if self._standby is not None:
            self._standby.stop()
        for iid, live in book.live.items():
            if live.gate is not None:
                live.gate.forget(iid)
            for stop in (live.rto, live.resumption):
                if stop is not None:
                    stop.stop()
            if live.validator is not None:
                live.validator.cancel()
            if live.watch is not None:
                live.watch.cancel()
        for task in list(book.tasks):
            task.cancel()
        await asyncio.gather(*book.tasks, return_exceptions=True)
        await book.close_session()
