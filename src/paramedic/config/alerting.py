"""Config for the `alerting:` section; an empty `alerting: {}` is the seed's policy.

The defaults (`alerting_defaults.py`: seed 2.1 severities, 2.2 recipients, 2.5 and 7.2
escalation) and what a user writes MERGE, so that one added rule never removes what the
defaults page (the way `severity_rules: [one rule]` once turned a tier-1 crash into a P3):

- `severity_rules`: the user's rules are evaluated first, then the defaults;
- `contacts`, `escalation.backup_channels`: by name; a user entry replaces that default;
- `routes`: the user's tree adds receivers to the default tree; a top-level user route named
  like a default one (`P0`..`P3`) replaces it;
- `escalation.policies`: by severity, then steps by name (a user step replaces that rung).

`replace_defaults: true` (or a list of those keys) drops the defaults instead. A default
that names a contact the user replaced is adapted, never an error: the user did not write it
(`notes` says what changed, and `paramedic config check` prints it).

```yaml
alerting:
  template_dir: /etc/paramedic/templates      # overrides of text.j2, slack.j2, ...
  dedup_window: 5m
  grouping: {group_by: [service, type], group_wait: 30s, group_interval: 5m,
             severities: [P2, P3]}            # P0/P1 are never held back
  rate_limit: {max_per_receiver: 20, window: 1h}   # P2/P3 only; P0/P1 are never limited
  replace_defaults: false                    # or true, or [severity_rules, routes, ...]
  contacts: {oncall: {display: "Alice (+1-555-0100)", channels: [pagerduty]}}
  severity_rules:                            # first match wins; yours before the defaults
    - {severity: P3, labels: [env=staging], reason: staging}
  routes:                                    # Alertmanager-like; `continue` keeps matching
    routes:
      - {matchers: [service=fx-gateway], receivers: [fx-team]}
  escalation:
    ack_ttl: 30m
    channel_failures: 3
    backup_channels: {pagerduty: phone}
    policies:
      P0: {steps: [{name: cto, after: 20m, contacts: [cto], level: 4}]}
  silences: [{matchers: [service=engine-2], ends: "2026-01-02T18:00:00Z", author: bob,
              comment: "rebuild"}]
  inhibit_rules: [{source: [kind=network_partition], target: [tier=1], equal: [venue]}]
  maintenance_windows:
    - {name: weekend, matchers: [], timezone: America/New_York,
       weekly: {days: [sat], start: "22:00", duration: 4h}}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Literal, cast, get_args

from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from paramedic.config import alerting_defaults as defaults
from paramedic.config.types import (
    Duration,
    PositiveDuration,
    StrictModel,
    TimeZoneName,
    repeated,
)
from paramedic.core.labels import Matcher
from paramedic.core.severity import Severity

__all__ = [
    "REPLACEABLE",
    "AlertingConfig",
    "ContactConfig",
    "EscalationConfig",
    "EscalationPolicyConfig",
    "EscalationStepConfig",
    "GroupingConfig",
    "InhibitRuleConfig",
    "MaintenanceWindowConfig",
    "RateLimitConfig",
    "RouteConfig",
    "SeverityRuleConfig",
    "SilenceConfig",
    "WeeklyWindow",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _matchers(values: list[str]) -> list[str]:
    for text in values:
        Matcher.parse(text)  # raises ValueError naming the bad matcher
    return values


class ContactConfig(StrictModel):
    """A person or a group; `channels` are channel names defined in the channels section."""

    display: str = ""
    channels: list[str] = Field(min_length=1)


class SeverityRuleConfig(StrictModel):
    """Empty lists mean "any"; `reason` is the sentence shown with the severity."""

    severity: Severity
    reason: str = Field(min_length=1)
    kinds: list[str] = []
    states: list[str] = []
    tiers: list[int] = []
    labels: list[str] = []
    needs_human: bool | None = None
    min_upstream_down: int = Field(default=0, ge=0)

    _check = field_validator("labels")(_matchers)


class RouteConfig(StrictModel):
    """One node of the route tree; receivers are `contact` or `contact:channel`. A `name` on
    a top-level route lets it replace the default route of that name (`P0`..`P3`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = ""
    matchers: list[str] = []
    receivers: list[str] = []
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteConfig] = []

    _check = field_validator("matchers")(_matchers)


