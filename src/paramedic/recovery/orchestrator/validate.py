"""Stage three: validate a recovered service, resume trading in phases, and watch it.

Immediate checks gate RECOVERED; the short and medium windows run afterwards, and a critical
failure in them halts trading and hands the service to a human (never a second automatic
recovery of a service that was trading and may hold positions). HEALTHY needs all three: the
watch period over, the last resumption phase reached (not held), every window passed.
"""

from __future__ import annotations

from typing import Any, Protocol

import aiohttp

from paramedic.checks import CheckResult
from paramedic.config.recovery_plan import RecoveryPlan
from paramedic.config.recovery_policy import RecoveryPolicy
from paramedic.core.errors import RecoveryError
from paramedic.core.failure_events import FailureCleared, FailureDetected
from paramedic.core.incident_events import ResumptionPhaseEntered, ValidationChecked
from paramedic.core.text import duration
from paramedic.recovery.hooks import RecoveryHooks
from paramedic.recovery.orchestrator.ledger import (
    VALIDATION_SOURCE,
    Ledger,
    Live,
    TakenOver,
    page_id,
)
from paramedic.recovery.progress import ProgressTracker
from paramedic.recovery.resumption import GateResult, Phase, Resumption, ResumptionState
from paramedic.recovery.standby import StandbyWatch
from paramedic.recovery.states import Incident, IncidentState
from paramedic.recovery.validation import (
    Check,
    ValidationReport,
    Validator,
    build_check,
    run_checks,
)

__all__ = ["RESOLVE_UP_WITHIN_S", "Aftercare", "Fallback"]

S = IncidentState
# How long a resolve by hand waits for a service whose process it had to start: under the
# CLI's 10 s call timeout; a slower service is resolved again once it is up.
RESOLVE_UP_WITHIN_S = 8.0


class Fallback(Protocol):
    """What validation needs of the run stage: a failed immediate validation is a failed
    method (fall back), a failed window keeps the evidence."""

    async def failed(self, incident: Incident, method: str, sentence: str) -> None: ...

    async def preserve(self, incident: Incident, method: str) -> None: ...

    def finished_tracker(self, incident: Incident, method: str) -> ProgressTracker: ...


