"""One service's recovery, end to end: decide, ask, run, fall back, validate, resume.

The orchestrator owns no logic of its own that a building block already has: `decide` picks
the method, `ApprovalGate` waits for a human, `run_method` runs steps, `ProgressTracker` and
`RtoWatch` say how far and how late, `preserve_state` keeps the evidence, `Validator` and
`Resumption` decide when the service may trade again. What it adds is the order, and the rule
that every move is recorded (awaited, durable) before it takes effect, so that a paramedic
killed at any instant leaves a timeline from which `rebuild` can resume without guessing.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp
import structlog

from paramedic.checks import CheckResult
from paramedic.config.recovery_plan import MethodConfig, RecoveryPlan
from paramedic.config.recovery_policy import Method, RecoveryPolicy
from paramedic.core.clock import Clock, Instant, TimerHandle
from paramedic.core.contracts import Record
from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event, NoteAdded
from paramedic.core.failure_events import FailureCleared, FailureDetected
from paramedic.core.incident_events import (
    EscalationTrigger,
    EscalationTriggered,
    RecoveryDecided,
    RecoveryFinished,
    RecoveryProgress,
    RecoveryStepFinished,
    RecoveryStepStarted,
)
from paramedic.core.text import duration
from paramedic.recovery.approval import ApprovalGate, needs_approval
from paramedic.recovery.calendar import calendar_from
from paramedic.recovery.decision import METHOD_ORDER, Decision, DecisionInput, decide
from paramedic.recovery.orchestrator_inputs import gather_inputs
from paramedic.recovery.orchestrator_replay import Replayed, decode, replay
from paramedic.recovery.orchestrator_views import resumption_body, status_body
from paramedic.recovery.preserve import preserve_state
from paramedic.recovery.progress import ProgressTracker, RtoWatch
from paramedic.recovery.resumption import GateResult, Phase, Resumption, ResumptionState
from paramedic.recovery.runner import Step, build_steps, run_method
from paramedic.recovery.standby import STANDBY_SOURCE, StandbyWatch
from paramedic.recovery.states import Incident, IncidentState, open_incident, plan_transition
from paramedic.recovery.steps import StepContext
from paramedic.recovery.validation import Check, Validator, build_check, run_checks
from paramedic.store.protocol import StoredEvent

__all__ = ["VALIDATION_SOURCE", "RecoveryHooks", "RecoveryOrchestrator"]

log = structlog.get_logger("paramedic.recovery")
S = IncidentState
VALIDATION_SOURCE = "validation"
"""The `source` of the failure that pages a failed critical validation check."""
_WAITS = ("wait_healthy", "wait_heartbeat")
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


def _page_id(incident: str) -> str:
    """The id of the page for a failed validation of `incident`: derived, so a rebuilt
    orchestrator finds it, and its own, so the crash's resolved alert is not re-triggered."""
    return f"{incident}_validation"


class _TakenOver(Exception):
    """An operator took the incident to manual: the automation that was running stops."""


@dataclass(slots=True)
class RecoveryHooks:
    """The runtime's hands on the service's process; steps reach it only through these."""

    restart_process: Callable[[], Awaitable[str | None]]
    stop_process: Callable[[], Awaitable[str | None]]
    wait_healthy: Callable[[float], Awaitable[bool]]
    wait_heartbeat: Callable[[float], Awaitable[bool]]
    pid: Callable[[], int | None]
    command_started: Callable[[str, int], None] | None = None
    log_files: Callable[[], list[Path]] = list
    """The service's own output files paramedic captured: kept in every snapshot."""


