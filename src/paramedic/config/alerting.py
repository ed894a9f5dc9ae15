"""Config for the `alerting:` section; an empty `alerting: {}` is the seed's policy.

The seed's tables (2.1 severities, 2.2 recipients, 2.5 and 7.2 escalation, 2.6 dedup) are
the defaults below, written out in full so that a reader of this file sees the whole policy
that pages people, and an operator overrides one table without restating the others.

```yaml
alerting:
  template_dir: /etc/paramedic/templates      # overrides of text.j2, slack.j2, ...
  dedup_window: 5m
  grouping: {group_by: [service, type], group_wait: 30s, group_interval: 5m,
             severities: [P2, P3]}            # P0/P1 are never held back
  rate_limit: {max_per_receiver: 20, window: 1h}   # P2/P3 only; P0/P1 are never limited
  contacts: {oncall: {display: "Alice (+1-555-0100)", channels: [pagerduty]}, ...}
  severity_rules:                            # first match wins
    - {severity: P0, kinds: [crash, hang], tiers: [1], reason: all trading halted}
  routes:                                    # Alertmanager-like; `continue` keeps matching
    routes:
      - {matchers: [severity=P0], receivers: [oncall, "team-lead:phone"]}
  escalation:
    ack_ttl: 30m
    channel_failures: 3
    backup_channels: {pagerduty: phone}
    policies:
      P0: {ack_bound: 20m, steps: [{name: oncall, after: 0s, contacts: [oncall], level: 1}]}
  silences: [{matchers: [service=engine-2], ends: "2026-01-02T18:00:00Z", author: bob,
              comment: "rebuild"}]
  inhibit_rules: [{source: [kind=network_partition], target: [tier=1], equal: [venue]}]
  maintenance_windows:
    - {name: weekend, matchers: [], timezone: America/New_York,
       weekly: {days: [sat], start: "22:00", duration: 4h}}
```
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from paramedic.alerting.model import Matcher, Severity
from paramedic.config.types import Duration, StrictModel, TimeZoneName, repeated

__all__ = [
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
    """One node of the route tree; receivers are `contact` or `contact:channel`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    matchers: list[str] = []
    receivers: list[str] = []
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteConfig] = []

    _check = field_validator("matchers")(_matchers)


