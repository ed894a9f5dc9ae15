"""The decision table: each branch of the seed's flowchart, with its exact sentence."""

from __future__ import annotations

import pytest

from paramedic.config.recovery_policy import ApprovalRequire, DecisionThresholds, Method
from paramedic.recovery.decision import Decision, DecisionInput, decide

T = DecisionThresholds()
R = ApprovalRequire()
SYNCED = {"backup_available": True, "backup_synced": True, "backup_lag_s": 0.0}
LAGGING = {"backup_available": True, "backup_synced": False, "backup_lag_s": 3.2}


def run(**kw: object) -> Decision:
    kw.setdefault("failure_kind", "crash")
    kw.setdefault("market_open", False)
    return decide(DecisionInput(**kw), T, R)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("inputs", "method", "sentence"),
    [
        (SYNCED, "hot", "hot restart: standby synced (lag 0 s)"),
        (
            {**LAGGING, "checkpoint_age_s": 41.0},
            "warm",
            "warm restart: checkpoint 41 s old; standby not synced (lag 3.2 s)",
        ),
        (
            {"checkpoint_age_s": 299.0},
            "warm",
            "warm restart: checkpoint 4 min 59 s old; no standby available",
        ),
        ({**SYNCED, "data_corruption": True}, "manual", "manual: data corruption detected"),
        ({"recent_failures": 3}, "manual", "manual: 3 failures of the service in 30 min"),
        (
            {"volatility_current": 2.4, "volatility_average": 1.0},
            "manual",
            "manual: volatility 2.4x average (limit 2x)",
        ),
        (
            {**LAGGING, "checkpoint_age_s": 412.0},
            "cold",
            "cold restart: checkpoint 6 min 52 s old (limit 5 min); standby not synced (lag 3.2 s)",
        ),
        ({}, "cold", "cold restart: no checkpoint; no standby available"),
        ({"failure_kind": "gremlins"}, "manual", "manual: unknown failure cause (gremlins)"),
    ],
    ids=[
        "hot",
        "warm",
        "warm-no-standby",
        "corruption",
        "failures",
        "volatility",
        "cold-old",
        "cold",
        "unknown",
    ],
)
def test_flowchart_branch(inputs: dict[str, object], method: str, sentence: str) -> None:
    """Each branch picks its method and says why in one sentence."""
    decision = run(**inputs)
    assert (method, sentence) == (decision.method, decision.sentence)


def test_checkpoint_exactly_at_the_limit_is_not_recent() -> None:
    """The seed's test is `age < 5 min`: a 300 s checkpoint is already too old."""
    assert "cold" == run(checkpoint_age_s=300.0).method


def test_two_failures_are_below_the_limit() -> None:
    """The limit is 3+: two recent failures still allow an automatic restart."""
    assert "hot" == run(recent_failures=2, **SYNCED).method


def test_volatility_does_not_veto_a_synced_standby() -> None:
    """As in the seed, volatility only stands between the incident and a cold restart."""
    assert "hot" == run(volatility_current=9.0, volatility_average=1.0, **SYNCED).method


def test_volatility_at_exactly_the_ratio_allows_cold() -> None:
    """Above 2x vetoes; exactly 2x does not."""
    assert "cold" == run(volatility_current=2.0, volatility_average=1.0).method


def test_unconfigured_methods_are_skipped_and_said_so() -> None:
    """A service without a standby goes on to warm, and the sentence says why not hot."""
    methods: frozenset[Method] = frozenset({"warm", "cold"})
    decision = run(checkpoint_age_s=10.0, methods=methods, **SYNCED)
    expected = ("warm", "warm restart: checkpoint 10 s old; hot restart not configured")
    assert expected == (decision.method, decision.sentence)
    assert ("warm", "cold", "manual") == decision.fallback_chain


def test_no_automatic_method_at_all_goes_to_a_human() -> None:
    """With hot/warm/cold all unavailable or unconfigured, the answer is manual."""
    decision = run(methods=frozenset())
    expected = "manual: no automatic method applies (warm restart not configured;"
    assert decision.sentence.startswith(expected)
    assert ("manual",) == decision.fallback_chain


@pytest.mark.parametrize(
    ("inputs", "chain"),
    [
        (SYNCED, ("hot", "warm", "cold", "manual")),
        ({"checkpoint_age_s": 1.0}, ("warm", "cold", "manual")),
        ({}, ("cold", "manual")),
        ({"data_corruption": True}, ("manual",)),
    ],
)
def test_fallback_chain_runs_from_the_choice_to_manual(
    inputs: dict[str, object], chain: tuple[str, ...]
) -> None:
    """Fallbacks only ever move to slower methods and always end with a human."""
    assert chain == run(**inputs).fallback_chain


@pytest.mark.parametrize(
    ("inputs", "market_open", "approval"),
    [
        (SYNCED, True, False),
        ({"checkpoint_age_s": 1.0}, True, True),
        ({}, True, True),
        ({"data_corruption": True}, True, True),
        (SYNCED, False, False),
        ({"checkpoint_age_s": 1.0}, False, False),
        ({}, False, False),
        ({"data_corruption": True}, False, True),
    ],
)
def test_approval_follows_seed_6_3(
    inputs: dict[str, object], market_open: bool, approval: bool
) -> None:
    """Manual always needs a yes; during market hours so does anything but hot."""
    assert approval == run(market_open=market_open, **inputs).requires_approval
