"""Severity rules, the route tree and the alerting config defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from paramedic.alerting.routing import Delivery, Route, Router
from paramedic.alerting.severity import SeverityFacts, SeverityPolicy
from paramedic.config.alerting import AlertingConfig, RouteConfig

DEFAULTS = AlertingConfig.model_validate({})


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (SeverityFacts(kind="crash", tier=1), "P0"),
        (SeverityFacts(kind="hang", tier=1), "P0"),
        (SeverityFacts(kind="crash", tier=2), "P1"),
        (SeverityFacts(kind="network_partition", upstream_down=1), "P1"),
        (SeverityFacts(kind="network_partition", upstream_down=2), "P0"),
        (SeverityFacts(kind="degradation", tier=1), "P2"),
        (SeverityFacts(kind="memory_leak"), "P2"),
        (SeverityFacts(kind="disk_full"), "P1"),
        (SeverityFacts(kind="db_connection_loss"), "P1"),
        (SeverityFacts(kind="degradation", needs_human=True), "P0"),
        (SeverityFacts(kind="recovery_failed"), "P0"),
        (SeverityFacts(kind="approval_timeout"), "P1"),
        (SeverityFacts(kind="something_odd", state="recovering"), "P1"),
        (SeverityFacts(kind="something_odd"), "P3"),
    ],
)
def test_default_severity_per_kind(facts: SeverityFacts, expected: str) -> None:
    """The seed's 2.1 table: each failure kind and trigger gets its documented severity."""
    assert expected == SeverityPolicy.from_config(DEFAULTS.severity_rules).decide(facts).severity


def test_severity_decision_explains_itself() -> None:
    """The decision names the severity, the rule's reason and the service."""
    decision = SeverityPolicy.from_config(DEFAULTS.severity_rules).decide(
        SeverityFacts(kind="crash", service="engine-1", tier=1)
    )
    assert "P0: all trading halted: crash on engine-1 (tier 1)" == decision.reason


def test_severity_label_rule_first_match_wins() -> None:
    """A user rule placed first overrides the defaults for matching labels only."""
    cfg = AlertingConfig.model_validate(
        {
            "severity_rules": [
                {"severity": "P3", "labels": ["env=~stag.*"], "reason": "staging"},
                *[r.model_dump() for r in DEFAULTS.severity_rules],
            ]
        }
    )
    policy = SeverityPolicy.from_config(cfg.severity_rules)
    assert (
        "P3"
        == policy.decide(SeverityFacts(kind="crash", tier=1, labels={"env": "staging"})).severity
    )
    assert (
        "P0" == policy.decide(SeverityFacts(kind="crash", tier=1, labels={"env": "prod"})).severity
    )


def test_seed_routing_table() -> None:
    """Who hears about a P0, P1, P2 and P3 at once, on which channel: for a P0 only the
    on-call is paged, the team and compliance are informed (seed 2.5's timing; the rest of
    2.2's P0 list are rungs of the ladder)."""
    router = Router.from_config(DEFAULTS.routes, DEFAULTS.contacts)
    p0 = [(d.receiver, d.channels) for d in router.route({"severity": "P0"})]
    assert [
        ("oncall", ("pagerduty",)),
        ("team", ("slack",)),
        ("compliance", ("email",)),
    ] == p0
    p1 = [(d.receiver, d.channels) for d in router.route({"severity": "P1"})]
    assert [("oncall", ("pagerduty",)), ("team-lead", ("slack",)), ("team", ("slack",))] == p1
    assert [Delivery("team", ("slack",)), Delivery("jira", ("jira",))] == router.route(
        {"severity": "P2"}
    )
    assert [Delivery("log", ("log",)), Delivery("weekly-summary", ("weekly-summary",))] == (
        router.route({"severity": "P3"})
    )


def tree() -> Router:
    cfg = RouteConfig.model_validate(
        {
            "receivers": ["default"],
            "routes": [
                {"matchers": ["venue=~NYSE|CME"], "receivers": ["venues"], "continue": True},
                {"matchers": ["service!~engine-.*"], "receivers": ["infra"]},
                {"matchers": ["severity=P0"], "receivers": ["pager"]},
                {"matchers": ["severity=P0", "tier!=2"], "receivers": ["never"]},
            ],
        }
    )
    contacts = {n: [n] for n in ("default", "venues", "infra", "pager", "never")}
    return Router(Route.from_config(cfg), contacts)


def test_route_first_match_wins() -> None:
    """Only the first matching child applies: the P0 engine alert never reaches `never`."""
    assert ["pager"] == tree().receivers({"severity": "P0", "service": "engine-1"})


def test_route_continue_and_regex() -> None:
    """`continue` on the venue route lets the next matching route apply too; regexes are
    anchored, so NYSE2 does not match NYSE|CME."""
    router = tree()
    assert ["venues", "pager"] == router.receivers(
        {"severity": "P0", "service": "engine-1", "venue": "CME"}
    )
    assert ["pager"] == router.receivers(
        {"severity": "P0", "service": "engine-1", "venue": "NYSE2"}
    )
    assert ["infra"] == router.receivers({"service": "db"})


def test_route_falls_back_to_parent_receivers() -> None:
    """No child matched: the root's own receivers are used."""
    assert ["default"] == tree().receivers({"severity": "P2", "service": "engine-1"})


def test_config_errors_name_the_field() -> None:
    """A bad matcher or an unknown contact is an error that says where and what."""
    with pytest.raises(ValidationError) as bad:
        AlertingConfig.model_validate(
            {"inhibit_rules": [{"source": ["venue~x"], "target": ["a=b"]}]}
        )
    assert "inhibit_rules.0.source" in str(bad.value)
    assert "'venue~x' is not a matcher" in str(bad.value)
    with pytest.raises(ValidationError) as unknown:
        AlertingConfig.model_validate({"routes": {"receivers": ["nobody"]}})
    assert "routes.receivers.0: unknown contact 'nobody'" in str(unknown.value)
    with pytest.raises(ValidationError) as group:
        AlertingConfig.model_validate({"grouping": {"severities": ["P0"]}})
    assert "grouping.severities" in str(group.value)


def test_durations_need_units() -> None:
    """`dedup_window: 300` is refused; `5m` is 300 s."""
    assert 300.0 == AlertingConfig.model_validate({"dedup_window": "5m"}).dedup_window
    with pytest.raises(ValidationError, match="dedup_window"):
        AlertingConfig.model_validate({"dedup_window": 300})
