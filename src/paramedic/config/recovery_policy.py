"""The `recovery:` section: decision thresholds, approval rules, market calendar, RTO.

Defaults are the seed's numbers (checkpoint 5 min, 3 failures, volatility 2x, approval
timeout 5 min, watch 5 min), so an empty section is a working policy. Times of day must be
quoted strings: YAML 1.1 reads an unquoted `17:00` as the integer 61200 (base 60).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from paramedic.config.types import Duration, StrictModel, TimeZoneName

__all__ = [
    "DEFAULT_APPROVERS",
    "ApprovalPolicy",
    "ApprovalRequire",
    "DecisionThresholds",
    "EarlyClose",
    "MarketCalendarConfig",
    "Method",
    "RecoveryPolicy",
    "SessionConfig",
    "Weekday",
]

Method = Literal["hot", "warm", "cold", "manual"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _time_of_day(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        msg = f"{value} is a number; quote times of day, e.g. '17:00' (YAML reads 17:00 in base 60)"
        raise ValueError(msg)
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value.strip())
        except ValueError:
            msg = f"{value!r} is not a time of day; write HH:MM, e.g. '08:30'"
            raise ValueError(msg) from None
    return value


def _methods(*names: Method) -> list[Method]:
    return list(names)


TimeOfDay = Annotated[dt.time, BeforeValidator(_time_of_day)]


class DecisionThresholds(StrictModel):
    """The limits between an automatic restart and a human.

    `failures_limit` within `failures_window` counts two things: a new failure of the service
    is decided manual when the service has failed that many times in the window, this failure
    included (every `failure.detected`: crash, hang, degradation..., recovered or not); and a
    fallback is not taken once that many recovery attempts have failed in the window.
    """

    checkpoint_max_age: Duration = Field(default=300.0)
    failures_limit: int = Field(default=3, ge=1)
    failures_window: Duration = Field(default=1800.0)
    volatility_ratio: float = Field(default=2.0, gt=0)


class ApprovalRequire(StrictModel):
    """Which methods wait for a human, by market state."""

    market_open: list[Method] = Field(default_factory=lambda: _methods("warm", "cold", "manual"))
    market_closed: list[Method] = Field(default_factory=lambda: _methods("manual"))

    @field_validator("market_open", "market_closed")
    @classmethod
    def _manual_always(cls, value: list[Method]) -> list[Method]:
        # Manual means a human takes over; that hand-over is always acknowledged by a name.
        if "manual" not in value:
            msg = "must include manual: a manual recovery always needs a human's approval"
            raise ValueError(msg)
        return value


DEFAULT_APPROVERS = ("oncall", "team-lead")


class ApprovalPolicy(StrictModel):
    """How long a request waits before escalating (and still doing nothing), and who is
    paged to answer it: `approvers` are receivers of the alerting config (`contact` or
    `contact:channel`), checked against its contacts (`Config`)."""

    timeout: Duration = Field(default=300.0, gt=0)
    require: ApprovalRequire = Field(default_factory=ApprovalRequire)
    approvers: list[str] = Field(default_factory=lambda: list(DEFAULT_APPROVERS))


class SessionConfig(StrictModel):
    """A weekly trading session in local time; `close <= open` means it ends the next day."""

    days: list[Weekday] = Field(min_length=1)
    open: TimeOfDay
    close: TimeOfDay

    @field_validator("days")
    @classmethod
    def _no_repeats(cls, value: list[Weekday]) -> list[Weekday]:
        if len(set(value)) != len(value):
            msg = "a day is listed twice"
            raise ValueError(msg)
        return value


class EarlyClose(StrictModel):
    """On `date` (local), the market is closed from `close` to midnight."""

    date: dt.date
    close: TimeOfDay


class MarketCalendarConfig(StrictModel):
    """Market hours in the exchange's own zone, so DST is the zone's business, not ours."""

    timezone: TimeZoneName
    sessions: list[SessionConfig] = Field(min_length=1)
    holidays: list[dt.date] = Field(default_factory=list)
    early_closes: list[EarlyClose] = Field(default_factory=list)


class RecoveryPolicy(StrictModel):
    """The whole `recovery:` section.

    Without a `market` calendar the market counts as always open: the stricter approval
    rule applies, because guessing "closed" wrongly would let a cold restart run unapproved
    in the middle of a session.
    """

    decision: DecisionThresholds = Field(default_factory=DecisionThresholds)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    market: MarketCalendarConfig | None = None
    watch_period: Duration = Field(default=300.0)
    target_rto: Duration = Field(default=30.0, gt=0)
