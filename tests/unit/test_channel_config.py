"""The `channels:` config: each kind's shape, exactly one kind, secrets only by reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from paramedic.alerting.channels.registry import build_channels
from paramedic.config import InvalidConfig, parse_config
from paramedic.config.channels import ChannelConfig, validate_channels

TOKEN = "R0UTING-KEY-do-not-print-0123456789"  # a test value
ENV = {
    "PD_KEY": TOKEN,
    "SLACK_URL": "https://hooks.slack.com/services/T1/B1/" + TOKEN,
    "APPRISE_URL": f"json://localhost/{TOKEN}",
}

FULL: dict[str, Any] = {
    "oncall": {"pagerduty": {"routing_key_env": "PD_KEY", "timeout": "2s"}},
    "team": {"slack": {"webhook_url_env": "SLACK_URL"}},
    "internal": {"webhook": {"url": "https://hooks.example/p", "secret_env": "PD_KEY"}},
    "am": {"alertmanager": {"url": "http://alertmanager:9093"}},
    "tickets": {
        "jira": {
            "url": "https://acme.atlassian.net",
            "project": "OPS",
            "email": "bot@acme.com",
            "api_token_env": "PD_KEY",
            "priority_map": {"P0": "Blocker"},
        }
    },
    "compliance": {
        "email": {
            "host": "smtp.acme.com",
            "username": "paramedic",
            "password_env": "PD_KEY",
            "sender": "paramedic@acme.com",
            "to": ["compliance@acme.com"],
        }
    },
    "phone": {"apprise": {"url_env": "APPRISE_URL"}},
    "audit": {"log": {}},
    "team-bot": {"slack_bot": {"token_env": "PD_KEY", "channel": "C0123456789"}},
}


def errors(data: Any, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        validate_channels(data, ENV if env is None else env)
    text = str(caught.value)
    assert TOKEN not in text, "a secret leaked into an error message"
    return [
        (".".join(str(p) for p in e["loc"] if not str(p).startswith("function-")), e["msg"])
        for e in caught.value.errors()
    ]


def test_every_kind_validates_with_defaults() -> None:
    """One of each kind loads; defaults fill in (5 s timeout, the real PagerDuty URL, Bug,
    STARTTLS) and the kind is named."""
    channels = validate_channels(FULL, ENV)
    assert {
        "oncall": "pagerduty",
        "team": "slack",
        "internal": "webhook",
        "am": "alertmanager",
        "tickets": "jira",
        "compliance": "email",
        "phone": "apprise",
        "audit": "log",
        "team-bot": "slack_bot",
    } == {name: c.kind for name, c in channels.items()}
    pd = channels["oncall"].pagerduty
    assert pd is not None
    assert (2.0, "https://events.pagerduty.com/v2/enqueue") == (pd.timeout, pd.url)
    assert TOKEN == pd.secret.get_secret_value()
    jira = channels["tickets"].jira
    assert jira is not None
    assert ("Bug", {"P0": "Blocker"}, 5.0) == (jira.issue_type, jira.priority_map, jira.timeout)
    email = channels["compliance"].email
    assert email is not None
    assert ("starttls", None) == (email.security, email.port)
    am = channels["am"].alertmanager
    assert am is not None
    assert 86400.0 == am.hold
    bot = channels["team-bot"].slack_bot
    assert bot is not None
    assert ("https://slack.com/api", "C0123456789", TOKEN) == (
        bot.url,
        bot.channel,
        bot.secret.get_secret_value(),
    )


def test_secrets_never_in_repr() -> None:
    """Neither the model repr nor str shows a resolved secret."""
    channels = validate_channels(FULL, ENV)
    for config in channels.values():
        assert TOKEN not in repr(config)
        assert TOKEN not in str(config)


def test_secret_from_a_file(tmp_path: Path) -> None:
    """`*_file` is read relative to the config's directory and stripped of its newline."""
    (tmp_path / "pd.key").write_text(TOKEN + "\n")
    channels = validate_channels(
        {"p": {"pagerduty": {"routing_key_file": "pd.key"}}}, {}, base_dir=tmp_path
    )
    pd = channels["p"].pagerduty
    assert pd is not None
    assert TOKEN == pd.secret.get_secret_value()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"x": {"slack": {"webhook_url": ENV["SLACK_URL"]}}},
            [
                (
                    "x.slack",
                    "Value error, webhook_url: secrets are never written inline;"
                    " give webhook_url_env or webhook_url_file",
                )
            ],
        ),
        (
            {"x": {"slack_bot": {"token": TOKEN, "channel": "C0123456789"}}},
            [
                (
                    "x.slack_bot",
                    "Value error, token: secrets are never written inline;"
                    " give token_env or token_file",
                )
            ],
        ),
        (
            {"x": {"slack_bot": {"token_env": "PD_KEY", "channel": "#trading"}}},
            [
                (
                    "x.slack_bot.channel",
                    "Value error, '#trading' is not a channel id: give the id Slack shows in"
                    " the channel's details (such as C0123456789), not its name",
                )
            ],
        ),
        (
            {"x": {"pagerduty": {"routing_key": TOKEN}}},
            [
                (
                    "x.pagerduty",
                    "Value error, routing_key: secrets are never written inline;"
                    " give routing_key_env or routing_key_file",
                )
            ],
        ),
        (
            {"x": {"pagerduty": {}}},
            [
                (
                    "x.pagerduty",
                    "Value error, routing_key_env: give exactly one of routing_key_env or"
                    " routing_key_file",
                )
            ],
        ),
        (
            {"x": {"slack": {"webhook_url_env": "NOPE"}}},
            [
                (
                    "x.slack",
                    "Value error, webhook_url_env: environment variable NOPE is not set; export it",
                )
            ],
        ),
        (
            {"x": {"slack": {"webhook_url_env": "SLACK_URL"}, "log": {}}},
            [
                (
                    "x",
                    "Value error, a channel names exactly one kind of webhook, slack,"
                    " pagerduty, alertmanager, jira, email, apprise, log, slack_bot;"
                    " got slack, log",
                )
            ],
        ),
        (
            {"x": {}},
            [
                (
                    "x",
                    "Value error, a channel names exactly one kind of webhook, slack,"
                    " pagerduty, alertmanager, jira, email, apprise, log, slack_bot; got none",
                )
            ],
        ),
        (
            {"x": {"log": {"timout": "5s"}}},
            [("x.log.timout", "Extra inputs are not permitted")],
        ),
        (
            {"x": {"log": {"timeout": 5}}},
            [("x.log.timeout", "Value error, 5 has no unit; write e.g. 5ms or 5s")],
        ),
        (
            {"x": {"log": {"timeout": "0s"}}},
            [("x.log.timeout", "Input should be greater than 0")],
        ),
        (
            {"x": {"alertmanager": {"url": "alertmanager:9093"}}},
            [("x.alertmanager.url", "Value error, must be an http:// or https:// URL")],
        ),
        (
            {"x": {"webhook": {"url": "https://h.example/p", "secret_env": "PD_KEY", "k": TOKEN}}},
            [("x.webhook.k", "Extra inputs are not permitted")],
        ),
        (
            {"Bad Name": {"log": {}}},
            [
                (
                    "Bad Name.[key]",
                    "Value error, channel name 'Bad Name' must be 1-64 characters of a-z, 0-9,"
                    " '_', '.', '-', starting with a letter or digit",
                )
            ],
        ),
        (
            {"x": {"email": {"host": "h", "sender": "a@b", "to": [], "password_env": "PD_KEY"}}},
            [("x.email.to", "List should have at least 1 item after validation, not 0")],
        ),
        (
            {"x": {"email": {"host": "h", "sender": "a@b", "to": ["c@d"], "password_env": "P"}}},
            [
                (
                    "x.email",
                    "Value error, username: a password is given but no username to log in with",
                )
            ],
        ),
        (
            {"x": {"apprise": {"url_env": "PD_KEY"}}},
            [("x.apprise", "Value error, url_env: the value is not a URL (scheme://...)")],
        ),
    ],
)
def test_invalid_channels_name_the_field(
    data: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    """Each mistake is reported at its place with a message saying what to write instead,
    and no secret (even one written inline by mistake) appears in the error text."""
    assert expected == errors(data)


async def test_registry_builds_one_adapter_per_channel() -> None:
    """build_channels turns every config kind into its adapter, named as configured."""
    configs: dict[str, ChannelConfig] = validate_channels(FULL, ENV)
    async with aiohttp.ClientSession() as session:
        channels = build_channels(configs, session)
        assert {name: c.kind for name, c in channels.items()} == {
            name: c.kind for name, c in configs.items()
        }
        assert {n: n for n in configs} == {n: c.name for n, c in channels.items()}
        for channel in channels.values():
            await channel.close()


def test_whole_file_loader_locates_channel_mistakes_without_secrets() -> None:
    """Through the real loader (`parse_config`), a channel mistake is reported at its line and
    key with the fix to make, and an inline secret written by mistake is never echoed."""
    source = (
        "channels:\n"
        "  oncall:\n"
        "    pagerduty:\n"
        f"      routing_key: {TOKEN}\n"
        "  team:\n"
        "    slack: {webhook_url_env: SLACK_URL, timout: 5s}\n"
    )
    with pytest.raises(InvalidConfig) as caught:
        parse_config(source, env=ENV)
    text = str(caught.value)
    assert TOKEN not in text
    assert [
        "<config>:4:7: channels.oncall.pagerduty.routing_key: secrets are never written inline;"
        " give routing_key_env or routing_key_file",
        "<config>:6:41: channels.team.slack.timout: unknown key; did you mean 'timeout'?"
        " (allowed: timeout, webhook_url_env, webhook_url_file)",
    ] == text.splitlines()
