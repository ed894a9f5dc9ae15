"""Stage two: run the chosen method's steps, and fall back along the chain when one fails.

Each step's start and end are recorded (awaited, durable) before the next step starts, with
the progress and ETA the screens show; a failed method keeps its evidence (`preserve_state`)
and hands over to the next method of the decision's fallback chain, asking for approval
again when the policy says so, or to a human when none is left, the failures window is
full, or the failed step's effect is unknown.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import aiohttp

from paramedic.checks import CheckResult
from paramedic.config.recovery_plan import MethodConfig, RecoveryPlan
from paramedic.config.recovery_policy import Method, RecoveryPolicy
from paramedic.core.clock import Instant
from paramedic.core.errors import RecoveryError
from paramedic.core.incident_events import RecoveryStepFinished, RecoveryStepStarted
from paramedic.core.text import duration
from paramedic.recovery.approval import needs_approval
from paramedic.recovery.decision import METHOD_ORDER
from paramedic.recovery.facts import facts_env, step_facts
from paramedic.recovery.hooks import RecoveryHooks, StepContext
from paramedic.recovery.orchestrator.ledger import Ledger, TakenOver
from paramedic.recovery.preserve import preserve_state
from paramedic.recovery.progress import ProgressTracker, RtoWatch
from paramedic.recovery.runner import Step, build_steps, run_method
from paramedic.recovery.states import Incident, IncidentState

__all__ = ["AskApproval", "Runner", "Validate", "method_config"]

S = IncidentState
Validate = Callable[[Incident, str, str], Awaitable[None]]
"""Validates a method whose steps all passed (the next stage)."""


class AskApproval(Protocol):
    """Asks an operator before a fallback method runs (the decide stage)."""

    async def __call__(
        self, incident: Incident, method: Method, why: str, market_open: bool
    ) -> None: ...


def method_config(plan: RecoveryPlan, method: str) -> MethodConfig | None:
    found: MethodConfig | None = getattr(plan.methods, method, None)
    return found


class Runner:
    """Runs one method at a time for an incident; on failure, the next one of its chain."""

    def __init__(
        self,
        ledger: Ledger,
        plan: RecoveryPlan,
        policy: RecoveryPolicy,
        *,
        hooks: RecoveryHooks,
        step_history: Callable[[str], list[float]],
        base_dir: Path,
        snapshot_dir: Path,
        validate: Validate,
        ask: AskApproval,
    ) -> None:
        self._book, self._plan, self._policy = ledger, plan, policy
        self._hooks, self._history = hooks, step_history
        self._base, self._snapshot_dir = base_dir, snapshot_dir
        self._validate, self._ask = validate, ask

    def _validation_estimate(self) -> float | None:
        """How long the immediate validation should take: 0 without checks, the median of
        the last passed validations, else unknown (the tracker then guesses a step's time)."""
        if not self._plan.validation.immediate:
            return 0.0
        recent = self._book.validations[-20:]
        return statistics.median(recent) if recent else None

    def new_tracker(self, incident: Incident, steps: list[Step]) -> ProgressTracker:
        live = self._book.live[incident.id]
        names = [s.name for s in steps]
        live.tracker = ProgressTracker(
            self._book.clock,
            incident=incident.id,
            service=self._book.service,
            steps=names,
            expected={s.name: s.expected for s in steps if s.expected is not None},
            history={n: self._history(n) for n in names},
            detected_at=Instant(incident.opened_mono, incident.opened_wall),
            validation=self._validation_estimate(),
        )
        live.logged = 0
        return live.tracker

    def finished_tracker(self, incident: Incident, method: str) -> ProgressTracker:
        """A tracker with every step done: for a validation resumed after a restart."""
        config = method_config(self._plan, method)
        tracker = self.new_tracker(incident, build_steps(config) if config else [])
        tracker.start()
        for name in tracker.remaining_steps:
            tracker.complete_step(name)
        return tracker

    def _context(
        self, incident: Incident, method: str, session: aiohttp.ClientSession
    ) -> StepContext:
        service = self._book.service
        facts = step_facts(
            self._book.live[incident.id].facts,
            service=service,
            incident=incident.id,
            method=method,
            failure_kind=incident.kind,
            incident_sentence=incident.reason,
        )
        return StepContext(
            service=service,
            session=session,
            env=facts_env(facts),
            incident_id=incident.id,
            method=method,
            hooks=self._hooks,
            facts=facts,
        )

    async def run(self, incident: Incident, method: str, start: int) -> None:
        book = self._book
        live = book.live[incident.id]
        config = method_config(self._plan, method)
        try:
            if config is None:
                msg = f"{method} recovery is not configured for {book.service}"
                raise RecoveryError(msg)
            steps = build_steps(config)
        except RecoveryError as exc:
            await self.failed(incident, method, f"{method} recovery cannot start: {exc}")
            return
        tracker = self.new_tracker(incident, steps)
        await book.progress(incident, tracker.start())
        for done in steps[:start]:
            tracker.complete_step(done.name)
        if live.rto is None:
            live.rto = RtoWatch(
                book.clock,
                incident=incident.id,
                service=book.service,
                target_rto_s=self._policy.target_rto,
                emit=book.emit,
            )
            live.rto.start(started_mono=incident.opened_mono)
        names = [s.name for s in steps]
        ctx = self._context(incident, method, await book.get_session())

        async def started(name: str) -> None:
            if incident.state is S.MANUAL_RECOVERY:
                await book.note(incident, f"step {name!r} not started: an operator took over")
                raise TakenOver(incident.id)
            await book.record(
                RecoveryStepStarted(
                    at=book.clock.now(),
                    service=book.service,
                    incident=incident.id,
                    step=name,
                    index=names.index(name) + 1,
                    total=len(names),
                )
            )

        async def finished(name: str, outcome: CheckResult) -> None:
            await book.record(
                RecoveryStepFinished(
                    at=book.clock.now(),
                    service=book.service,
                    incident=incident.id,
                    step=name,
                    ok=outcome.ok,
                    duration_s=outcome.duration,
                    detail=outcome.sentence,
                )
            )
            if outcome.ok:
                await book.progress(incident, tracker.complete_step(name))

        result = await run_method(
            method, steps[start:], ctx, on_step_started=started, on_step_finished=finished
        )
        if incident.state is S.MANUAL_RECOVERY:
            await book.note(incident, f"{method} run ended after the takeover: {result.sentence}")
            return
        if not result.ok:
            await self.failed(incident, method, result.sentence, known=result.outcome_known)
            return
        await self._validate(incident, method, result.sentence)

    async def failed(
        self, incident: Incident, method: str, sentence: str, *, known: bool = True
    ) -> None:
        """A method failed: record it, keep the evidence, then take the next method."""
        book = self._book
        live = book.live[incident.id]
        book.failures.append(book.clock.monotonic())
        if live.tracker is not None:
            await book.progress(incident, live.tracker.fail(sentence))
        elapsed = book.clock.monotonic() - incident.opened_mono
        await book.finish(incident, method, ok=False, duration_s=elapsed, reason=sentence)
        if incident.state is not S.RECOVERY_FAILED:
            await book.move(incident, S.RECOVERY_FAILED, sentence)
        await self.preserve(incident, method)
        await self.fall_back(incident, method, sentence, known=known)

    async def preserve(self, incident: Incident, method: str) -> None:
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
                service=self._book.service,
                method=method,
                incident_id=incident.id,
                wall=self._book.clock.wall(),
                pid=self._hooks.pid(),
                logs=self._hooks.log_files(),
                snapshot_dir=self._snapshot_dir,
            )
        except OSError as exc:
            await self._book.note(incident, f"failed state NOT preserved: {exc}")
            return
        self._book.live[incident.id].snapshots.append(snapshot.folder)
        await self._book.note(incident, snapshot.sentence)

    async def fall_back(
        self, incident: Incident, method: str, sentence: str, *, known: bool
    ) -> None:
        book = self._book
        live = book.live[incident.id]
        if not known:
            why = f"{sentence}; no fallback: repeating over an unknown effect could do harm"
            await book.to_manual(incident, why)
            return
        recent = book.recent(book.failures)
        limit = self._policy.decision.failures_limit
        if recent >= limit:
            if "repeated_failures" not in live.escalated:
                window = duration(self._policy.decision.failures_window)
                await book.escalate(
                    incident, "repeated_failures", f"{recent} failed recoveries within {window}"
                )
            await book.to_manual(
                incident, f"{sentence}; {recent} failures in the window, a human must act"
            )
            return
        chain = live.decision.fallback_chain if live.decision else ()
        later = [m for m in chain if METHOD_ORDER.index(m) > METHOD_ORDER.index(method)]
        nxt: Method = later[0] if later else "manual"
        if nxt == "manual":
            await book.to_manual(incident, f"{sentence}; no automatic method left")
            return
        why = f"falling back from {method} to {nxt}: {sentence}"
        market_open = book.market_open()
        if needs_approval(nxt, market_open, self._policy.approval.require):
            await self._ask(incident, nxt, why, market_open)
            return
        await book.move(incident, S.RECOVERY_IN_PROGRESS, why, method=nxt)
        await self.run(incident, nxt, 0)
