"""Recovery: the incident state machine, the decision, the approval gate, progress and ETA,
and the hooks the runtime hands to recovery steps (`orchestrator/` runs it all by stage)."""

from __future__ import annotations

from paramedic.recovery.approval import ApprovalGate, needs_approval
from paramedic.recovery.calendar import AlwaysOpen, MarketCalendar, calendar_from
from paramedic.recovery.decision import Decision, DecisionInput, decide, fallback_chain
from paramedic.recovery.hooks import RecoveryHooks, StepContext
from paramedic.recovery.progress import ProgressTracker, RtoWatch
from paramedic.recovery.states import (
    LEGAL_TRANSITIONS,
    Incident,
    IncidentState,
    open_incident,
    plan_transition,
)

__all__ = [
    "LEGAL_TRANSITIONS",
    "AlwaysOpen",
    "ApprovalGate",
    "Decision",
    "DecisionInput",
    "Incident",
    "IncidentState",
    "MarketCalendar",
    "ProgressTracker",
    "RecoveryHooks",
    "RtoWatch",
    "StepContext",
    "calendar_from",
    "decide",
    "fallback_chain",
    "needs_approval",
    "open_incident",
    "plan_transition",
]