class EscalationStepConfig(StrictModel):
    """`until: ack` steps wait for no acknowledgement; `until: resolve` steps
    fire on outage length even when someone has acknowledged."""

    name: str = Field(min_length=1)
    after: Duration
    contacts: list[str] = Field(min_length=1)
    channels: list[str] = []
    level: int = Field(ge=1)
    until: Literal["ack", "resolve"] = "ack"


class EscalationPolicyConfig(StrictModel):
    steps: list[EscalationStepConfig] = Field(min_length=1)
    ack_bound: Duration | None = None

    @field_validator("steps")
    @classmethod
    def _unique(cls, steps: list[EscalationStepConfig]) -> list[EscalationStepConfig]:
        if dupes := repeated(s.name for s in steps):
            msg = f"step names must be unique (they are kept across restarts): {dupes}"
            raise ValueError(msg)
        return steps


# The defaults, validated once per process and shared read-only: every parse used to build
# them twice (field defaults, then the merge), most of a validated config's cost. Config
# models are never changed in place (the merge makes copies), so one instance serves all.
@cache
def default_policy_models() -> Mapping[Severity, EscalationPolicyConfig]:
    return MappingProxyType(
        {
            k: EscalationPolicyConfig.model_validate(v)  # type: ignore[misc]
            for k, v in defaults.default_policies().items()
        }
    )


class EscalationConfig(StrictModel):
    ack_ttl: Duration = 1800.0
    channel_failures: int = Field(default=3, ge=1)
    backup_channels: dict[str, str] = Field(default_factory=defaults.default_backup_channels)
    policies: dict[Severity, EscalationPolicyConfig] = Field(
        default_factory=lambda: dict(default_policy_models())
    )


class GroupingConfig(StrictModel):
    group_by: list[str] = ["service", "type"]
    group_wait: Duration = 30.0
    group_interval: Duration = 300.0
    severities: list[Severity] = ["P2", "P3"]

    @field_validator("severities")
    @classmethod
    def _never_hold_pages(cls, value: list[Severity]) -> list[Severity]:
        if {"P0", "P1"} & set(value):
            msg = "P0 and P1 are never held back for grouping; list only P2 and/or P3"
            raise ValueError(msg)
        return value


class RateLimitConfig(StrictModel):
    max_per_receiver: int = Field(default=20, ge=1)
    window: Duration = 3600.0


