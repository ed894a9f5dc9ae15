"""Scheduled test pages: proof, every month, that each way of reaching the on-call still
works (a test page per contact method), without waiting for a real outage to find out.

```yaml
test_pages:
  cron: "0 10 1 * *"          # minute hour day-of-month month day-of-week
  timezone: Europe/London
  contacts: [oncall, backup-oncall]
  deliver_within: 2m          # not delivered by then: a P2 naming the contact and channel
  while_market_open: false    # postponed to the close (needs recovery.market)
```
"""

from __future__ import annotations

from pydantic import Field, field_validator

from paramedic.config.types import PositiveDuration, StrictModel, TimeZoneName
from paramedic.core.cron import Cron, CronError
from paramedic.core.severity import Severity

__all__ = ["TestPageSchedule"]


class TestPageSchedule(StrictModel):
    """When test pages go out, to whom, and how long each may take to be delivered."""

    __test__ = False  # not a pytest class, whatever its name

    cron: str = Field(min_length=1, max_length=200)
    timezone: TimeZoneName = "UTC"
    contacts: list[str] = Field(default_factory=lambda: ["oncall"], min_length=1)
    severity: Severity = "P3"
    deliver_within: PositiveDuration = 120.0
    while_market_open: bool = False

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            Cron.parse(value)
        except CronError as exc:
            raise ValueError(str(exc)) from None
        return value
