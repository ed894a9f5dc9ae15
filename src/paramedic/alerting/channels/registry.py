"""Build live channels from validated config, so the rest of alerting sees only `Channel`.

Secrets were resolved when the config was validated (from the environment or files, as every
paramedic secret is); here they only move from config objects into adapters.
"""

from __future__ import annotations

from collections.abc import Mapping

from paramedic.alerting.channels.alertmanager import AlertmanagerChannel
from paramedic.alerting.channels.apprise_channel import AppriseChannel
from paramedic.alerting.channels.base import Channel
from paramedic.alerting.channels.email import EmailChannel
from paramedic.alerting.channels.jira import JiraChannel
from paramedic.alerting.channels.log import LogChannel
from paramedic.alerting.channels.pagerduty import PagerDutyChannel
from paramedic.alerting.channels.slack import SlackChannel
from paramedic.alerting.channels.slack_bot import SlackBotChannel
from paramedic.alerting.channels.webhook import WebhookChannel
from paramedic.checks import HttpPool
from paramedic.config.channels import ChannelConfig

__all__ = ["build_channel", "build_channels"]


def build_channel(name: str, config: ChannelConfig, http: HttpPool) -> Channel:
    c = config
    if c.webhook is not None:
        w = c.webhook
        return WebhookChannel(name, http, url=w.url, secret=w.secret, timeout=w.timeout)
    if c.slack is not None:
        return SlackChannel(name, http, webhook_url=c.slack.secret, timeout=c.slack.timeout)
    if c.slack_bot is not None:
        b = c.slack_bot
        return SlackBotChannel(
            name, http, token=b.secret, channel=b.channel, url=b.url, timeout=b.timeout
        )
    if c.pagerduty is not None:
        p = c.pagerduty
        return PagerDutyChannel(
            name, http, routing_key=p.secret, url=p.url, source=p.source, timeout=p.timeout
        )
    if c.alertmanager is not None:
        a = c.alertmanager
        return AlertmanagerChannel(name, http, url=a.url, hold=a.hold, timeout=a.timeout)
    if c.jira is not None:
        j = c.jira
        return JiraChannel(
            name,
            http,
            url=j.url,
            project=j.project,
            email=j.email,
            api_token=j.secret,
            issue_type=j.issue_type,
            priorities=j.priority_map,
            labels=j.labels,
            timeout=j.timeout,
        )
    if c.email is not None:
        e = c.email
        return EmailChannel(
            name,
            host=e.host,
            port=e.port,
            security=e.security,
            username=e.username,
            password=e.password,
            sender=e.sender,
            to=e.to,
            ca_file=e.ca_file,
            timeout=e.timeout,
        )
    if c.apprise is not None:
        return AppriseChannel(name, url=c.apprise.secret, timeout=c.apprise.timeout)
    return LogChannel(name)


def build_channels(configs: Mapping[str, ChannelConfig], http: HttpPool) -> dict[str, Channel]:
    """One adapter per configured channel, all sharing `http` (keep-alive per provider)."""
    return {name: build_channel(name, config, http) for name, config in configs.items()}
