"""The `channels:` section: where notifications can go, one provider per named channel.

Shape (each channel names exactly one kind)::

    channels:
      oncall:    {pagerduty: {routing_key_env: PD_ROUTING_KEY}}
      team:      {slack: {webhook_url_file: /run/secrets/slack_url, timeout: 3s}}
      team-bot:  {slack_bot: {token_env: SLACK_BOT_TOKEN, channel: C0123456789}}
      internal:  {webhook: {url: "https://hooks.example/paramedic", secret_env: HOOK_SECRET}}
      am:        {alertmanager: {url: "http://alertmanager:9093"}}
      tickets:   {jira: {url: "https://acme.atlassian.net", project: OPS,
                         email: bot@acme.com, api_token_env: JIRA_TOKEN}}
      compliance: {email: {host: smtp.acme.com, username: paramedic, password_env: SMTP_PW,
                           sender: paramedic@acme.com, to: [compliance@acme.com]}}
      phone:     {apprise: {url_env: TWILIO_APPRISE_URL}}
      audit:     {log: {}}

Secrets (keys, tokens, URLs that embed tokens) are given only as `<name>_env` or `<name>_file`
and resolved at load into `SecretStr`, so the file can be committed and no repr or error shows
one (`config.types.SecretRef`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationInfo,
    model_validator,
)

from paramedic.config.types import Duration, SecretRef, StrictModel, check_name
from paramedic.core.severity import Severity

__all__ = [
    "CHANNEL_KINDS",
    "AlertmanagerConfig",
    "AppriseConfig",
    "ChannelConfig",
    "Channels",
    "EmailConfig",
    "JiraConfig",
    "LogChannelConfig",
    "PagerDutyConfig",
    "SlackConfig",
    "WebhookConfig",
    "validate_channels",
]

CHANNEL_KINDS = (
    "webhook",
    "slack",
    "pagerduty",
    "alertmanager",
    "jira",
    "email",
    "apprise",
    "log",
    "slack_bot",
)


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        msg = "must be an http:// or https:// URL"
        raise ValueError(msg)
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class _Kind(SecretRef):
    """Every channel kind: strict keys, a per-attempt timeout, and inputs kept out of errors."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    _ref: ClassVar[str] = ""  # base name of the kind's secret reference; "" when none

    timeout: Annotated[Duration, Field(gt=0)] = 5.0

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        name = cls._ref
        if name and isinstance(data, dict) and name in data:
            msg = f"{name}: secrets are never written inline; give {name}_env or {name}_file"
            raise ValueError(msg)
        return data

    @model_validator(mode="after")
    def _load_secret(self, info: ValidationInfo) -> Self:
        if self._ref and self._needs_secret():
            env_name = getattr(self, f"{self._ref}_env")
            self._resolve(self._ref, env_name, getattr(self, f"{self._ref}_file"), info)
        return self

    def _needs_secret(self) -> bool:
        return True


class WebhookConfig(_Kind):
    """Our signed JSON webhook; the HMAC secret lets the receiver trust what it gets."""

    _ref = "secret"
    url: HttpUrl
    secret_env: str | None = None
    secret_file: Path | None = None


class SlackConfig(_Kind):
    """A Slack incoming webhook; its URL carries the token, so it is a secret."""

    _ref = "webhook_url"
    webhook_url_env: str | None = None
    webhook_url_file: Path | None = None


def _slack_channel_id(value: str) -> str:
    if not re.fullmatch(r"[A-Z0-9]{9,}", value):
        msg = (
            f"{value!r} is not a channel id: give the id Slack shows in the channel's details"
            " (such as C0123456789), not its name"
        )
        raise ValueError(msg)
    return value


class SlackBotConfig(_Kind):
    """Slack's Web API with a bot token (chat:write): pages that are updated in place."""

    _ref = "token"
    token_env: str | None = None
    token_file: Path | None = None
    channel: Annotated[str, AfterValidator(_slack_channel_id)]
    url: HttpUrl = "https://slack.com/api"