class Aftercare:
    """From the last step to HEALTHY: validation, gradual resumption, the watch period."""

    def __init__(
        self,
        ledger: Ledger,
        plan: RecoveryPlan,
        policy: RecoveryPolicy,
        *,
        hooks: RecoveryHooks,
        fallback: Fallback,
        standby: StandbyWatch | None,
    ) -> None:
        self._book, self._plan, self._policy = ledger, plan, policy
        self._hooks = hooks
        self._pid = hooks.pid
        self._fallback, self._standby = fallback, standby

    def _checks(self, specs: list[Any], session: aiohttp.ClientSession) -> list[Check]:
        pid = self._pid
        return [build_check(s, session, process_running=lambda: pid() is not None) for s in specs]

    def validator(
        self, incident: Incident, method: str, session: aiohttp.ClientSession
    ) -> Validator:
        cfg = self._plan.validation

        async def window_failed(window: str, result: CheckResult) -> None:
            if not result.critical:
                await self._book.note(incident, f"{window} validation warning: {result.sentence}")
                return
            await self._validation_failed(incident, method, window, result)

        failed: set[str] = set()

        async def window_ran(report: ValidationReport) -> None:
            # A window's verdict is recorded at its first critical failure; its passes are
            # recorded once, when every window is over (`windows_passed`), not every 30 s.
            if not report.ok and report.window not in failed:
                failed.add(report.window)
                await self._checked(incident, report)

        return Validator(
            clock=self._book.clock,
            on_failure=window_failed,
            on_run=window_ran,
            immediate=self._checks(cfg.immediate, session),
            short=self._checks(cfg.short, session),
            medium=self._checks(cfg.medium, session),
            config=cfg,
        )

    async def validate(
        self, incident: Incident, method: str, sentence: str, *, enter: bool = True
    ) -> None:
        book = self._book
        live = book.live[incident.id]
        if enter:
            await book.move(incident, S.VALIDATING, sentence)
        tracker = live.tracker
        if tracker is None:  # resumed after a restart in VALIDATING: the steps are done
            tracker = self._fallback.finished_tracker(incident, method)
        await book.progress(incident, tracker.start_validation())
        validator = self.validator(incident, method, await book.get_session())
        began = book.clock.monotonic()
        report = await validator.run_immediate()
        await self._checked(incident, report)
        if incident.state is S.MANUAL_RECOVERY:
            raise TakenOver(incident.id)
        if not report.ok:
            await book.escalate(incident, "validation_failed", report.sentence)
            await self._fallback.failed(incident, method, report.sentence)
            return
        book.validations.append(book.clock.monotonic() - began)
        live.validator = validator
        await book.move(incident, S.RECOVERED, f"{method} recovery validated: {report.sentence}")
        if live.rto is not None:
            live.rto.stop()
        await book.progress(incident, tracker.complete())
        rto = book.last_rto = tracker.total_seconds()
        if validator.has_windows:
            # Not a success yet: a critical short/medium check may still fail (seed 4.3).
            live.validating = True
            await book.note(incident, "short/medium validation goes on; trading resumes gradually")
            validator.start_windows(lambda: self.windows_passed(incident, method, rto))
        else:
            await book.finish(incident, method, ok=True, duration_s=rto, reason=report.sentence)
        await self.start_resumption(incident)
        self.arm_watch(incident, self._policy.watch_period)
        if method == "hot" and self._standby is not None:
            await self._standby.check(f"after the hot recovery of incident {incident.id}")

    async def windows_passed(self, incident: Incident, method: str, rto: float) -> None:
        """Every validation window is over with no critical failure: now it is a success."""
        live = self._book.live[incident.id]
        if incident.state is not S.RECOVERED or not live.validating:
            return
        live.validating = False
        if live.validator is not None:
            for report in live.validator.last_reports():
                await self._checked(incident, report)
        why = "immediate, short and medium validation passed"
        await self._book.finish(incident, method, ok=True, duration_s=rto, reason=why)
        await self._maybe_healthy(incident)

    async def _checked(self, incident: Incident, report: ValidationReport) -> None:
        """A window's verdict as a typed event, every check with its outcome and duration."""
        book = self._book
        await book.record(
            ValidationChecked(
                at=book.clock.now(),
                service=book.service,
                incident=incident.id,
                window=report.window,
                ok=report.ok,
                sentence=report.sentence,
                checks=tuple(
                    (r.name, r.ok, r.critical, r.sentence, round(r.duration, 6))
                    for r in report.results
                ),
            )
        )

    async def _validation_failed(
        self, incident: Incident, method: str, window: str, result: CheckResult
    ) -> None:
        """A critical check failed after the recovery: trading stops (0x), the recovery is
        recorded as failed, and a human takes it (no automatic second recovery of a service
        that is up and may hold positions)."""
        book = self._book
        live = book.live[incident.id]
        if incident.state is not S.RECOVERED:
            return
        sentence = f"{window} validation failed: {result.sentence}"
        live.validating = False
        book.halt(incident.id, live)
        await book.escalate(incident, "validation_failed", sentence, checks=(result.name,))
        book.failures.append(book.clock.monotonic())
        elapsed = book.clock.monotonic() - incident.opened_mono
        await book.finish(incident, method, ok=False, duration_s=elapsed, reason=sentence)
        await book.move(incident, S.RECOVERY_FAILED, f"{sentence}; trading halted")
        await self._fallback.preserve(incident, method)
        await book.to_manual(
            incident, f"{sentence}; trading halted, a human must judge the service", trigger=None
        )
        # The page: failure.detected is what alerting pages on today (escalation.triggered
        # is on the record for routing by trigger). Its own id, so the crash's (resolved)
        # alert is not re-triggered; cleared when an operator resolves the incident.
        live.page = page_id(incident.id)
        await book.record(
            FailureDetected(
                at=book.clock.now(),
                service=book.service,
                incident=live.page,
                failure_kind="validation_failed",
                reason=f"{sentence}; trading halted after the {method} recovery of incident"
                f" {incident.id}, which needs a human",
                source=VALIDATION_SOURCE,
                evidence=(result.sentence,),
                needs_human=True,
            )
        )

    async def resolve(self, incident_id: str, *, by: str, why: str) -> None:
        """A human says the service is fixed: RECOVERED, trading resumes gradually from its
        first phase, HEALTHY after the watch period (a relapse reopens it, as for any run).
        Only a service that is up: its process, if paramedic owns one that is not running,
        is started first (the resolve is the human's go-ahead); one still not up refuses."""
        book = self._book
        incident, live = book.need(incident_id)
        if incident.state is not S.MANUAL_RECOVERY:
            msg = (
                f"incident {incident_id} is {incident.state.value}; only an incident in manual"
                " recovery is resolved by hand (take it to manual first)"
            )
            raise RecoveryError(msg)
        await self._up_for_resolve(incident, by)
        watch = duration(self._policy.watch_period)
        reason = f"resolved by {by}: {why}; trading resumes gradually, watched for {watch}"
        if live.page is not None:  # first: a crash after it leaves a manual incident to resolve
            page, live.page = live.page, None
            await book.record(
                FailureCleared(
                    at=book.clock.now(),
                    service=book.service,
                    incident=page,
                    downtime_s=book.clock.monotonic() - incident.opened_mono,
                    reason=f"incident {incident_id} resolved by {by}: {why}",
                )
            )
        await book.move(incident, S.RECOVERED, reason, human=True)
        elapsed = book.clock.monotonic() - incident.opened_mono
        book.last_rto = elapsed
        await book.finish(incident, "manual", ok=True, duration_s=elapsed, reason=reason)
        await self.start_resumption(incident)
        self.arm_watch(incident, self._policy.watch_period)

    async def _up_for_resolve(self, incident: Incident, by: str) -> None:
        """Raise (a 409 with the sentence) unless the service is up within a few seconds;
        start the process paramedic owns first if it is not running. A resolve that
        closed an incident of a dead service would resume trading on nothing, and nothing
        would page again: no new failure is ever detected for a verdict that never cleared."""
        hooks, service = self._hooks, self._book.service
        try:
            if await hooks.wait_healthy(0):
                return
        except RecoveryError:  # a run handed no runtime (a plan tested on its own)
            return
        started = ""
        if hooks.pid() is None:
            try:
                not_started = await hooks.restart_process()
            except RecoveryError as exc:
                not_started = str(exc)
            if not_started is None:
                started = f"its process was not running; started it (pid {hooks.pid()})"
                await self._book.note(incident, f"resolve by {by}: {started}")
        # Also a running one: a detector that just turned green is vouched for within ticks.
        if await hooks.wait_healthy(RESOLVE_UP_WITHIN_S):
            return
        msg = (
            f"{service} is not up after {duration(RESOLVE_UP_WITHIN_S)}"
            f" ({started or 'its detectors still report a failure'}):"
            " the incident stays in manual recovery; resolve it again once"
            f" `paramedic top` shows {service} up"
        )
        raise RecoveryError(msg)

    async def start_resumption(self, incident: Incident) -> None:
        book = self._book
        live = book.live[incident.id]
        configs = {p.name: p for p in self._plan.resumption.phases}
        session = await book.get_session()
        held: set[str] = set()
        shown: list[tuple[str, bool]] = []

        async def run_gate(phase: Phase) -> GateResult:
            results = await run_checks(self._checks(configs[phase.name].gate, session))
            for r in results:
                if not r.ok and not r.critical:
                    await book.note(incident, f"{phase.name} gate warning: {r.sentence}")
            failed = [r for r in results if r.blocking]
            if failed:
                return GateResult(False, "; ".join(r.sentence for r in failed))
            return GateResult(True, f"{len(results)} gate checks passed")

        async def on_phase(state: ResumptionState) -> None:
            await book.note(incident, f"resumption: {state.sentence}")
            if not shown or shown[-1] != (state.phase, state.held):  # changes, not retries
                shown.append((state.phase, state.held))
                await book.record(
                    ResumptionPhaseEntered(
                        at=book.clock.now(),
                        service=book.service,
                        incident=incident.id,
                        phase=state.phase,
                        multiplier=state.size_multiplier,
                        held=state.held,
                        sentence=state.sentence,
                    )
                )
            if state.held and state.phase not in held:  # one page per held phase, not per retry
                held.add(state.phase)
                await book.escalate(incident, "validation_failed", state.sentence)
            if resumption.done:
                await self._maybe_healthy(incident)

        resumption = live.resumption = Resumption(
            [Phase.from_config(p) for p in self._plan.resumption.phases],
            book.clock,
            run_gate,
            on_phase,
            retry_gate_every=self._plan.resumption.retry_gate_every,
        )
        await resumption.start()

    def arm_watch(self, incident: Incident, delay: float) -> None:
        live = self._book.live[incident.id]
        live.watched = False

        def fire() -> None:
            live.watch = None
            self._book.spawn(self._watched(incident))

        live.watch = self._book.clock.call_later(max(0.0, delay), fire)

    async def _watched(self, incident: Incident) -> None:
        if incident.state is not S.RECOVERED:
            return
        live = self._book.live[incident.id]
        live.watched = True
        waiting = _not_settled(live)
        if waiting:
            period = duration(self._policy.watch_period)
            await self._book.note(
                incident, f"watch period of {period} passed; not HEALTHY: {waiting}"
            )
            return
        await self._maybe_healthy(incident)

    async def _maybe_healthy(self, incident: Incident) -> None:
        """HEALTHY needs all three: the watch period over, the last resumption phase reached
        (not held), every validation window passed. Whichever comes last closes it."""
        live = self._book.live[incident.id]
        if incident.state is not S.RECOVERED or not live.watched or _not_settled(live):
            return
        period = duration(self._policy.watch_period)
        await self._book.move(
            incident, S.HEALTHY, f"watch period of {period} passed without a relapse"
        )

    async def relapsed(self, incident: Incident, event: FailureDetected) -> None:
        book = self._book
        live = book.live[incident.id]
        if live.watch is not None:
            live.watch.cancel()
            live.watch = None
        if live.resumption is not None:
            live.resumption.stop()
        book.failures.append(book.clock.monotonic())
        live.superseded = True  # the new incident owns the service's recovery from here
        why = (
            f"relapsed within the watch period: {event.failure_kind}: {event.reason}"
            f" (incident {event.incident})"
        )
        await book.move(incident, S.RECOVERY_FAILED, why)


def _not_settled(live: Live) -> str:
    """Why a RECOVERED incident may not close yet ("" when it may)."""
    res = live.resumption
    if res is not None and res.current.held:
        return f"resumption held at {res.current.phase}"
    if res is not None and not res.done:
        return f"resumption still in {res.current.phase}"
    if live.validating:
        return "short/medium validation still running"
    return ""
