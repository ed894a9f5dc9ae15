"""The incident state machine: every legal move applies, every other one is refused."""

from __future__ import annotations

import pytest

from paramedic.core.clock import Instant
from paramedic.core.errors import RecoveryError
from paramedic.core.events import event_from_record
from paramedic.core.failure_events import FailureDetected
from paramedic.recovery.states import (
    LEGAL_TRANSITIONS,
    Incident,
    IncidentState,
    open_incident,
    plan_transition,
)

S = IncidentState
AT = Instant(mono=100.0, wall=1_767_225_600.0)
LEGAL = [(f, t) for f, tos in LEGAL_TRANSITIONS.items() for t in tos]
ILLEGAL = [(f, t) for f in S for t in S if t not in LEGAL_TRANSITIONS.get(f, {})]


def incident_in(state: IncidentState, method: str | None = "warm") -> Incident:
    failure = FailureDetected(
        at=AT,
        service="engine",
        incident="inc_1",
        failure_kind="crash",
        reason="pid 4242 killed by SIGKILL",
        source="process",
    )
    incident = Incident.from_opened(open_incident(failure))
    incident.state = state
    incident.method = method
    return incident


def test_opening_quotes_the_failure_and_starts_in_failure_detected() -> None:
    """The incident takes the failure's id, kind and sentence, and its history starts there."""
    incident = incident_in(S.FAILURE_DETECTED)
    assert ("inc_1", "engine", "crash") == (incident.id, incident.service, incident.kind)
    assert "pid 4242 killed by SIGKILL" == incident.reason
    assert [(S.HEALTHY, S.FAILURE_DETECTED)] == [
        (h.from_state, h.to_state) for h in incident.history
    ]


@pytest.mark.parametrize(("src", "dst"), LEGAL, ids=lambda s: str(s))
def test_every_legal_move_is_planned_then_applied(src: IncidentState, dst: IncidentState) -> None:
    """Planning returns the event and changes nothing; applying it moves the incident."""
    incident = incident_in(src)
    event = plan_transition(incident, dst, "because", AT, method="cold")
    assert src == incident.state  # durability first: nothing moved yet
    assert (src.value, dst.value, "because") == (event.from_state, event.to_state, event.reason)
    incident.apply(event)
    assert dst == incident.state
    assert (src, dst, "because") == (
        incident.history[-1].from_state,
        incident.history[-1].to_state,
        incident.history[-1].reason,
    )


@pytest.mark.parametrize(("src", "dst"), ILLEGAL, ids=lambda s: str(s))
def test_every_other_move_is_refused_naming_both_states(
    src: IncidentState, dst: IncidentState
) -> None:
    """An illegal move raises RecoveryError that names where from and where to."""
    with pytest.raises(RecoveryError, match=f"illegal move {src.value} -> {dst.value}"):
        plan_transition(incident_in(src), dst, "because", AT)


def test_approval_timeout_is_not_a_move() -> None:
    """AWAITING_APPROVAL has no move of its own kind: a timeout leaves it where it is."""
    assert S.AWAITING_APPROVAL not in LEGAL_TRANSITIONS[S.AWAITING_APPROVAL]


def test_entering_recovery_counts_attempts_including_fallbacks() -> None:
    """Each entry into RECOVERY_IN_PROGRESS is one attempt; the method is kept."""
    incident = incident_in(S.FAILURE_DETECTED, method=None)
    for to, method in [
        (S.RECOVERY_IN_PROGRESS, "hot"),
        (S.RECOVERY_IN_PROGRESS, "warm"),
        (S.RECOVERY_FAILED, None),
        (S.RECOVERY_IN_PROGRESS, "cold"),
    ]:
        incident.apply(plan_transition(incident, to, "next", AT, method=method))
    assert (3, "cold") == (incident.attempts, incident.method)


def test_entering_recovery_without_a_method_is_refused() -> None:
    """A run with no method is a bug to catch at planning, not at the first step."""
    incident = incident_in(S.FAILURE_DETECTED, method=None)
    with pytest.raises(RecoveryError, match="needs a recovery method"):
        plan_transition(incident, S.RECOVERY_IN_PROGRESS, "go", AT)


def test_a_move_needs_a_reason() -> None:
    """A move nobody can explain afterwards is refused."""
    with pytest.raises(RecoveryError, match="needs a reason"):
        plan_transition(incident_in(S.VALIDATING), S.RECOVERED, "  ", AT)


def test_a_stale_event_is_refused_on_apply() -> None:
    """An event planned from another state (a race, a double apply) does not apply."""
    incident = incident_in(S.VALIDATING)
    event = plan_transition(incident, S.RECOVERED, "checks passed", AT)
    incident.apply(event)
    with pytest.raises(RecoveryError, match="stale move VALIDATING -> RECOVERED"):
        incident.apply(event)


def test_healthy_closes_the_incident() -> None:
    """HEALTHY is the end: nothing leaves it but a new failure."""
    incident = incident_in(S.RECOVERED)
    incident.apply(plan_transition(incident, S.HEALTHY, "watched 5 min, no relapse", AT))
    assert incident.closed


def test_transition_event_round_trips_through_the_store_format() -> None:
    """Replaying the timeline rebuilds the same event, so apply works after a restart."""
    event = plan_transition(incident_in(S.FAILURE_DETECTED), S.AWAITING_APPROVAL, "market", AT)
    again = event_from_record(
        event.kind,
        id=event.id,
        mono=AT.mono,
        wall=AT.wall,
        service="engine",
        payload=event.payload(),
    )
    assert event == again
    expected = "engine: incident inc_1 FAILURE_DETECTED -> AWAITING_APPROVAL: market"
    assert expected == event.summary()