class EscalationStepConfig(StrictModel):
    """`until: ack` steps (seed 2.5) wait for no acknowledgement; `until: resolve` steps (7.2)
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


def _step(name: str, minutes: float, contacts: list[str], level: int, **kw: object) -> object:
    return {"name": name, "after": f"{minutes:g}m", "contacts": contacts, "level": level, **kw}


_OUTAGE = [  # seed 7.2: escalation by outage length, whether or not someone acknowledged
    _step("outage-team-lead", 15, ["team-lead"], 2, until="resolve"),
    _step("outage-manager", 30, ["engineering-manager"], 3, until="resolve"),
    _step("outage-cto", 60, ["cto"], 4, until="resolve"),
    _step("outage-ceo", 120, ["ceo"], 5, until="resolve"),
]


def _default_policies() -> dict[Severity, EscalationPolicyConfig]:
    raw: dict[Severity, object] = {
        "P0": {
            "ack_bound": "20m",
            "steps": [
                _step("oncall", 0, ["oncall"], 1),
                _step("backup-oncall", 2, ["backup-oncall"], 1),
                _step("team-lead", 5, ["team-lead"], 2, channels=["phone"]),
                _step("cto", 10, ["cto"], 4, channels=["phone"]),
                _step("ceo", 15, ["ceo"], 5, channels=["phone"]),
                *_OUTAGE,
            ],
        },
        "P1": {
            "ack_bound": "30m",
            "steps": [
                _step("oncall", 0, ["oncall"], 1),
                _step("backup-oncall", 5, ["backup-oncall"], 1),
                _step("team-lead", 15, ["team-lead"], 2),
            ],
        },
        "P2": {
            "steps": [
                _step("team", 0, ["team"], 1, channels=["slack"]),
                _step("team-lead", 60, ["team-lead"], 2, until="resolve"),
            ]
        },
        "P3": {"steps": [_step("log", 0, ["log"], 1)]},
    }
    return {k: EscalationPolicyConfig.model_validate(v) for k, v in raw.items()}


class EscalationConfig(StrictModel):
    ack_ttl: Duration = 1800.0
    channel_failures: int = Field(default=3, ge=1)
    backup_channels: dict[str, str] = {"pagerduty": "phone", "slack": "email", "phone": "sms"}
    policies: dict[Severity, EscalationPolicyConfig] = Field(default_factory=_default_policies)


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


def _default_contacts() -> dict[str, ContactConfig]:
    raw = {  # seed 2.2 and 7.3
        "oncall": ("On-call engineer", ["pagerduty"]),
        "backup-oncall": ("Backup on-call engineer", ["pagerduty"]),
        "team-lead": ("Team lead", ["phone", "slack"]),
        "engineering-manager": ("Engineering manager", ["pagerduty", "phone"]),
        "cto": ("CTO", ["phone", "sms"]),
        "ceo": ("CEO", ["phone", "sms"]),
        "risk-manager": ("Risk manager", ["phone"]),
        "compliance": ("Compliance officer", ["email"]),
        "team": ("All team members", ["slack"]),
        "jira": ("Jira ticket", ["jira"]),
        "log": ("Alert log", ["log"]),
        "weekly-summary": ("Weekly summary email", ["weekly-summary"]),
    }
    return {k: ContactConfig(display=d, channels=c) for k, (d, c) in raw.items()}


def _default_routes() -> RouteConfig:
    return RouteConfig.model_validate(  # seed 2.2, one child per severity
        {
            "routes": [
                {
                    "matchers": ["severity=P0"],
                    "receivers": [
                        "oncall:pagerduty",
                        "backup-oncall:pagerduty",
                        "team-lead:phone",
                        "cto:phone",
                        "risk-manager:phone",
                        "compliance:email",
                        "team:slack",
                    ],
                },
                {
                    "matchers": ["severity=P1"],
                    "receivers": ["oncall:pagerduty", "team-lead:slack", "team:slack"],
                },
                {"matchers": ["severity=P2"], "receivers": ["team:slack", "jira"]},
                {"matchers": ["severity=P3"], "receivers": ["log", "weekly-summary"]},
            ]
        }
    )


def _default_severity_rules() -> list[SeverityRuleConfig]:
    raw: list[dict[str, object]] = [  # seed 2.1 and 7.1; first match wins
        {
            "severity": "P0",
            "needs_human": True,
            "reason": "automatic recovery gave up; a human must act",
        },
        {"severity": "P0", "kinds": ["data_corruption"], "reason": "data corruption detected"},
        {
            "severity": "P0",
            "kinds": ["recovery_failed", "repeated_recovery_failures"],
            "reason": "automated recovery failed",
        },
        {
            "severity": "P0",
            "kinds": ["validation_failed"],
            "reason": "critical validation failed after recovery",
        },
        {
            "severity": "P0",
            "kinds": ["crash", "hang"],
            "tiers": [1],
            "reason": "all trading halted",
        },
        {
            "severity": "P0",
            "kinds": ["network_partition"],
            "min_upstream_down": 2,
            "reason": "multiple exchange connections lost",
        },
        {
            "severity": "P1",
            "kinds": ["approval_timeout"],
            "reason": "no human answered the approval request",
        },
        {
            "severity": "P1",
            "kinds": ["rto_exceeded"],
            "reason": "recovery is taking longer than its RTO",
        },
        {
            "severity": "P1",
            "kinds": ["position_discrepancy"],
            "reason": "position discrepancy detected",
        },
        {
            "severity": "P1",
            "kinds": ["network_partition"],
            "reason": "single exchange connection lost",
        },
        {"severity": "P1", "kinds": ["disk_full"], "reason": "disk full: writes will fail"},
        {"severity": "P1", "kinds": ["db_connection_loss"], "reason": "database connection lost"},
        {"severity": "P1", "kinds": ["crash", "hang"], "reason": "major functionality impaired"},
        {"severity": "P1", "states": ["recovering"], "reason": "recovery in progress"},
        {
            "severity": "P2",
            "kinds": ["degradation"],
            "reason": "degraded: running but not fit to trade",
        },
        {"severity": "P2", "kinds": ["memory_leak"], "reason": "memory usage climbing"},
        {"severity": "P3", "reason": "informational"},
    ]
    return [SeverityRuleConfig.model_validate(r) for r in raw]


class AlertingConfig(StrictModel):
    template_dir: Path | None = None
    dedup_window: Duration = 300.0
    grouping: GroupingConfig = GroupingConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    contacts: dict[str, ContactConfig] = Field(default_factory=_default_contacts)
    severity_rules: list[SeverityRuleConfig] = Field(default_factory=_default_severity_rules)
    routes: RouteConfig = Field(default_factory=_default_routes)
    escalation: EscalationConfig = EscalationConfig()
    silences: list[SilenceConfig] = []
    inhibit_rules: list[InhibitRuleConfig] = []
    maintenance_windows: list[MaintenanceWindowConfig] = []

    @model_validator(mode="after")
    def _known_contacts(self) -> AlertingConfig:
        def check(where: str, receiver: str) -> None:
            contact, _, channel = receiver.partition(":")
            known = self.contacts.get(contact)
            if known is None:
                msg = f"{where}: unknown contact {contact!r}; contacts are {sorted(self.contacts)}"
                raise ValueError(msg)
            if channel and channel not in known.channels:
                msg = f"{where}: contact {contact!r} has no channel {channel!r} ({known.channels})"
                raise ValueError(msg)

        def walk(route: RouteConfig, where: str) -> None:
            for r in route.receivers:
                check(f"{where}.receivers", r)
            for i, child in enumerate(route.routes):
                walk(child, f"{where}.routes[{i}]")

        walk(self.routes, "routes")
        for sev, policy in self.escalation.policies.items():
            for i, step in enumerate(policy.steps):
                for c in step.contacts:
                    check(f"escalation.policies.{sev}.steps[{i}].contacts", c)
        return self
