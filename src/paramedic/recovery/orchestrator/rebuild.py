"""Stage four: after paramedic's own crash, read the timeline back and resume each incident.

`replay` says where each incident stands; this stage decides what to do about it from what
the records prove was durable before the crash: decide again, ask again with the time left,
resume at the step after the last finished one, validate again (immediate checks only read),
or hand the incident to a human when a step started without a recorded end (its effect is
unknown, and repeating it could do harm).
"""

from __future__ import annotations

from typing import Protocol, cast

import aiohttp

from paramedic.config.recovery_plan import RecoveryPlan
from paramedic.config.recovery_policy import Method, RecoveryPolicy
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureCleared, FailureDetected
from paramedic.recovery.orchestrator.ledger import VALIDATION_SOURCE, Ledger, Live, page_id
from paramedic.recovery.orchestrator.replay import Replayed, replay
from paramedic.recovery.orchestrator.run import method_config
from paramedic.recovery.standby import STANDBY_SOURCE, StandbyWatch
from paramedic.recovery.states import Incident, IncidentState
from paramedic.recovery.validation import Validator

__all__ = ["Rebuilder"]

S = IncidentState
_WAITS = ("wait_healthy", "wait_heartbeat")


class Decide(Protocol):
    """What rebuilding needs of the decide stage."""

    async def decide(self, incident: Incident) -> None: ...

    async def proceed(
        self, incident: Incident, method: Method, why: str, market_open: bool
    ) -> None: ...

    async def request_approval(
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
    ) -> None: ...


class Run(Protocol):
    """What rebuilding needs of the run stage."""

    async def run(self, incident: Incident, method: str, start: int) -> None: ...

    async def failed(self, incident: Incident, method: str, sentence: str) -> None: ...

    async def preserve(self, incident: Incident, method: str) -> None: ...

    async def fall_back(
        self, incident: Incident, method: str, sentence: str, *, known: bool
    ) -> None: ...


class Aftercare(Protocol):
    """What rebuilding needs of the validate-and-resume stage."""

    async def validate(
        self, incident: Incident, method: str, sentence: str, *, enter: bool = True
    ) -> None: ...

    def validator(
        self, incident: Incident, method: str, session: aiohttp.ClientSession
    ) -> Validator: ...

    async def windows_passed(self, incident: Incident, method: str, rto: float) -> None: ...

    async def start_resumption(self, incident: Incident) -> None: ...

    def arm_watch(self, incident: Incident, delay: float) -> None: ...


