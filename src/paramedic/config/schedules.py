"""Scheduled test pages: proof, every month, that each way of reaching the on-call still
works (a test page per contact method), without waiting for a real outage to find out.

```yaml
test_pages:
  cron: "0 10 1 * *"          # minute hour day-of-month month day-of-week
  timezone: Europe/London
  contacts: [oncall, backup-oncall]
  deliver_within: 2m          # not delivered by then: a P2 naming the contact and channel
  ack_within: 15m             # delivered but not acknowledged by then: a P2 (default: off)
  while_market_open: false    # postponed to the close (needs recovery.market)
drills:                       # periodic drills
  - {service: engine, kind: crash, cron: "0 18 * * 6", contacts: [oncall]}
```
"""

from __future__ import annotations

from pydantic import Field, field_validator

from paramedic.config.chaos import DrillKind
from paramedic.config.types import PositiveDuration, StrictModel, TimeZoneName
from paramedic.core.cron import Cron, CronError
from paramedic.core.severity import Severity

__all__ = ["ACK_CHANNEL_KINDS", "DrillSchedule", "TestPageSchedule"]

ACK_CHANNEL_KINDS = frozenset({"pagerduty", "slack", "slack_bot", "email", "apprise", "webhook"})
"""Channel kinds held to `ack_within`: each puts the page in front of a person, who answers it
through paramedic's API, CLI or console (no provider's own ack reaches paramedic). Not held:
`log` (paramedic's own log: nobody is paged), `alertmanager` (another alerting system takes
the page over; its silences and acks never come back) and `jira` (a ticket, not a page)."""


def _valid_cron(value: str) -> str:
    try:
        Cron.parse(value)
    except CronError as exc:
        raise ValueError(str(exc)) from None
    return value


class TestPageSchedule(StrictModel):
    """When test pages go out, to whom, and how long each may take to be delivered."""

    __test__ = False  # not a pytest class, whatever its name

    cron: str = Field(min_length=1, max_length=200)
    timezone: TimeZoneName = "UTC"
    contacts: list[str] = Field(default_factory=lambda: ["oncall"], min_length=1)
    severity: Severity = "P3"
    deliver_within: PositiveDuration = 120.0
    # Set, a delivered test page nobody acknowledges by then (through the API, CLI or
    # console) raises a P2; only channels that page a person are held to it (not `log`,
    # `alertmanager`, `jira`). Off by default: a config written before this key existed
    # would otherwise start raising P2s nobody asked for.
    ack_within: PositiveDuration | None = None
    while_market_open: bool = False

    _cron = field_validator("cron")(_valid_cron)


class DrillSchedule(StrictModel):
    """A periodic drill (a game day on a timer): which service, which failure, when, who is
    paged (default: the on-call contact), how long the incident is followed."""

    service: str = Field(min_length=1)
    kind: DrillKind = "crash"
    cron: str = Field(min_length=1, max_length=200)
    timezone: TimeZoneName = "UTC"
    contacts: list[str] | None = None
    timeout: PositiveDuration = 300.0
    while_market_open: bool = False

    _cron = field_validator("cron")(_valid_cron)
