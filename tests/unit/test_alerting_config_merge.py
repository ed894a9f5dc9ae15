"""Alerting defaults and user entries merge; every mistake is reported at once, at its line;
a file under which a tier-1 crash pages no one is refused; defaults falling back to the log
are warned about."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from paramedic.alerting.reach import crash_reach, review
from paramedic.alerting.routing import Router
from paramedic.alerting.severity import SeverityFacts, SeverityPolicy
from paramedic.cli.main import app
from paramedic.config import ConfigIssue, InvalidConfig, parse_config
from paramedic.config.alerting import AlertingConfig
from paramedic.config.model import Config

ENV = {
    "PAGERDUTY_ROUTING_KEY": "R0UTINGKEY0123456789abcdef012345",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/T0/B0/x",
    "TWILIO_APPRISE_URL": "json://127.0.0.1:9/phone",
    "SMTP_PW": "pw",
}

CHANNELS = """
channels:
  pagerduty: {pagerduty: {routing_key_env: PAGERDUTY_ROUTING_KEY}}
  slack: {slack: {webhook_url_env: SLACK_WEBHOOK_URL}}
  phone: {apprise: {url_env: TWILIO_APPRISE_URL}}
"""

ENGINE = """
services:
  engine:
    tier: 1
    process: {argv: [sleep, "100"]}
"""


def load(text: str, warnings: list[ConfigIssue] | None = None) -> Config:
    return parse_config(text, source="p.yaml", env=ENV, warnings=warnings, review=review)


def test_one_added_severity_rule_keeps_every_default_rule() -> None:
    """Issue 11 defect 2: one user rule used to replace all 17 defaults, so a tier-1 crash
    became "P3: no severity rule matched". The user's rule now goes first, the defaults
    after it: the crash is P0 and only `prio=low` alerts are P3."""
    cfg = load(
        CHANNELS
        + """
alerting:
  severity_rules: [{severity: P3, reason: noise, labels: ["prio=low"]}]
"""
        + ENGINE
    )
    policy = SeverityPolicy.from_config(cfg.alerting.severity_rules)
    crash = policy.decide(SeverityFacts(kind="crash", service="engine", tier=1))
    assert "P0: all trading halted: crash on engine (tier 1)" == crash.reason
    low = policy.decide(SeverityFacts(kind="crash", tier=1, labels={"prio": "low"}))
    assert "P3" == low.severity
    assert "P0" == crash_reach(cfg, "engine").severity


def test_a_config_under_which_a_tier1_crash_pages_no_one_is_refused(tmp_path: Path) -> None:
    """`replace_defaults` with only a P3 rule: `config check` and `run` both refuse the
    file, with a sentence at the service saying why and what to look at."""
    path = tmp_path / "p.yaml"
    path.write_text(
        CHANNELS
        + """
alerting:
  replace_defaults: [severity_rules]
  severity_rules: [{severity: P3, reason: noise}]
"""
        + ENGINE
    )
    runner = CliRunner()
    for argv in (["config", "check", str(path)], ["run", "--config", str(path)]):
        result = runner.invoke(app, argv, env=ENV)
        assert 1 == result.exit_code, result.output
        assert (
            f"{path}:13:5: services.engine.tier: a crash of tier-1 service 'engine' would page"
            " no one: it is P3: noise: crash on engine (tier 1)"
        ) in result.output


def test_declaring_one_contact_keeps_the_other_default_contacts() -> None:
    """Declaring `oncall` used to drop the 11 other default contacts, and the defaults that
    name them then failed one per run. Now the user's `oncall` replaces only that one."""
    cfg = load(
        CHANNELS
        + """
alerting:
  contacts:
    oncall: {display: "Alice (+1-555-0100)", channels: [pagerduty, phone]}
"""
        + ENGINE
    )
    contacts = cfg.alerting.contacts
    assert 12 == len(contacts)
    assert ("Alice (+1-555-0100)", ["pagerduty", "phone"]) == (
        contacts["oncall"].display,
        contacts["oncall"].channels,
    )
    assert ["phone", "slack"] == contacts["team-lead"].channels


