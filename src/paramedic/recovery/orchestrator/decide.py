"""Stage one: an incident opened -> the decision (with its sentence) -> approval, or the run.

The decision itself is `recovery/decision.py` (pure); this stage gathers its inputs, records
it, escalates what it found (corruption, repeated failures) and either asks a human or starts
the method. An operator's answer to the request comes back here too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from paramedic.config.recovery_plan import RecoveryPlan
from paramedic.config.recovery_policy import Method, RecoveryPolicy
from paramedic.core.errors import RecoveryError
from paramedic.core.incident_events import RecoveryDecided
from paramedic.core.text import duration
from paramedic.recovery.approval import ApprovalGate, needs_approval
from paramedic.recovery.decision import METHOD_ORDER, Decision, DecisionInput, decide
from paramedic.recovery.facts import decision_facts
from paramedic.recovery.orchestrator.inputs import gather_inputs
from paramedic.recovery.orchestrator.ledger import Ledger
from paramedic.recovery.states import Incident, IncidentState

__all__ = ["Decider", "StartRun"]

S = IncidentState
StartRun = Callable[[Incident, str], None]
"""Starts a method's run from its first step, in the background."""


class Decider:
    """Decides how to recover an incident, and asks for approval when the policy says so."""

    def __init__(
        self,
        ledger: Ledger,
        plan: RecoveryPlan,
        policy: RecoveryPolicy,
        *,
        base_dir: Path,
        start_run: StartRun,
    ) -> None:
        self._book, self._plan, self._policy = ledger, plan, policy
        self._base, self._start_run = base_dir, start_run

    def _configured(self) -> frozenset[Method]:
        m = self._plan.methods
        found: list[Method] = [n for n in METHOD_ORDER[:3] if getattr(m, n) is not None]
        return frozenset(found)

    async def decide(self, incident: Incident) -> None:
        book = self._book
        got = await gather_inputs(
            self._plan, clock=book.clock, base_dir=self._base, session=book.get_session
        )
        market_open = book.market_open()
        recent = book.recent(book.service_failures)
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
                volatility_unknown=got.volatility_unknown,
                market_open=market_open,
                methods=self._configured(),
                service=book.service,
            ),
            self._policy.decision,
            self._policy.approval.require,
        )
        sentence = "; ".join([decision.sentence, *got.problems])
        decision = Decision(
            decision.method, decision.requires_approval, sentence, decision.fallback_chain
        )
        facts = decision_facts(
            decided_at_wall=book.clock.wall(),
            sentence=sentence,
            market_open=market_open,
            recent_failures=recent,
            checkpoint_path=got.checkpoint_path,
            checkpoint_age_s=got.checkpoint_age_s,
            standby_url=got.standby_url,
            standby_available=got.backup_available,
            standby_synced=got.backup_synced,
            standby_lag_s=got.backup_lag_s,
            volatility_current=got.volatility_current,
            volatility_average=got.volatility_average,
            data_corrupt=got.data_corruption,
            corruption_detail=got.corruption_detail,
            problems=got.problems,
        )
        book.live[incident.id].decision = decision
        book.live[incident.id].facts = facts
        await book.record(
            RecoveryDecided(
                at=book.clock.now(),
                service=book.service,
                incident=incident.id,
                method=decision.method,
                requires_approval=decision.requires_approval,
                sentence=sentence,
                fallback_chain=decision.fallback_chain,
                facts=tuple(facts.items()),
            )
        )
        incident.note_decision(sentence)
        if got.data_corruption:
            await book.escalate(incident, "data_corruption", got.corruption_detail)
        if recent >= self._policy.decision.failures_limit:
            window = duration(self._policy.decision.failures_window)
            why = f"{recent} failures of {book.service} within {window}"
            await book.escalate(incident, "repeated_failures", why)
        await self.proceed(incident, decision.method, sentence, market_open)

    async def proceed(
        self, incident: Incident, method: Method, why: str, market_open: bool
    ) -> None:
        if needs_approval(method, market_open, self._policy.approval.require):
            await self.request_approval(incident, method, why, market_open)
            return
        await self._book.move(incident, S.RECOVERY_IN_PROGRESS, why, method=method)
        self._start_run(incident, method)

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
    ) -> None:
        book = self._book
        gate = ApprovalGate(book.clock, timeout_s=self._policy.approval.timeout, emit=book.emit)
        book.live[incident.id].gate = gate
        request = gate.request(
            incident.id,
            service=book.service,
            method=method,
            sentence=why,
            market_open=market_open,
            first_timeout=first_timeout,
            waited=waited,
            timeouts=timeouts,
        )
        if move:
            await book.move(
                incident, S.AWAITING_APPROVAL, f"approval needed for {method}: {why}", method=method
            )
        if record:  # after the move: whoever reads the views on the request sees it waiting
            await book.record(request)

    async def approve(self, incident_id: str, *, by: str, why: str) -> None:
        """An operator's yes: recorded with their name, then the method runs (or a human)."""
        incident, live = self._book.need(incident_id)
        gate = live.gate
        if gate is None or gate.pending(incident_id) is None:
            msg = f"incident {incident_id}: no approval request is pending"
            raise RecoveryError(msg)
        granted = gate.approve(incident_id, by=by, why=why)
        await self._book.record(granted)
        method = granted.method
        if method == "manual":
            await self._book.move(
                incident, S.MANUAL_RECOVERY, f"{by} took over manually: {why}", human=True
            )
            return
        reason = f"{method} approved by {by}: {why}"
        await self._book.move(incident, S.RECOVERY_IN_PROGRESS, reason, method=method, human=True)
        self._start_run(incident, method)

    async def reject(self, incident_id: str, *, by: str, why: str) -> None:
        """An operator's no: nothing runs; the incident is a human's from now on."""
        incident, live = self._book.need(incident_id)
        if live.gate is None:
            msg = f"incident {incident_id}: no approval request is pending"
            raise RecoveryError(msg)
        rejected = live.gate.reject(incident_id, by=by, why=why)
        await self._book.record(rejected)
        reason = f"{by} rejected {rejected.method}: {why}; a human recovers the service"
        await self._book.move(incident, S.MANUAL_RECOVERY, reason, human=True)
