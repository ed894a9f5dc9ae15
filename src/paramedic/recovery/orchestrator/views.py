"""What screens read about one service's recovery: the seed's 3.4 body and the resumption.

Pure functions of the incident and its trackers, so the API, the CLI and the dashboard show
the same thing and a test can check the seed's example field by field without a run.
"""

from __future__ import annotations

from typing import Any

from paramedic.recovery.progress import ProgressTracker
from paramedic.recovery.resumption import ResumptionState
from paramedic.recovery.states import Incident, IncidentState

__all__ = ["resumption_body", "status_body"]

S = IncidentState
_TRACKED = (S.RECOVERY_IN_PROGRESS, S.VALIDATING, S.RECOVERED, S.HEALTHY)


def status_body(
    incident: Incident | None,
    tracker: ProgressTracker | None,
    wall: float,
    resumption: ResumptionState | None = None,
    validating: bool = False,
) -> dict[str, Any]:
    """Exactly the seed's keys; the state is the incident's (the tracker knows only its run).

    RECOVERED says "fully recovered and operational" only once trading is back at its last
    phase and no validation window is still open: while a phase is held, or trading is
    still ramping, the status says so, as the resumption endpoint does.
    """
    if incident is None:
        return {
            "state": S.HEALTHY.value,
            "progress_percentage": 100,
            "current_step": "Healthy",
            "status_message": "No incident",
            "last_update": round(wall * 1000),
            "completed_steps": [],
            "remaining_steps": [],
        }
    if tracker is not None and incident.state in _TRACKED:
        body = tracker.status_json()
        body["state"] = incident.state.value
        if incident.state is S.RECOVERED and resumption is not None:
            _resuming(body, resumption, validating)
        return body
    last = incident.history[-1]
    if incident.closed:
        return {
            "state": S.HEALTHY.value,
            "progress_percentage": 100,
            "current_step": "Healthy",
            "status_message": last.reason,
            "last_update": round(last.wall * 1000),
            "completed_steps": list(tracker.completed_steps) if tracker else [],
            "remaining_steps": [],
        }
    step = {
        S.FAILURE_DETECTED: "Failure detected",
        S.AWAITING_APPROVAL: f"Awaiting approval of {incident.method} recovery",
        S.RECOVERY_FAILED: "Recovery failed",
        S.MANUAL_RECOVERY: "Manual recovery",
    }.get(incident.state, incident.state.value)
    return {
        "state": incident.state.value,
        "progress_percentage": tracker.percentage if tracker is not None else 0,
        "current_step": step,
        "status_message": last.reason,
        "last_update": round(last.wall * 1000),
        "completed_steps": list(tracker.completed_steps) if tracker else [],
        "remaining_steps": list(tracker.remaining_steps) if tracker else [],
    }


def _resuming(body: dict[str, Any], state: ResumptionState, validating: bool) -> None:
    size = f"{state.phase} at {state.size_multiplier:g}x size"
    if state.held:
        body["current_step"] = "Resumption held"
        body["status_message"] = f"Trading held at {size}: {state.sentence}"
    elif state.size_multiplier < 1.0:
        body["current_step"] = "Resuming trading"
        body["status_message"] = f"Recovered; trading resumes gradually: {size}"
    elif validating:
        body["current_step"] = "Validating"
        body["status_message"] = f"Recovered, trading at {size}; validation windows still open"


def resumption_body(incident: Incident | None, state: ResumptionState | None) -> dict[str, Any]:
    """`{phase, size_multiplier, should_trade, since}`; no trading while an incident is open
    and not yet in a resumption phase, full size when there never was one."""
    if state is not None:
        return {
            "phase": state.phase,
            "size_multiplier": state.size_multiplier,
            "should_trade": state.should_trade,
            "since": state.since,
        }
    if incident is not None and not incident.closed:
        return {
            "phase": "halted",
            "size_multiplier": 0.0,
            "should_trade": False,
            "since": incident.opened_wall,
        }
    return {"phase": "normal", "size_multiplier": 1.0, "should_trade": True, "since": None}