@dataclass(slots=True)
class _Live:
    """What an incident has in memory besides its state: timers and trackers, all droppable."""

    decision: Decision | None = None
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
        self._plan, self._policy = plan, policy
        self._clock, self._record_fn, self._hooks = clock, record, hooks
        self._session, self._own_session = session, False
        self._last_rto: float | None = None
        self._history, self._base = step_history, base_dir
        # Snapshots go beside the store unless the plan names a folder (defect: a fixed
        # /var/lib path that a non-root paramedic cannot even create).
        self._snapshot_dir = snapshot_dir if snapshot_dir is not None else base_dir / "snapshots"
        self._calendar = calendar_from(policy.market)
        self._incidents: dict[str, Incident] = {}
        self._live: dict[str, _Live] = {}
        self._failures: list[float] = []  # monotonic instants of failed method runs
        # Monotonic instants of every failure of the service (seed 6.1/6.2's "multiple
        # failures"): each failure.detected counts, recovered or not, folded in or not.
        self._service_failures: list[float] = []
        self._validations: list[float] = []  # seconds each passed immediate validation took
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._standby = (
            StandbyWatch(
                service,
                plan.standby,
                clock=clock,
                record=record,
                session=self._get_session,
                spawn=self._spawn,
            )
            if plan.standby is not None
            else None
        )
        self.log_lines: list[str] = []
        """The seed's 3.5 lines of every run, in order (also logged)."""

    # -- public surface ------------------------------------------------------------------

    async def on_failure(self, event: FailureDetected) -> None:
        """Open the incident and decide; a run goes on in the background (see `settle`)."""
        if event.service != self.service or event.incident in self._incidents:
            return  # another service's, or a replayed duplicate: one incident per failure
        if event.source in (STANDBY_SOURCE, VALIDATION_SOURCE):
            return  # our own pages ("running without a standby", a failed validation)
        self._service_failures.append(event.at.mono)
        for other in list(self._incidents.values()):
            if other.state is S.RECOVERED:
                await self._relapsed(other, event)
        busy = self._busy()
        if busy is not None:
            # One recovery per service at a time: a crash caused by (or during) the running
            # recovery is evidence for it, not a second recovery racing the first.
            text = f"failure {event.incident} ({event.failure_kind}: {event.reason}) folded in"
            await self._note(busy, f"{text}; it is {busy.state.value}")
            return
        opened = open_incident(event)
        await self._record(opened)
        incident = Incident.from_opened(opened)
        self._incidents[incident.id] = incident
        self._live[incident.id] = _Live()
        try:
            await self._decide(incident)
        except _TakenOver:
            log.info("decision dropped: an operator took over", incident=incident.id)

    async def take_manual(self, incident_id: str, *, by: str, why: str) -> None:
        """An operator takes the incident over, from any open state: whatever automation was
        running stops before its next step, nothing new starts, trading is halted."""
        incident, live = self._need(incident_id)
        if incident.state is S.MANUAL_RECOVERY:
            msg = f"incident {incident_id} is already in manual recovery"
            raise RecoveryError(msg)
        if incident.closed:
            msg = f"incident {incident_id} is closed (HEALTHY); a new failure opens a new incident"
            raise RecoveryError(msg)
        if not by.strip():
            msg = f"incident {incident_id}: taking over needs the operator's name"
            raise RecoveryError(msg)
        self._halt(incident_id, live)
        await self._move(incident, S.MANUAL_RECOVERY, f"{by} took over manually: {why}", human=True)

    async def resolve(self, incident_id: str, *, by: str, why: str) -> None:
        """A human says the service is fixed: RECOVERED, trading resumes gradually from its
        first phase, HEALTHY after the watch period (a relapse reopens it, as for any run)."""
        incident, live = self._need(incident_id)
        if incident.state is not S.MANUAL_RECOVERY:
            msg = (
                f"incident {incident_id} is {incident.state.value}; only an incident in manual"
                " recovery is resolved by hand (take it to manual first)"
            )
            raise RecoveryError(msg)
        watch = duration(self._policy.watch_period)
        reason = f"resolved by {by}: {why}; trading resumes gradually, watched for {watch}"
        if live.page is not None:  # first: a crash after it leaves a manual incident to resolve
            page, live.page = live.page, None
            await self._record(
                FailureCleared(
                    at=self._clock.now(),
                    service=self.service,
                    incident=page,
                    downtime_s=self._clock.monotonic() - incident.opened_mono,
                    reason=f"incident {incident_id} resolved by {by}: {why}",
                )
            )
        await self._move(incident, S.RECOVERED, reason, human=True)
        elapsed = self._clock.monotonic() - incident.opened_mono
        self._last_rto = elapsed
        await self._finish(incident, "manual", ok=True, duration_s=elapsed, reason=reason)
        await self._start_resumption(incident)
        self._arm_watch(incident, self._policy.watch_period)

    def _halt(self, incident_id: str, live: _Live) -> None:
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

    async def approve(self, incident_id: str, *, by: str, why: str) -> None:
        """An operator's yes: recorded with their name, then the method runs (or a human)."""
        incident, live = self._need(incident_id)
        gate = live.gate
        if gate is None or gate.pending(incident_id) is None:
            msg = f"incident {incident_id}: no approval request is pending"
            raise RecoveryError(msg)
        granted = gate.approve(incident_id, by=by, why=why)
        await self._record(granted)
        method = granted.method
        if method == "manual":
            await self._move(
                incident, S.MANUAL_RECOVERY, f"{by} took over manually: {why}", human=True
            )
            return
        reason = f"{method} approved by {by}: {why}"
        await self._move(incident, S.RECOVERY_IN_PROGRESS, reason, method=method, human=True)
        self._spawn(self._run(incident, method, 0))

    async def reject(self, incident_id: str, *, by: str, why: str) -> None:
        """An operator's no: nothing runs; the incident is a human's from now on."""
        incident, live = self._need(incident_id)
        if live.gate is None:
            msg = f"incident {incident_id}: no approval request is pending"
            raise RecoveryError(msg)
        rejected = live.gate.reject(incident_id, by=by, why=why)
        await self._record(rejected)
        reason = f"{by} rejected {rejected.method}: {why}; a human recovers the service"
        await self._move(incident, S.MANUAL_RECOVERY, reason, human=True)

    def incidents(self) -> list[Incident]:
        return list(self._incidents.values())

    def status(self) -> dict[str, Any]:
        """The seed's 3.4 body for the open incident (else the latest); HEALTHY without one."""
        incident = self._current()
        if incident is None:
            return status_body(None, None, self._clock.wall())
        live = self._live[incident.id]
        res = live.resumption.current if live.resumption is not None else None
        body = status_body(incident, live.tracker, self._clock.wall(), res, live.validating)
        if self._standby is not None and self._standby.missing:
            body["status_message"] += "; running without a standby"
        return body

    def sizing(self, incident_id: str) -> dict[str, Any] | None:
        """The resumption of one incident (phase, size, held), or None when it has none."""
        live = self._live.get(incident_id)
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
        return self._last_rto

    def resumption(self) -> dict[str, Any]:
        """What a trading loop may do now: halted while an incident is open and unresolved."""
        incident = self._current()
        res = self._live[incident.id].resumption if incident is not None else None
        return resumption_body(incident, res.current if res is not None else None)

    async def rebuild(self, events: list[StoredEvent]) -> None:
        """Replay the timeline, then resume each open incident from what is proven durable."""
        decoded = decode(events)
        self._service_failures.extend(
            self._as_mono(e.at.wall)
            for e in decoded
            if isinstance(e, FailureDetected) and e.service == self.service
        )
        if self._standby is not None:
            standby: dict[str, float] = {}
            for e in decoded:
                if isinstance(e, FailureDetected) and e.source == STANDBY_SOURCE:
                    standby[e.incident] = e.at.wall
                elif isinstance(e, FailureCleared):
                    standby.pop(e.incident, None)
            for failure, since in list(standby.items())[-1:]:
                self._standby.restore(failure, since)
        pages: set[str] = set()  # validation pages still open (see _validation_failed)
        for e in decoded:
            if isinstance(e, FailureDetected) and e.source == VALIDATION_SOURCE:
                pages.add(e.incident)
            elif isinstance(e, FailureCleared):
                pages.discard(e.incident)
        reps = list(replay(decoded, self.service).values())
        for i, rep in enumerate(reps):
            if rep.incident.id in self._incidents:
                continue
            self._incidents[rep.incident.id] = rep.incident
            live = self._live[rep.incident.id] = _Live(decision=rep.decision)
            if _page_id(rep.incident.id) in pages:
                live.page = _page_id(rep.incident.id)
            self._failures.extend(self._as_mono(w) for w in rep.failures_wall)
            self._validations.extend(rep.validations_s)
            if not rep.incident.closed:
                live.superseded = rep.failed_after_recovered and i < len(reps) - 1
                await self._resume(rep)

    async def settle(self) -> None:
        """Wait for background runs, timers' records, validation windows and gates (tests)."""
        while True:
            pending = [t for t in self._tasks if not t.done()]
            for live in self._live.values():
                if live.validator is not None:
                    await live.validator.settle()
                if live.resumption is not None:
                    await live.resumption.settle()
            if not pending:
                if not [t for t in self._tasks if not t.done()]:
                    return
                continue
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        """Stop timers and runs without recording anything: a stop is not a decision."""
        self._closed = True
        if self._standby is not None:
            self._standby.stop()
        for iid, live in self._live.items():
            if live.gate is not None:
                live.gate.forget(iid)
            for stop in (live.rto, live.resumption):
                if stop is not None:
                    stop.stop()
            if live.validator is not None:
                live.validator.cancel()
            if live.watch is not None:
                live.watch.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._own_session and self._session is not None:
            await self._session.close()

    # -- plumbing ------------------------------------------------------------------------

    def _need(self, incident_id: str) -> tuple[Incident, _Live]:
        incident = self._incidents.get(incident_id)
        if incident is None:
            msg = f"incident {incident_id}: unknown to the {self.service} recovery"
            raise RecoveryError(msg)
        return incident, self._live[incident_id]

    def _busy(self) -> Incident | None:
        for incident in self._incidents.values():
            if incident.state in _BUSY and not self._live[incident.id].superseded:
                return incident
        return None

    def _current(self) -> Incident | None:
        # A relapsed incident stays RECOVERY_FAILED, superseded by the one that owns the
        # recovery now: never the current one, or its halt would outlive the recovery.
        incidents = list(self._incidents.values())
        open_ones = [i for i in incidents if not i.closed and not self._live[i.id].superseded]
        found = open_ones or incidents
        return found[-1] if found else None

    async def _record(self, event: Event) -> None:
        await self._record_fn(event)

    def _emit(self, event: Event) -> None:
        """For timer callbacks (approval timeout, RTO): record in the background, in order."""
        self._spawn(self._record(event))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._closed:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except _TakenOver as exc:
            log.info("automation stopped: an operator took over", incident=str(exc))
        except Exception:  # the edge of a background run: log with context, keep supervising
            log.exception("recovery task failed", service=self.service)

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session, self._own_session = aiohttp.ClientSession(), True
        return self._session

    async def _move(
        self,
        incident: Incident,
        to: IncidentState,
        reason: str,
        *,
        method: str | None = None,
        human: bool = False,
    ) -> None:
        if incident.state is S.MANUAL_RECOVERY and not human:
            raise _TakenOver(incident.id)  # automation still running when a human took over
        event = plan_transition(incident, to, reason, self._clock.now(), method=method)
        await self._record(event)
        incident.apply(event)

    async def _escalate(
        self,
        incident: Incident,
        trigger: EscalationTrigger,
        reason: str,
        *,
        checks: tuple[str, ...] = (),
    ) -> None:
        self._live[incident.id].escalated.add(trigger)
        await self._record(
            EscalationTriggered(
                at=self._clock.now(),
                service=self.service,
                incident=incident.id,
                trigger=trigger,
                reason=reason,
                checks=checks,
            )
        )

    async def _finish(
        self, incident: Incident, method: str, *, ok: bool, duration_s: float, reason: str
    ) -> None:
        """The Recovery History row (seed 3.x): method, RTO and whether it worked."""
        await self._record(
            RecoveryFinished(
                at=self._clock.now(),
                service=self.service,
                incident=incident.id,
                method=method,
                ok=ok,
                duration_s=duration_s,
                reason=reason,
            )
        )

    async def _note(self, incident: Incident, text: str) -> None:
        await self._record(
            NoteAdded(
                at=self._clock.now(),
                service=self.service,
                author="paramedic",
                text=f"incident {incident.id}: {text}",
            )
        )

    async def _progress(self, incident: Incident, event: RecoveryProgress) -> None:
        await self._record(event)
        live = self._live[incident.id]
        tracker = live.tracker
        if tracker is None:
            return
        for line in tracker.log_lines[live.logged :]:
            self.log_lines.append(line)
            log.info(line, service=self.service, incident=incident.id)
        live.logged = len(tracker.log_lines)

    def _as_mono(self, wall: float) -> float:
        """A previous run's instant on this run's monotonic clock (wall time is the only
        clock two runs share; a reboot restarts the monotonic one)."""
        return self._clock.monotonic() - (self._clock.wall() - wall)

    def _recent(self, instants: list[float]) -> int:
        """How many of `instants` fall in the failures window; older ones are dropped."""
        since = self._clock.monotonic() - self._policy.decision.failures_window
        instants[:] = [t for t in instants if t >= since]
        return len(instants)

    def _recent_failures(self) -> int:
        """Failed recovery attempts in the window: a fallback stops at the limit."""
        return self._recent(self._failures)

    def _configured(self) -> frozenset[Method]:
        m = self._plan.methods
        found: list[Method] = [n for n in METHOD_ORDER[:3] if getattr(m, n) is not None]
        return frozenset(found)

    def _market_open(self) -> bool:
        return self._calendar.is_open(self._clock.wall())

    # -- decide and ask ------------------------------------------------------------------

    async def _decide(self, incident: Incident) -> None:
        got = await gather_inputs(
            self._plan, clock=self._clock, base_dir=self._base, session=self._get_session
        )
        market_open = self._market_open()
        recent = self._recent(self._service_failures)
        decision = decide(
            DecisionInput(
                failure_kind=incident.kind,
                backup_available=got.backup_available,
                backup_synced=got.backup_synced,
                backup_lag_s=got.backup_lag_s,
                checkpoint_age_s=got.checkpoint_age_s,
                data_corruption=got.data_corruption,
                recent_failures=recent,
                volatility_current=got.volatility_current,
                volatility_average=got.volatility_average,
                market_open=market_open,
                methods=self._configured(),
                service=self.service,
            ),
            self._policy.decision,
            self._policy.approval.require,
        )
        sentence = "; ".join([decision.sentence, *got.problems])
        decision = Decision(
            decision.method, decision.requires_approval, sentence, decision.fallback_chain
        )
        self._live[incident.id].decision = decision
        await self._record(
            RecoveryDecided(
                at=self._clock.now(),
                service=self.service,
                incident=incident.id,
                method=decision.method,
                requires_approval=decision.requires_approval,
                sentence=sentence,
                fallback_chain=decision.fallback_chain,
            )
        )
        incident.note_decision(sentence)
        if got.data_corruption:
            await self._escalate(incident, "data_corruption", got.corruption_detail)
        if recent >= self._policy.decision.failures_limit:
            window = duration(self._policy.decision.failures_window)
            why = f"{recent} failures of {self.service} within {window}"
            await self._escalate(incident, "repeated_failures", why)
        await self._proceed(incident, decision.method, sentence, market_open)

    async def _proceed(
        self, incident: Incident, method: Method, why: str, market_open: bool
    ) -> None:
        if needs_approval(method, market_open, self._policy.approval.require):
            await self._request_approval(incident, method, why, market_open)
            return
        await self._move(incident, S.RECOVERY_IN_PROGRESS, why, method=method)
        self._spawn(self._run(incident, method, 0))

    async def _request_approval(
        self,
        incident: Incident,
        method: Method,
        why: str,
        market_open: bool,
        *,
        first_timeout: float | None = None,
        waited: float = 0.0,
        timeouts: int = 0,
        record: bool = True,
        move: bool = True,
    ) -> None:
        gate = ApprovalGate(self._clock, timeout_s=self._policy.approval.timeout, emit=self._emit)
        self._live[incident.id].gate = gate
        request = gate.request(
            incident.id,
            service=self.service,
            method=method,
            sentence=why,
            market_open=market_open,
            first_timeout=first_timeout,
            waited=waited,
            timeouts=timeouts,
        )
        if move:
            await self._move(
                incident, S.AWAITING_APPROVAL, f"approval needed for {method}: {why}", method=method
            )
        if record:  # after the move: whoever reads the views on the request sees it waiting
            await self._record(request)

    # -- run, fall back ------------------------------------------------------------------

    def _method_config(self, method: str) -> MethodConfig | None:
        found: MethodConfig | None = getattr(self._plan.methods, method, None)
        return found

    def _validation_estimate(self) -> float | None:
        """How long the immediate validation should take: 0 without checks, the median of
        the last passed validations, else unknown (the tracker then guesses a step's time)."""
        if not self._plan.validation.immediate:
            return 0.0
        recent = self._validations[-20:]
        return statistics.median(recent) if recent else None

    def _new_tracker(self, incident: Incident, steps: list[Step]) -> ProgressTracker:
        live = self._live[incident.id]
        names = [s.name for s in steps]
        live.tracker = ProgressTracker(
            self._clock,
            incident=incident.id,
            service=self.service,
            steps=names,
            expected={s.name: s.expected for s in steps if s.expected is not None},
            history={n: self._history(n) for n in names},
            detected_at=Instant(incident.opened_mono, incident.opened_wall),
            validation=self._validation_estimate(),
        )
        live.logged = 0
        return live.tracker

    async def _run(self, incident: Incident, method: str, start: int) -> None:
        live = self._live[incident.id]
        config = self._method_config(method)
        try:
            if config is None:
                msg = f"{method} recovery is not configured for {self.service}"
                raise RecoveryError(msg)
            steps = build_steps(config)
        except RecoveryError as exc:
            await self._failed(incident, method, f"{method} recovery cannot start: {exc}")
            return
        tracker = self._new_tracker(incident, steps)
        await self._progress(incident, tracker.start())
        for done in steps[:start]:
            tracker.complete_step(done.name)
        if live.rto is None:
            live.rto = RtoWatch(
                self._clock,
                incident=incident.id,
                service=self.service,
                target_rto_s=self._policy.target_rto,
                emit=self._emit,
            )
            live.rto.start(started_mono=incident.opened_mono)
        names = [s.name for s in steps]
        hooks = self._hooks
        ctx = StepContext(
            service=self.service,
            session=await self._get_session(),
            env={"PARAMEDIC_SERVICE": self.service, "PARAMEDIC_INCIDENT": incident.id},
            incident_id=incident.id,
            method=method,
            restart_hook=hooks.restart_process,
            stop_hook=hooks.stop_process,
            wait_healthy_hook=hooks.wait_healthy,
            wait_heartbeat_hook=hooks.wait_heartbeat,
            command_hook=hooks.command_started,
        )

        async def started(name: str) -> None:
            if incident.state is S.MANUAL_RECOVERY:
                await self._note(incident, f"step {name!r} not started: an operator took over")
                raise _TakenOver(incident.id)
            await self._record(
                RecoveryStepStarted(
                    at=self._clock.now(),
                    service=self.service,
                    incident=incident.id,
                    step=name,
                    index=names.index(name) + 1,
                    total=len(names),
                )
            )

        async def finished(name: str, outcome: CheckResult) -> None:
            await self._record(
                RecoveryStepFinished(
                    at=self._clock.now(),
                    service=self.service,
                    incident=incident.id,
                    step=name,
                    ok=outcome.ok,
                    duration_s=outcome.duration,
                    detail=outcome.sentence,
                )
            )
            if outcome.ok:
                await self._progress(incident, tracker.complete_step(name))

        result = await run_method(
            method, steps[start:], ctx, on_step_started=started, on_step_finished=finished
        )
        if incident.state is S.MANUAL_RECOVERY:
            await self._note(incident, f"{method} run ended after the takeover: {result.sentence}")
            return
        if not result.ok:
            await self._failed(incident, method, result.sentence, known=result.outcome_known)
            return
        await self._validate(incident, method, result.sentence)

    async def _failed(
        self, incident: Incident, method: str, sentence: str, *, known: bool = True
    ) -> None:
        """A method failed: record it, keep the evidence, then take the next method."""
        live = self._live[incident.id]
        self._failures.append(self._clock.monotonic())
        if live.tracker is not None:
            await self._progress(incident, live.tracker.fail(sentence))
        elapsed = self._clock.monotonic() - incident.opened_mono
        await self._finish(incident, method, ok=False, duration_s=elapsed, reason=sentence)
        if incident.state is not S.RECOVERY_FAILED:
            await self._move(incident, S.RECOVERY_FAILED, sentence)
        await self._preserve(incident, method)
        await self._fall_back(incident, method, sentence, known=known)

    async def _preserve(self, incident: Incident, method: str) -> None:
        cfg = self._plan.preserve
        if not cfg.enabled:
            return
        base = self._base
        folder = cfg.snapshot_dir
        # model_copy: the values are already validated (a Duration float would be refused).
        resolved = cfg.model_copy(
            update={
                "paths": [p if p.is_absolute() else base / p for p in cfg.paths],
                "snapshot_dir": None
                if folder is None
                else (folder if folder.is_absolute() else base / folder),
            }
        )
        try:
            snapshot = await preserve_state(
                resolved,
                service=self.service,
                method=method,
                incident_id=incident.id,
                wall=self._clock.wall(),
                pid=self._hooks.pid(),
                logs=self._hooks.log_files(),
                snapshot_dir=self._snapshot_dir,
            )
        except OSError as exc:
            await self._note(incident, f"failed state NOT preserved: {exc}")
            return
        self._live[incident.id].snapshots.append(snapshot.folder)
        await self._note(incident, snapshot.sentence)

    async def _fall_back(
        self, incident: Incident, method: str, sentence: str, *, known: bool
    ) -> None:
        live = self._live[incident.id]
        if not known:
            why = f"{sentence}; no fallback: repeating over an unknown effect could do harm"
            await self._to_manual(incident, why)
            return
        recent = self._recent_failures()
        limit = self._policy.decision.failures_limit
        if recent >= limit:
            if "repeated_failures" not in live.escalated:
                window = duration(self._policy.decision.failures_window)
                await self._escalate(
                    incident, "repeated_failures", f"{recent} failed recoveries within {window}"
                )
            await self._to_manual(
                incident, f"{sentence}; {recent} failures in the window, a human must act"
            )
            return
        chain = live.decision.fallback_chain if live.decision else ()
        later = [m for m in chain if METHOD_ORDER.index(m) > METHOD_ORDER.index(method)]
        nxt: Method = later[0] if later else "manual"
        if nxt == "manual":
            await self._to_manual(incident, f"{sentence}; no automatic method left")
            return
        why = f"falling back from {method} to {nxt}: {sentence}"
        market_open = self._market_open()
        if needs_approval(nxt, market_open, self._policy.approval.require):
            await self._request_approval(incident, nxt, why, market_open)
            return
        await self._move(incident, S.RECOVERY_IN_PROGRESS, why, method=nxt)
        await self._run(incident, nxt, 0)

    async def _to_manual(
        self, incident: Incident, why: str, *, trigger: EscalationTrigger | None = "recovery_failed"
    ) -> None:
        live = self._live[incident.id]
        if live.rto is not None:
            live.rto.stop()
        await self._move(incident, S.MANUAL_RECOVERY, why)
        if trigger is not None:
            await self._escalate(incident, trigger, why)

    # -- validate, recover, resume -------------------------------------------------------

    def _checks(self, specs: list[Any], session: aiohttp.ClientSession) -> list[Check]:
        pid = self._hooks.pid
        return [build_check(s, session, process_running=lambda: pid() is not None) for s in specs]

    def _validator(
        self, incident: Incident, method: str, session: aiohttp.ClientSession
    ) -> Validator:
        cfg = self._plan.validation

        async def window_failed(window: str, result: CheckResult) -> None:
            if not result.critical:
                await self._note(incident, f"{window} validation warning: {result.sentence}")
                return
            await self._validation_failed(incident, method, window, result)

        return Validator(
            clock=self._clock,
            on_failure=window_failed,
            immediate=self._checks(cfg.immediate, session),
            short=self._checks(cfg.short, session),
            medium=self._checks(cfg.medium, session),
            config=cfg,
        )

    async def _validate(
        self, incident: Incident, method: str, sentence: str, *, enter: bool = True
    ) -> None:
        live = self._live[incident.id]
        if enter:
            await self._move(incident, S.VALIDATING, sentence)
        tracker = live.tracker
        if tracker is None:  # resumed after a restart in VALIDATING: the steps are done
            config = self._method_config(method)
            tracker = self._new_tracker(incident, build_steps(config) if config else [])
            tracker.start()
            for name in tracker.remaining_steps:
                tracker.complete_step(name)
        await self._progress(incident, tracker.start_validation())
        validator = self._validator(incident, method, await self._get_session())
        began = self._clock.monotonic()
        report = await validator.run_immediate()
        if incident.state is S.MANUAL_RECOVERY:
            raise _TakenOver(incident.id)
        if not report.ok:
            await self._escalate(incident, "validation_failed", report.sentence)
            await self._failed(incident, method, report.sentence)
            return
        self._validations.append(self._clock.monotonic() - began)
        live.validator = validator
        await self._move(incident, S.RECOVERED, f"{method} recovery validated: {report.sentence}")
        if live.rto is not None:
            live.rto.stop()
        await self._progress(incident, tracker.complete())
        rto = self._last_rto = tracker.total_seconds()
        if validator.has_windows:
            # Not a success yet: a critical short/medium check may still fail (seed 4.3).
            live.validating = True
            await self._note(incident, "short/medium validation goes on; trading resumes gradually")
            validator.start_windows(lambda: self._windows_passed(incident, method, rto))
        else:
            await self._finish(incident, method, ok=True, duration_s=rto, reason=report.sentence)
        await self._start_resumption(incident)
        self._arm_watch(incident, self._policy.watch_period)
        if method == "hot" and self._standby is not None:
            await self._standby.check(f"after the hot recovery of incident {incident.id}")

    async def _windows_passed(self, incident: Incident, method: str, rto: float) -> None:
        """Every validation window is over with no critical failure: now it is a success."""
        live = self._live[incident.id]
        if incident.state is not S.RECOVERED or not live.validating:
            return
        live.validating = False
        why = "immediate, short and medium validation passed"
        await self._finish(incident, method, ok=True, duration_s=rto, reason=why)
        await self._maybe_healthy(incident)

    async def _validation_failed(
        self, incident: Incident, method: str, window: str, result: CheckResult
    ) -> None:
        """A critical check failed after the recovery: trading stops (0x), the recovery is
        recorded as failed, and a human takes it (no automatic second recovery of a service
        that is up and may hold positions)."""
        live = self._live[incident.id]
        if incident.state is not S.RECOVERED:
            return
        sentence = f"{window} validation failed: {result.sentence}"
        live.validating = False
        self._halt(incident.id, live)
        await self._escalate(incident, "validation_failed", sentence, checks=(result.name,))
        self._failures.append(self._clock.monotonic())
        elapsed = self._clock.monotonic() - incident.opened_mono
        await self._finish(incident, method, ok=False, duration_s=elapsed, reason=sentence)
        await self._move(incident, S.RECOVERY_FAILED, f"{sentence}; trading halted")
        await self._preserve(incident, method)
        await self._to_manual(
            incident, f"{sentence}; trading halted, a human must judge the service", trigger=None
        )
        # The page: failure.detected is what alerting pages on today (escalation.triggered
        # is on the record for routing by trigger). Its own id, so the crash's (resolved)
        # alert is not re-triggered; cleared when an operator resolves the incident.
        live.page = _page_id(incident.id)
        await self._record(
            FailureDetected(
                at=self._clock.now(),
                service=self.service,
                incident=live.page,
                failure_kind="validation_failed",
                reason=f"{sentence}; trading halted after the {method} recovery of incident"
                f" {incident.id}, which needs a human",
                source=VALIDATION_SOURCE,
                evidence=(result.sentence,),
                needs_human=True,
            )
        )

    async def _start_resumption(self, incident: Incident) -> None:
        live = self._live[incident.id]
        configs = {p.name: p for p in self._plan.resumption.phases}
        session = await self._get_session()
        held: set[str] = set()

        async def run_gate(phase: Phase) -> GateResult:
            results = await run_checks(self._checks(configs[phase.name].gate, session))
            for r in results:
                if not r.ok and not r.critical:
                    await self._note(incident, f"{phase.name} gate warning: {r.sentence}")
            failed = [r for r in results if r.blocking]
            if failed:
                return GateResult(False, "; ".join(r.sentence for r in failed))
            return GateResult(True, f"{len(results)} gate checks passed")

        async def on_phase(state: ResumptionState) -> None:
            await self._note(incident, f"resumption: {state.sentence}")
            if state.held and state.phase not in held:  # one page per held phase, not per retry
                held.add(state.phase)
                await self._escalate(incident, "validation_failed", state.sentence)
            if resumption.done:
                await self._maybe_healthy(incident)

        resumption = live.resumption = Resumption(
            [Phase.from_config(p) for p in self._plan.resumption.phases],
            self._clock,
            run_gate,
            on_phase,
            retry_gate_every=self._plan.resumption.retry_gate_every,
        )
        await resumption.start()

    def _arm_watch(self, incident: Incident, delay: float) -> None:
        live = self._live[incident.id]
        live.watched = False

        def fire() -> None:
            live.watch = None
            self._spawn(self._watched(incident))

        live.watch = self._clock.call_later(max(0.0, delay), fire)

    async def _watched(self, incident: Incident) -> None:
        if incident.state is not S.RECOVERED:
            return
        live = self._live[incident.id]
        live.watched = True
        waiting = self._not_settled(live)
        if waiting:
            period = duration(self._policy.watch_period)
            await self._note(incident, f"watch period of {period} passed; not HEALTHY: {waiting}")
            return
        await self._maybe_healthy(incident)

    def _not_settled(self, live: _Live) -> str:
        """Why a RECOVERED incident may not close yet ("" when it may)."""
        res = live.resumption
        if res is not None and res.current.held:
            return f"resumption held at {res.current.phase}"
        if res is not None and not res.done:
            return f"resumption still in {res.current.phase}"
        if live.validating:
            return "short/medium validation still running"
        return ""

    async def _maybe_healthy(self, incident: Incident) -> None:
        """HEALTHY needs all three: the watch period over, the last resumption phase reached
        (not held), every validation window passed. Whichever comes last closes it."""
        live = self._live[incident.id]
        if incident.state is not S.RECOVERED or not live.watched or self._not_settled(live):
            return
        period = duration(self._policy.watch_period)
        await self._move(incident, S.HEALTHY, f"watch period of {period} passed without a relapse")

    async def _relapsed(self, incident: Incident, event: FailureDetected) -> None:
        live = self._live[incident.id]
        if live.watch is not None:
            live.watch.cancel()
            live.watch = None
        if live.resumption is not None:
            live.resumption.stop()
        self._failures.append(self._clock.monotonic())
        live.superseded = True  # the new incident owns the service's recovery from here
        why = (
            f"relapsed within the watch period: {event.failure_kind}: {event.reason}"
            f" (incident {event.incident})"
        )
        await self._move(incident, S.RECOVERY_FAILED, why)

    # -- crash safety --------------------------------------------------------------------

    async def _resume(self, rep: Replayed) -> None:
        incident, state = rep.incident, rep.incident.state
        if state is S.FAILURE_DETECTED:
            if rep.decision is None:
                await self._decide(incident)
            else:
                d = rep.decision
                await self._proceed(incident, d.method, d.sentence, self._market_open())
        elif state is S.AWAITING_APPROVAL:
            await self._resume_approval(rep)
        elif state is S.RECOVERY_IN_PROGRESS:
            await self._resume_run(rep)
        elif state is S.VALIDATING:
            method = incident.method or "unknown"
            self._spawn(self._revalidate(incident, method))
        elif state is S.RECOVERY_FAILED and rep.failed_after_recovered:
            if self._live[incident.id].superseded:
                return  # a relapse: the next incident owns the service's recovery
            # A critical validation check failed after the recovery: never a second automatic
            # recovery of a service that was trading (see _validation_failed).
            why = "paramedic restarted after a failed validation; a human must judge the service"
            await self._to_manual(incident, why, trigger=None)
        elif state is S.RECOVERY_FAILED:
            method = incident.method or "hot"
            why = f"paramedic restarted after the {method} recovery failed; resuming the fallback"
            await self._preserve(incident, method)
            self._spawn(self._fall_back(incident, method, why, known=True))
        elif state is S.RECOVERED:
            if not rep.success_recorded:
                by_hand = rep.recovered_from == S.MANUAL_RECOVERY.value
                method = "manual" if by_hand else incident.method or "unknown"
                rto = max(0.0, rep.entered_wall - incident.opened_wall)
                validator = self._validator(incident, method, await self._get_session())
                if validator.has_windows and not by_hand:
                    # Killed while the windows ran: they run again in full (the cautious end).
                    live = self._live[incident.id]
                    live.validator, live.validating = validator, True
                    validator.start_windows(lambda: self._windows_passed(incident, method, rto))
                else:  # killed between RECOVERED and its record: finish the record
                    why = "recorded after paramedic restarted"
                    await self._finish(incident, method, ok=True, duration_s=rto, reason=why)
            await self._start_resumption(incident)
            elapsed = self._clock.wall() - rep.entered_wall
            self._arm_watch(incident, self._policy.watch_period - elapsed)

    async def _revalidate(self, incident: Incident, method: str) -> None:
        # Immediate checks only read, so running them again after a restart is safe.
        await self._validate(incident, method, "", enter=False)

    async def _resume_approval(self, rep: Replayed) -> None:
        incident, req = rep.incident, rep.approval
        if req is None:
            if incident.method is None:
                return  # nothing to ask about: it waits for a human (manual, or resolve)
            # Killed between the move and the request's record: ask again, so the request
            # can be answered and times out like any other.
            asked = cast(Method, incident.method)
            why = f"paramedic restarted before the approval request for {asked} was recorded"
            await self._request_approval(incident, asked, why, self._market_open(), move=False)
            return
        method: Method = req.method  # type: ignore[assignment]
        if rep.approval_outcome == "granted":
            reason = f"{method} was approved before paramedic restarted"
            await self._move(incident, S.RECOVERY_IN_PROGRESS, reason, method=method)
            self._spawn(self._run(incident, method, 0))
        elif rep.approval_outcome == "rejected":
            await self._move(
                incident, S.MANUAL_RECOVERY, f"{method} was rejected before paramedic restarted"
            )
        else:
            # Wall time: the monotonic clock of the previous paramedic may not be comparable.
            now = self._clock.wall()
            left = req.timeout_s - (now - rep.approval_last_wall)
            await self._request_approval(
                incident,
                method,
                req.sentence,
                req.market_open,
                first_timeout=max(left, 1e-3),
                waited=max(0.0, now - req.at.wall),
                timeouts=rep.approval_timeouts,
                record=False,
                move=False,
            )

    async def _resume_run(self, rep: Replayed) -> None:
        incident = rep.incident
        method = rep.run_method or incident.method or "unknown"
        config = self._method_config(method)
        steps = config.steps if config is not None else []
        mark = rep.last_step
        start = 0
        if mark is not None:
            index, total, name = mark.started.index, mark.started.total, mark.started.step
            if mark.finished is None:
                kind = steps[index - 1].action_kind if index <= len(steps) else "unknown"
                if kind not in _WAITS:
                    why = (
                        f'paramedic restarted during step {index}/{total} "{name}" of the'
                        f" {method} method; whether it completed is unknown"
                    )
                    await self._to_manual(incident, why)
                    return
                start = index - 1  # a wait changes nothing: waiting again is safe
            elif not mark.finished.ok:
                detail = mark.finished.detail
                why = f"{method} recovery failed at step {index}/{total} ({name}): {detail}"
                self._spawn(self._failed(incident, method, why))
                return
            else:
                start = index
        if start >= len(steps) and steps:
            self._spawn(
                self._validate(
                    incident, method, f"{method} steps all finished before paramedic restarted"
                )
            )
            return
        self._spawn(self._run(incident, method, start))
