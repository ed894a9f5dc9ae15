"""Dedup, grouping and the rate limit: every alert gets an explicit decision."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from paramedic.alerting.fatigue import Deduplicator, FatiguePolicy, Grouper, RateLimiter
from paramedic.alerting.model import Alert
from paramedic.config.alerting import AlertingConfig
from paramedic.core.severity import Severity


def alert(
    n: int, severity: Severity = "P2", *, type_: str = "degradation", source: str = "engine-1"
) -> Alert:
    return Alert(
        id=f"a{n}",
        type=type_,
        source=source,
        severity=severity,
        title=f"{source} {type_}",
        labels={"service": source},
    )


def test_dedup_window_of_five_minutes() -> None:
    """Same (type, source) within 300 s is suppressed with a reason; after it, sent again."""
    dedup = Deduplicator(300)
    assert "send" == dedup.check(alert(1), 0).action
    second = dedup.check(alert(2), 120)
    assert (
        "suppress",
        "duplicate of degradation from engine-1 sent 2 min ago"
        " (a1, still firing; dedup window 5 min)",
    ) == (second.action, second.reason)
    assert "send" == dedup.check(alert(3, source="engine-2"), 121).action
    assert "send" == dedup.check(alert(4), 301).action


def test_after_a_resolve_the_next_of_its_kind_is_a_new_alert() -> None:
    """Once the alert it duplicated resolved, a re-fire is sent at once, inside the window;
    a resolve of some other alert of the kind forgets nothing."""
    dedup = Deduplicator(300)
    first = alert(1)
    assert "send" == dedup.check(first, 0).action
    dedup.forget(alert(9))
    assert "suppress" == dedup.check(alert(2), 1).action
    dedup.forget(first.resolve())
    assert "send" == dedup.check(alert(3), 2).action
    assert "suppress" == dedup.check(alert(4), 3).action


def test_dedup_lets_an_upgrade_and_a_resolve_through() -> None:
    """A louder duplicate is news, and a resolve is never a duplicate."""
    dedup = Deduplicator(300)
    dedup.check(alert(1, "P2"), 0)
    assert "send" == dedup.check(alert(2, "P0"), 10).action
    assert "send" == dedup.check(alert(3, "P0").resolve(), 20).action


def test_grouping_sends_one_summary() -> None:
    """Three P2s for one service within group_wait become one summary; P0 is not held."""
    grouper = Grouper(["service"], group_wait=30, group_interval=300)
    assert "hold" == grouper.add(alert(1), 0).action
    grouper.add(alert(2, type_="memory_leak"), 10)
    grouper.add(alert(3), 20)
    assert "send" == grouper.add(alert(4, "P0"), 21).action
    assert [] == grouper.due(29.999)
    [summary] = grouper.due(30)
    assert (
        "3 alerts for service=engine-1: engine-1 degradation (x2); engine-1 memory_leak"
        == summary.text
    )
    grouper.add(alert(5), 100)
    assert [] == grouper.due(329.999)  # group_interval after the last summary
    assert 1 == len(grouper.due(330))


def test_rate_limit_summarizes_low_severities() -> None:
    """Over 2 per hour, P2/P3 are held and later summarized in one message."""
    limiter = RateLimiter(2, 3600)
    assert ["send", "send"] == [limiter.check("team", alert(i), float(i)).action for i in range(2)]
    held = [limiter.check("team", alert(i, "P3"), 10.0 + i) for i in range(12)]
    assert {"summarize"} == {d.action for d in held}
    assert [] == limiter.summaries(100)
    [summary] = limiter.summaries(3601)
    assert summary.text.startswith("12 more P2/P3 alerts suppressed in the last hour: ")


def test_rate_limit_never_limits_p0_p1() -> None:
    """A P0 over the budget is still sent, and says why."""
    limiter = RateLimiter(1, 3600)
    limiter.check("oncall", alert(1), 0)
    decision = limiter.check("oncall", alert(2, "P0"), 1)
    assert ("send", "P0 is never rate limited") == (decision.action, decision.reason)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["P0", "P1", "P2", "P3"]),
            st.integers(0, 3),
            st.floats(0, 120, allow_nan=False),
        ),
        max_size=80,
    )
)
def test_every_p0_p1_is_sent(events: list[tuple[Severity, int, float]]) -> None:
    """Any sequence of alerts through grouping and a tiny rate limit: every distinct P0/P1
    is sent to every receiver; everything else gets an explicit decision."""
    policy = FatiguePolicy(Deduplicator(0), Grouper(["service"], 30, 300), RateLimiter(1, 3600))
    now = 0.0
    for n, (severity, source, gap) in enumerate(events):
        now += gap
        a = alert(n, severity, type_=f"t{n}", source=f"svc{source}")
        decisions = policy.admit(a, ["oncall", "team"], now)
        assert decisions
        if severity in ("P0", "P1"):
            assert [("send", "oncall"), ("send", "team")] == [
                (d.action, d.receiver) for d in decisions
            ]


def test_policy_from_default_config() -> None:
    """The defaults: a P2 duplicate within 5 min is suppressed, a first P2 is grouped."""
    policy = FatiguePolicy.from_config(AlertingConfig())
    assert "hold" == policy.admit(alert(1), ["team"], 0)[0].action
    assert "suppress" == policy.admit(alert(2), ["team"], 60)[0].action
    assert ["send"] == [
        d.action for d in policy.admit(alert(3, "P1", type_="crash"), ["oncall"], 61)
    ]