class SilenceConfig(StrictModel):
    """A static silence; `ends: null` with `until_resolved: true` ends with the alert."""

    id: str = ""
    matchers: list[str] = Field(min_length=1)
    starts: datetime | None = None
    ends: datetime | None = None
    until_resolved: bool = False
    author: str = Field(min_length=1)
    comment: str = Field(min_length=1)

    _check = field_validator("matchers")(_matchers)

    @model_validator(mode="after")
    def _has_end(self) -> SilenceConfig:
        if self.ends is None and not self.until_resolved:
            msg = "a silence needs `ends` or `until_resolved: true`; silences never last forever"
            raise ValueError(msg)
        for name in ("starts", "ends"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                msg = f"{name}: give a time zone (e.g. 2026-01-02T18:00:00Z)"
                raise ValueError(msg)
        return self


class InhibitRuleConfig(StrictModel):
    source: list[str] = Field(min_length=1)
    target: list[str] = Field(min_length=1)
    equal: list[str] = []

    _check = field_validator("source", "target")(_matchers)


class WeeklyWindow(StrictModel):
    days: list[Weekday] = Field(min_length=1)
    start: time
    duration: Duration


class OnceWindow(StrictModel):
    start: datetime
    end: datetime


class MaintenanceWindowConfig(StrictModel):
    name: str = Field(min_length=1)
    matchers: list[str] = []
    timezone: TimeZoneName = "UTC"
    weekly: WeeklyWindow | None = None
    once: OnceWindow | None = None

    _check = field_validator("matchers")(_matchers)

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindowConfig:
        if (self.weekly is None) == (self.once is None):
            msg = "give exactly one of `weekly` or `once`"
            raise ValueError(msg)
        return self


Replaceable = Literal[
    "contacts", "severity_rules", "routes", "escalation.policies", "escalation.backup_channels"
]
REPLACEABLE: tuple[str, ...] = get_args(Replaceable)
"""The defaulted keys that merge with the user's entries unless `replace_defaults` names them."""


@cache
def default_contact_models() -> Mapping[str, ContactConfig]:
    return MappingProxyType(
        {k: ContactConfig.model_validate(v) for k, v in defaults.default_contacts().items()}
    )


@cache
def default_route_model() -> RouteConfig:
    return RouteConfig.model_validate(defaults.default_routes())


@cache
def default_rule_models() -> tuple[SeverityRuleConfig, ...]:
    return tuple(SeverityRuleConfig.model_validate(r) for r in defaults.default_severity_rules())


class AlertingConfig(StrictModel):
    """After validation the fields hold the EFFECTIVE policy: the defaults merged with what
    the user wrote (module docstring). `notes` says where a default had to be adapted."""

    template_dir: Path | None = None
    dedup_window: Duration = 300.0
    grouping: GroupingConfig = Field(default_factory=GroupingConfig)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    replace_defaults: bool | list[Replaceable] = False
    contacts: dict[str, ContactConfig] = Field(
        default_factory=lambda: dict(default_contact_models())
    )
    severity_rules: list[SeverityRuleConfig] = Field(
        default_factory=lambda: list(default_rule_models())
    )
    routes: RouteConfig = Field(default_factory=default_route_model)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    silences: list[SilenceConfig] = []
    inhibit_rules: list[InhibitRuleConfig] = []
    maintenance_windows: list[MaintenanceWindowConfig] = []
    # Channels paged directly (no outbox row, no store write) when the store is degraded and
    # for each failure detected while it is: the page that works when the disk is full.
    store_failure_channels: list[str] = []
    # Who gets the recovery's progress pushes and the all-clear, by the incident's severity
    # (P3 incidents get none); a severity the user writes replaces that default list.
    updates: dict[Severity, list[str]] = Field(default_factory=lambda: default_updates())
    # A recovering incident's alert is updated at every change of phase, and with its
    # progress at most this often on the channels that can update a sent message.
    status_updates_every: PositiveDuration = 30.0

    _notes: list[str] = PrivateAttr(default_factory=list)
    _user_contacts: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def notes(self) -> list[str]:
        """Sentences on defaults adapted to the user's entries (for `config check`)."""
        return list(self._notes)

    @property
    def user_contacts(self) -> frozenset[str]:
        """Contacts the user wrote (their channel names must exist; defaults' need not)."""
        return self._user_contacts

    @model_validator(mode="after")
    def _merge_defaults(self) -> AlertingConfig:
        # Imported here: the merge builds the models of this module.
        from paramedic.config.alerting_merge import merge

        merged = merge(self)
        if merged.problems:
            # One line per mistake, each "path: message"; the loader splits and locates them.
            raise ValueError("\n".join(merged.problems))
        self.contacts = merged.contacts
        self.severity_rules = merged.severity_rules
        self.routes = merged.routes
        self.escalation = merged.escalation
        self._notes = merged.notes
        self._user_contacts = merged.user_contacts
        return self

    @model_validator(mode="after")
    def _merge_updates(self) -> AlertingConfig:
        """After `_merge_defaults` (the contacts are the effective ones): the user's lists
        are checked; a default list naming a contact the user removed is adapted."""
        user = self.updates if "updates" in self.model_fields_set else {}
        problems = [
            f"updates.{sev}.{i}: {problem}"
            for sev, receivers in user.items()
            for i, receiver in enumerate(receivers)
            if (problem := _update_problem(sev, receiver, self.contacts)) is not None
        ]
        if problems:
            raise ValueError("\n".join(problems))
        merged = {
            sev: [r for r in receivers if _update_problem(sev, r, self.contacts) is None]
            for sev, receivers in default_updates().items()
        }
        self.updates = {**merged, **{sev: list(r) for sev, r in user.items()}}
        return self


def default_updates() -> dict[Severity, list[str]]:
    return cast("dict[Severity, list[str]]", defaults.default_updates())


def _update_problem(sev: str, receiver: str, contacts: Mapping[str, ContactConfig]) -> str | None:
    if sev == "P3":
        return "P3 incidents get no progress pushes; list receivers under P0, P1 or P2"
    contact, _, channel = receiver.partition(":")
    known = contacts.get(contact)
    if known is None:
        return f"unknown contact {contact!r}; contacts are {', '.join(sorted(contacts))}"
    if channel and channel not in known.channels:
        return (
            f"contact {contact!r} has no channel {channel!r}"
            f" (its channels: {', '.join(known.channels)})"
        )
    return None