def test_every_reference_mistake_is_reported_in_one_run_each_at_its_own_line() -> None:
    """Three mistakes in three places: three errors, each at its own line (not one per run
    at the `alerting:` line), and no error about a name the user never wrote."""
    text = (
        CHANNELS
        + """
alerting:
  contacts:
    oncall: {channels: [pagerduty]}
  routes:
    routes:
      - {matchers: [service=a], receivers: [nobody]}
      - {matchers: [service=b], receivers: ["oncall:phone"], continue: true}
  escalation:
    policies:
      P0:
        steps:
          - {name: x, after: 1m, contacts: [ghost], level: 1}
"""
    )
    with pytest.raises(InvalidConfig) as caught:
        load(text)
    assert [
        (12, "alerting.routes.routes[0].receivers[0]", "unknown contact 'nobody'"),
        (13, "alerting.routes.routes[1].receivers[0]", "contact 'oncall' has no channel 'phone'"),
        (18, "alerting.escalation.policies.P0.steps[0].contacts[0]", "unknown contact 'ghost'"),
    ] == [(i.line, i.path, i.message.split(";")[0].split(" (")[0]) for i in caught.value.issues]


def test_a_default_that_names_a_channel_the_users_contact_lacks_is_adapted() -> None:
    """The user's `team` is on email only: the default P0 route's `team:slack` and the P2
    ladder's Slack rung reach team on email instead of failing; a note says so."""
    warnings: list[ConfigIssue] = []
    cfg = load(
        CHANNELS
        + """
  email: {email: {host: smtp.example, sender: p@example.com, to: [team@example.com]}}
alerting:
  contacts:
    team: {channels: [email]}
"""
        + ENGINE,
        warnings,
    )
    router = Router.from_config(cfg.alerting.routes, cfg.alerting.contacts)
    assert ("email",) == next(
        d for d in router.route({"severity": "P0"}) if d.receiver == "team"
    ).channels
    notes = [w.message for w in warnings]
    assert "default route P0 reaches 'team' on its own channels (email), not 'slack'" in notes


def test_user_routes_add_receivers_and_a_named_route_replaces_its_default() -> None:
    """A user route for the FX gateway adds the FX desk without taking the on-call's page
    away; a user route named P1 replaces the default P1 route."""
    cfg = load(
        CHANNELS
        + """
alerting:
  contacts:
    fx-desk: {channels: [slack]}
  routes:
    routes:
      - {matchers: [service=fx], receivers: [fx-desk]}
      - {name: P1, matchers: [severity=P1], receivers: ["oncall:pagerduty"]}
"""
        + ENGINE
    )
    router = Router.from_config(cfg.alerting.routes, cfg.alerting.contacts)
    assert ["fx-desk", "oncall:pagerduty", "team:slack", "compliance:email"] == router.receivers(
        {"severity": "P0", "service": "fx"}
    )
    assert ["oncall:pagerduty"] == router.receivers({"severity": "P1", "service": "engine"})


def test_a_user_step_replaces_the_default_rung_of_the_same_name() -> None:
    """The user moves the CTO's rung to 20 min; every other default P0 rung stays."""
    cfg = load(
        CHANNELS
        + """
alerting:
  escalation:
    policies:
      P0:
        steps: [{name: cto, after: 20m, contacts: [cto], level: 4, channels: [phone]}]
"""
        + ENGINE
    )
    steps = {s.name: s.after for s in cfg.alerting.escalation.policies["P0"].steps}
    assert 1200.0 == steps["cto"]
    assert {"oncall": 0.0, "backup-oncall": 120.0, "ceo": 900.0}.items() <= steps.items()
    assert 1200.0 == cfg.alerting.escalation.policies["P0"].ack_bound


def test_replace_defaults_drops_exactly_the_named_defaults() -> None:
    """`replace_defaults: [contacts, routes, escalation.policies]`: only what the user wrote
    remains of those; the default severity rules still apply."""
    cfg = load(
        CHANNELS
        + """
alerting:
  replace_defaults: [contacts, routes, escalation.policies]
  contacts: {desk: {channels: [pagerduty]}}
  routes: {receivers: [desk]}
  escalation:
    policies:
      P0: {steps: [{name: desk, after: 0s, contacts: [desk], level: 1}]}
"""
        + ENGINE
    )
    assert ["desk"] == list(cfg.alerting.contacts)
    assert ["P0"] == list(cfg.alerting.escalation.policies)
    reach = crash_reach(cfg, "engine")
    assert ("P0", [(0.0, "desk", "pagerduty")]) == (
        reach.severity,
        [(p.after, p.contact, p.channel) for p in reach.pages],
    )


def test_a_users_contact_on_an_undeclared_channel_is_an_error_at_that_line() -> None:
    """The user wrote `pagerduyt`: that is an error at its own line (a default naming an
    unconfigured channel is only a warning)."""
    with pytest.raises(InvalidConfig) as caught:
        load(CHANNELS + "alerting:\n  contacts:\n    oncall: {channels: [pagerduyt]}\n")
    (issue,) = caught.value.issues
    assert (8, "alerting.contacts.oncall.channels[0]") == (issue.line, issue.path)
    assert issue.message.startswith("unknown channel 'pagerduyt': declare it under `channels:`")