class PagerDutyConfig(_Kind):
    """PagerDuty Events API v2; `url` is overridable for tests and EU service regions."""

    _ref = "routing_key"
    routing_key_env: str | None = None
    routing_key_file: Path | None = None
    url: HttpUrl = "https://events.pagerduty.com/v2/enqueue"
    source: str | None = None


class AlertmanagerConfig(_Kind):
    """Alertmanager base URL; `hold` keeps a pushed alert firing until we resolve it."""

    url: HttpUrl
    hold: Duration = 86400.0


def _default_priorities() -> dict[Severity, str]:
    return {"P0": "Highest", "P1": "High", "P2": "Medium", "P3": "Low"}


class JiraConfig(_Kind):
    """Jira Cloud: tickets for follow-up, created on trigger only."""

    _ref = "api_token"
    url: HttpUrl
    project: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,254}$")
    issue_type: str = "Bug"
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    api_token_env: str | None = None
    api_token_file: Path | None = None
    priority_map: dict[Severity, str] = Field(default_factory=_default_priorities)
    labels: list[str] = Field(default_factory=lambda: ["paramedic"])


class EmailConfig(_Kind):
    """SMTP submission; the password is needed only when a username is given."""

    _ref = "password"
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)

    def _needs_secret(self) -> bool:
        if self.username is None and (self.password_env or self.password_file):
            msg = "username: a password is given but no username to log in with"
            raise ValueError(msg)
        return self.username is not None

    @property
    def password(self) -> SecretStr | None:
        return self._secret


class AppriseConfig(_Kind):
    """Any Apprise URL (twilio://, msteams://, tgram://, ntfy://, pover://, fcm://...)."""

    _ref = "url"
    url_env: str | None = None
    url_file: Path | None = None

    @model_validator(mode="after")
    def _is_url(self) -> AppriseConfig:
        if "://" not in self.secret.get_secret_value():
            msg = "url_env: the value is not a URL (scheme://...)"
            raise ValueError(msg)
        return self


class LogChannelConfig(_Kind):
    """The structured log; needs nothing."""


class ChannelConfig(StrictModel):
    """One named channel: exactly one of the kind keys."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    webhook: WebhookConfig | None = None
    slack: SlackConfig | None = None
    pagerduty: PagerDutyConfig | None = None
    alertmanager: AlertmanagerConfig | None = None
    jira: JiraConfig | None = None
    email: EmailConfig | None = None
    apprise: AppriseConfig | None = None
    log: LogChannelConfig | None = None
    slack_bot: SlackBotConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [k for k in CHANNEL_KINDS if k in data]
            if len(given) != 1:
                found = f"got {', '.join(given)}" if given else "got none"
                msg = f"a channel names exactly one kind of {', '.join(CHANNEL_KINDS)}; {found}"
                raise ValueError(msg)
        return data

    @property
    def kind(self) -> str:
        return next(k for k in CHANNEL_KINDS if getattr(self, k) is not None)


ChannelName = Annotated[str, AfterValidator(partial(check_name, "channel"))]
Channels = dict[ChannelName, ChannelConfig]
"""The top-level `channels:` mapping, name -> channel."""

_CHANNELS: TypeAdapter[dict[str, ChannelConfig]] = TypeAdapter(
    Channels, config=ConfigDict(hide_input_in_errors=True)
)


def validate_channels(
    data: Any, env: Mapping[str, str], base_dir: Path | str = "."
) -> dict[str, ChannelConfig]:
    """Validate a `channels:` mapping on its own (the whole-file loader embeds `Channels`).

    pydantic prints the offending input only per the outermost model's settings, so this entry
    point hides inputs: an inline secret written by mistake never reaches an error message.
    """
    return _CHANNELS.validate_python(data, context={"env": env, "base_dir": Path(base_dir)})