class Rebuilder:
    """Puts a restarted orchestrator back where the timeline says its incidents were."""

    def __init__(
        self,
        ledger: Ledger,
        plan: RecoveryPlan,
        policy: RecoveryPolicy,
        *,
        decider: Decide,
        runner: Run,
        aftercare: Aftercare,
        standby: StandbyWatch | None,
    ) -> None:
        self._book, self._plan, self._policy = ledger, plan, policy
        self._decider, self._runner, self._after = decider, runner, aftercare
        self._standby = standby

    async def rebuild(self, decoded: list[Event]) -> None:
        """Replay the timeline, then resume each open incident from what is proven durable."""
        book = self._book
        book.service_failures.extend(
            book.as_mono(e.at.wall)
            for e in decoded
            if isinstance(e, FailureDetected) and e.service == book.service
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
        pages: set[str] = set()  # validation pages still open (see validate.py)
        for e in decoded:
            if isinstance(e, FailureDetected) and e.source == VALIDATION_SOURCE:
                pages.add(e.incident)
            elif isinstance(e, FailureCleared):
                pages.discard(e.incident)
        reps = list(replay(decoded, book.service).values())
        for i, rep in enumerate(reps):
            if rep.incident.id in book.incidents:
                continue
            book.incidents[rep.incident.id] = rep.incident
            live = book.live[rep.incident.id] = Live(decision=rep.decision, facts=rep.facts)
            if page_id(rep.incident.id) in pages:
                live.page = page_id(rep.incident.id)
            book.failures.extend(book.as_mono(w) for w in rep.failures_wall)
            book.validations.extend(rep.validations_s)
            if not rep.incident.closed:
                live.superseded = rep.failed_after_recovered and i < len(reps) - 1
                await self._resume(rep)

    async def _resume(self, rep: Replayed) -> None:
        book, run, after = self._book, self._runner, self._after
        incident, state = rep.incident, rep.incident.state
        if state is S.FAILURE_DETECTED:
            if rep.decision is None:
                await self._decider.decide(incident)
            else:
                d = rep.decision
                await self._decider.proceed(incident, d.method, d.sentence, book.market_open())
        elif state is S.AWAITING_APPROVAL:
            await self._resume_approval(rep)
        elif state is S.RECOVERY_IN_PROGRESS:
            await self._resume_run(rep)
        elif state is S.VALIDATING:
            method = incident.method or "unknown"
            # Immediate checks only read, so running them again after a restart is safe.
            book.spawn(after.validate(incident, method, "", enter=False))
        elif state is S.RECOVERY_FAILED and rep.failed_after_recovered:
            if book.live[incident.id].superseded:
                return  # a relapse: the next incident owns the service's recovery
            # A critical validation check failed after the recovery: never a second automatic
            # recovery of a service that was trading (see validate.py).
            why = "paramedic restarted after a failed validation; a human must judge the service"
            await book.to_manual(incident, why, trigger=None)
        elif state is S.RECOVERY_FAILED:
            method = incident.method or "hot"
            why = f"paramedic restarted after the {method} recovery failed; resuming the fallback"
            await run.preserve(incident, method)
            book.spawn(run.fall_back(incident, method, why, known=True))
        elif state is S.RECOVERED:
            if not rep.success_recorded:
                by_hand = rep.recovered_from == S.MANUAL_RECOVERY.value
                method = "manual" if by_hand else incident.method or "unknown"
                rto = max(0.0, rep.entered_wall - incident.opened_wall)
                validator = after.validator(incident, method, await book.get_session())
                if validator.has_windows and not by_hand:
                    # Killed while the windows ran: they run again in full (the cautious end).
                    live = book.live[incident.id]
                    live.validator, live.validating = validator, True
                    validator.start_windows(lambda: after.windows_passed(incident, method, rto))
                else:  # killed between RECOVERED and its record: finish the record
                    why = "recorded after paramedic restarted"
                    await book.finish(incident, method, ok=True, duration_s=rto, reason=why)
            await after.start_resumption(incident)
            elapsed = book.clock.wall() - rep.entered_wall
            after.arm_watch(incident, self._policy.watch_period - elapsed)

    async def _resume_approval(self, rep: Replayed) -> None:
        book = self._book
        incident, req = rep.incident, rep.approval
        if req is None:
            if incident.method is None:
                return  # nothing to ask about: it waits for a human (manual, or resolve)
            # Killed between the move and the request's record: ask again, so the request
            # can be answered and times out like any other.
            asked = cast(Method, incident.method)
            why = f"paramedic restarted before the approval request for {asked} was recorded"
            await self._decider.request_approval(
                incident, asked, why, book.market_open(), move=False
            )
            return
        method: Method = req.method  # type: ignore[assignment]
        if rep.approval_outcome == "granted":
            reason = f"{method} was approved before paramedic restarted"
            await book.move(incident, S.RECOVERY_IN_PROGRESS, reason, method=method)
            book.spawn(self._runner.run(incident, method, 0))
        elif rep.approval_outcome == "rejected":
            await book.move(
                incident, S.MANUAL_RECOVERY, f"{method} was rejected before paramedic restarted"
            )
        else:
            # Wall time: the monotonic clock of the previous paramedic may not be comparable.
            now = book.clock.wall()
            left = req.timeout_s - (now - rep.approval_last_wall)
            await self._decider.request_approval(
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
        book, run = self._book, self._runner
        incident = rep.incident
        method = rep.run_method or incident.method or "unknown"
        config = method_config(self._plan, method)
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
                    await book.to_manual(incident, why)
                    return
                start = index - 1  # a wait changes nothing: waiting again is safe
            elif not mark.finished.ok:
                detail = mark.finished.detail
                why = f"{method} recovery failed at step {index}/{total} ({name}): {detail}"
                book.spawn(run.failed(incident, method, why))
                return
            else:
                start = index
        if start >= len(steps) and steps:
            why = f"{method} steps all finished before paramedic restarted"
            book.spawn(self._after.validate(incident, method, why))
            return
        book.spawn(run.run(incident, method, start))