def test_unknown_key_messages_list_the_names_a_user_writes() -> None:
    """`continue` and `for` are what work in YAML: the allowed-keys list says those, not the
    Python attribute names `continue_` and `for_`."""
    with pytest.raises(InvalidConfig) as caught:
        load(
            """
alerting:
  routes: {routes: [{matchers: [a=b], receivers: [oncall], continu: true}]}
services:
  engine:
    resources:
      metrics: [{name: m, above: 1, for: 2s, fo: 1s}]
"""
        )
    messages = [i.message for i in caught.value.issues]
    assert (
        "unknown key; did you mean 'continue'? (allowed: continue, matchers, name, receivers,"
        " routes)"
    ) in messages
    assert "unknown key; did you mean 'for'? (allowed: above, below, for, kind, name)" in messages
    assert not any("continue_" in m or "for_" in m for m in messages)


def test_config_check_warns_about_every_default_receiver_that_would_page_the_log(
    tmp_path: Path,
) -> None:
    """The README's channels with `alerting: {}`: exit 0, and one warning per default
    receiver whose channel is not configured (compliance's email, the CTO's and CEO's SMS,
    Jira, the weekly summary), each saying its notifications go to the log, and one per
    default backup channel that is not configured."""
    path = tmp_path / "p.yaml"
    path.write_text(CHANNELS + "alerting: {}\n" + ENGINE)
    result = CliRunner().invoke(app, ["config", "check", str(path)], env=ENV)
    assert 0 == result.exit_code, result.output
    warned = sorted(
        line.split("contact ")[1].split(" (")[0]
        for line in result.output.splitlines()
        if "is reached on channel" in line
    )
    assert [
        "'ceo' is reached on channel 'sms'",
        "'compliance' is reached on channel 'email'",
        "'cto' is reached on channel 'sms'",
        "'jira' is reached on channel 'jira'",
        "'weekly-summary' is reached on channel 'weekly-summary'",
    ] == warned
    backups = [line for line in result.output.splitlines() if "the backup of channel" in line]
    assert [
        "the backup of channel 'slack' is 'email', which is not configured",
        "the backup of channel 'phone' is 'sms', which is not configured",
    ] == [line.split("alerting: ")[1].split(":")[0] for line in backups]
    assert "ok (7 warning(s))" == result.output.splitlines()[-1]


def test_an_undeclared_store_failure_channel_is_an_error_at_that_line() -> None:
    """The emergency page for store trouble must reach a declared channel: a misspelt name
    is an error at its own line, not a page lost when the disk is full."""
    with pytest.raises(InvalidConfig) as caught:
        load(CHANNELS + "alerting:\n  store_failure_channels: [slack, pagerduyt]\n")
    (issue,) = caught.value.issues
    assert (7, "alerting.store_failure_channels[1]") == (issue.line, issue.path)
    assert issue.message.startswith("unknown channel 'pagerduyt': declare it under `channels:`")


def test_the_defaults_built_once_are_not_changed_by_a_config_that_adapts_them() -> None:
    """The validated defaults are shared by every parse: a config that replaces a contact,
    overrides a rung and replaces the routes adapts its own copies, and the next empty
    config is the default policy to the letter."""
    before = AlertingConfig.model_validate({}).model_dump()
    adapted = AlertingConfig.model_validate(
        {
            "contacts": {"team": {"channels": ["email"]}, "oncall": {"channels": ["phone"]}},
            "escalation": {
                "policies": {
                    "P0": {
                        "steps": [{"name": "cto", "after": "1m", "contacts": ["ceo"], "level": 4}]
                    }
                }
            },
            "replace_defaults": ["routes"],
        }
    )
    assert adapted.notes
    assert before == AlertingConfig.model_validate({}).model_dump()
    assert AlertingConfig.model_validate({}).contacts is not AlertingConfig().contacts


def test_crash_reach_pages_at_once_whom_the_service_pages_at_once() -> None:
    """The default P0 route pages `oncall:pagerduty`; the ladder's +0 rung names `oncall`:
    the service pages oncall once (the rung skips a contact the route reached), and so does
    the check's account of a crash."""
    cfg = load(CHANNELS + ENGINE)
    reach = crash_reach(cfg, "engine")
    at_once = sorted((p.contact, p.channel) for p in reach.pages if p.after == 0)
    assert [("compliance", "email"), ("oncall", "pagerduty"), ("team", "slack")] == at_once
