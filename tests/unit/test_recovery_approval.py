"""The approval gate: a 5-minute deadline that escalates and does nothing, audited answers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from paramedic.config.recovery_policy import ApprovalRequire, RecoveryPolicy
from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event
from paramedic.core.incident_events import (
    ApprovalGranted,
    ApprovalRejected,
    ApprovalTimedOut,
    EscalationTriggered,
)
from paramedic.recovery.approval import ApprovalGate, needs_approval
from paramedic.testing import FakeClock


def make_gate() -> tuple[FakeClock, ApprovalGate, list[Event]]:
    clock = FakeClock()
    emitted: list[Event] = []
    gate = ApprovalGate(clock, timeout_s=RecoveryPolicy().approval.timeout, emit=emitted.append)
    return clock, gate, emitted


def ask(gate: ApprovalGate, incident: str = "inc_1") -> None:
    gate.request(
        incident,
        service="engine",
        method="warm",
        sentence="warm restart: checkpoint 41 s old; no standby available",
        market_open=True,
    )


def test_timeout_after_five_minutes_escalates_and_takes_no_action() -> None:
    """At 300 s: approval.timed_out then escalation(approval_timeout); nothing else happens,
    and the request stays open: it escalates again 300 s later."""
    clock, gate, emitted = make_gate()
    ask(gate)
    clock.advance(299.999)
    assert [] == emitted
    clock.advance(0.001)
    assert [ApprovalTimedOut, EscalationTriggered] == [type(e) for e in emitted]
    timed_out, escalation = emitted
    assert isinstance(timed_out, ApprovalTimedOut)
    assert isinstance(escalation, EscalationTriggered)
    assert ("inc_1", "warm", 300.0) == (timed_out.incident, timed_out.method, timed_out.waited_s)
    assert ("approval_timeout", "inc_1") == (escalation.trigger, escalation.incident)
    assert "no action taken" in escalation.reason
    assert gate.pending("inc_1") is not None
    clock.advance(300)
    assert [300.0, 600.0] == [e.waited_s for e in emitted if isinstance(e, ApprovalTimedOut)]
    assert "(reminder 2)" in emitted[-1].reason


def test_approval_after_timeout_is_accepted_as_late() -> None:
    """A late yes is taken (a timeout must not leave the incident with no way forward),
    marked late on the record, and the reminders stop."""
    clock, gate, emitted = make_gate()
    ask(gate)
    clock.advance(301)
    granted = gate.approve("inc_1", by="alice", why="go")
    assert (True, "engine: warm approved by alice (after the approval timeout): go") == (
        granted.late,
        granted.summary(),
    )
    clock.advance(3000)
    assert 2 == len(emitted)
    assert 0 == clock.pending


def test_approve_carries_who_and_why_and_cancels_the_timer() -> None:
    """An answer is audited and silences the deadline for good."""
    clock, gate, emitted = make_gate()
    ask(gate)
    clock.advance(60)
    granted = gate.approve("inc_1", by="alice", why="standby is fine, go")
    assert isinstance(granted, ApprovalGranted)
    assert ("alice", "standby is fine, go", "warm") == (granted.by, granted.why, granted.method)
    assert "engine: warm approved by alice: standby is fine, go" == granted.summary()
    clock.advance(600)
    assert [] == emitted


def test_reject_is_audited_too() -> None:
    """A no names its author; the caller moves the incident to MANUAL_RECOVERY."""
    _, gate, _ = make_gate()
    ask(gate)
    rejected = gate.reject("inc_1", by="bob", why="volatile open, I'll do it")
    assert isinstance(rejected, ApprovalRejected)
    assert ("bob", "rejected") == (rejected.by, gate.outcome("inc_1"))


def test_double_approval_is_refused() -> None:
    """The second yes on one request is an error, not a second action."""
    _, gate, _ = make_gate()
    ask(gate)
    gate.approve("inc_1", by="alice", why="go")
    with pytest.raises(RecoveryError, match="already granted"):
        gate.approve("inc_1", by="carol", why="go too")


def test_unknown_incident_is_refused() -> None:
    """Approving something nobody asked about is a clear error."""
    _, gate, _ = make_gate()
    with pytest.raises(RecoveryError, match="inc_9: no approval request is pending"):
        gate.approve("inc_9", by="alice", why="go")


def test_anonymous_answer_is_refused() -> None:
    """An approval is an audited action with a name on it."""
    _, gate, _ = make_gate()
    ask(gate)
    with pytest.raises(RecoveryError, match="needs the operator's name"):
        gate.approve("inc_1", by=" ", why="go")


def test_second_request_while_pending_is_refused() -> None:
    """One incident, one open question."""
    _, gate, _ = make_gate()
    ask(gate)
    with pytest.raises(RecoveryError, match="already awaits approval of warm"):
        ask(gate)


def test_withdraw_cancels_silently() -> None:
    """A failure that cleared withdraws its request: no timeout, no escalation later."""
    clock, gate, emitted = make_gate()
    ask(gate)
    gate.withdraw("inc_1")
    clock.advance(600)
    assert ([], "withdrawn") == (emitted, gate.outcome("inc_1"))


def test_deadline_is_monotonic() -> None:
    """A wall clock step of an hour neither fires nor delays the deadline."""
    clock, gate, emitted = make_gate()
    ask(gate)
    clock.step_wall(3600)
    clock.advance(299)
    assert [] == emitted
    clock.advance(1)
    assert 2 == len(emitted)


@pytest.mark.parametrize(
    ("method", "market_open", "expected"),
    [
        ("hot", True, False),
        ("warm", True, True),
        ("cold", True, True),
        ("manual", True, True),
        ("hot", False, False),
        ("warm", False, False),
        ("cold", False, False),
        ("manual", False, True),
    ],
)
def test_default_rule_is_seed_6_3(method: str, market_open: bool, expected: bool) -> None:
    """Manual always; during market hours anything but hot."""
    assert expected == needs_approval(method, market_open, ApprovalRequire())  # type: ignore[arg-type]


def test_policy_defaults_are_the_seeds_numbers() -> None:
    """An empty `recovery:` section is the seed's policy."""
    p = RecoveryPolicy.model_validate({})
    assert (300.0, 3, 1800.0, 2.0) == (
        p.decision.checkpoint_max_age,
        p.decision.failures_limit,
        p.decision.failures_window,
        p.decision.volatility_ratio,
    )
    assert (300.0, 300.0, None) == (p.approval.timeout, p.watch_period, p.market)


def test_policy_refuses_dropping_manual_and_bare_numbers() -> None:
    """Errors name the field: manual must need approval; durations need a unit."""
    with pytest.raises(ValidationError) as info:
        RecoveryPolicy.model_validate(
            {"approval": {"timeout": 300, "require": {"market_closed": []}}}
        )
    text = str(info.value)
    assert "approval.timeout" in text
    assert "300 has no unit" in text
    assert "approval.require.market_closed" in text
    assert "must include manual" in text
