"""Market hours in the exchange's zone, checked from UTC wall times, across DST and holidays."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from paramedic.config.recovery_policy import MarketCalendarConfig, RecoveryPolicy
from paramedic.recovery.calendar import AlwaysOpen, MarketCalendar, calendar_from

CME_EQUITY = MarketCalendarConfig.model_validate(
    {
        "timezone": "America/Chicago",
        "sessions": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "08:30", "close": "15:00"}
        ],
        "holidays": [dt.date(2026, 1, 19)],
        "early_closes": [{"date": dt.date(2026, 11, 27), "close": "12:15"}],
    }
)
GLOBEX = MarketCalendarConfig.model_validate(
    {
        "timezone": "America/Chicago",
        "sessions": [
            {"days": ["sun", "mon", "tue", "wed", "thu"], "open": "17:00", "close": "16:00"}
        ],
    }
)


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def iso(ts: float | None) -> str:
    assert ts is not None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize(
    ("when_utc", "is_open"),
    [
        ("2026-01-16 14:29", False),  # Fri 08:29 CST
        ("2026-01-16 14:30", True),  # Fri 08:30 CST: open is inclusive
        ("2026-01-16 20:59", True),
        ("2026-01-16 21:00", False),  # 15:00 CST: close is exclusive
        ("2026-01-17 16:00", False),  # Saturday
        ("2026-01-19 16:00", False),  # MLK day, a holiday
        ("2026-03-09 13:30", True),  # Mon after DST: 08:30 CDT is 13:30 UTC
        ("2026-03-09 20:00", False),  # 15:00 CDT
        ("2026-03-06 20:30", True),  # Fri before DST: 14:30 CST
        ("2026-11-27 18:14", True),  # early close day, 12:14 CST
        ("2026-11-27 18:15", False),  # closed from 12:15 CST
    ],
)
def test_regular_session_from_utc(when_utc: str, is_open: bool) -> None:
    """The same local session maps to different UTC hours in winter and summer."""
    assert is_open == MarketCalendar(CME_EQUITY).is_open(utc(when_utc))


@pytest.mark.parametrize(
    ("when_utc", "change_utc"),
    [
        ("2026-01-16 15:00", "2026-01-16 21:00"),  # open: closes at 15:00 CST
        ("2026-01-16 21:00", "2026-01-20 14:30"),  # Fri close -> Tue (Mon is a holiday)
        ("2026-03-06 21:00", "2026-03-09 13:30"),  # Fri close CST -> Mon open CDT
        ("2026-11-27 15:00", "2026-11-27 18:15"),  # early close
    ],
)
def test_next_change(when_utc: str, change_utc: str) -> None:
    """The next flip of `is_open`, across weekends, holidays, DST and early closes."""
    assert change_utc == iso(MarketCalendar(CME_EQUITY).next_change(utc(when_utc)))


def test_overnight_session_crosses_midnight() -> None:
    """Sun 17:00 -> Mon 16:00 Chicago: open at local midnight, closed in the daily break."""
    cal = MarketCalendar(GLOBEX)
    assert cal.is_open(utc("2026-01-12 06:00"))  # Mon 00:00 CST
    assert not cal.is_open(utc("2026-01-12 22:30"))  # Mon 16:30 CST, daily break
    assert not cal.is_open(utc("2026-01-17 12:00"))  # Sat
    assert "2026-01-18 23:00" == iso(cal.next_change(utc("2026-01-16 22:00")))  # Sun 17:00 CST


def test_no_calendar_means_always_open() -> None:
    """Without `market:` the stricter approval rule applies at all hours."""
    cal = calendar_from(RecoveryPolicy().market)
    assert isinstance(cal, AlwaysOpen)
    assert cal.is_open(0.0)
    assert cal.next_change(0.0) is None


def test_bad_calendar_config_names_the_field() -> None:
    """An unknown zone or an unquoted time is refused with the path and a fix."""
    with pytest.raises(ValidationError) as info:
        RecoveryPolicy.model_validate(
            {
                "market": {
                    "timezone": "Mars/Olympus",
                    "sessions": [{"days": ["mon"], "open": 61200, "close": "16:00"}],
                }
            }
        )
    text = str(info.value)
    assert "market.timezone" in text
    assert "unknown time zone 'Mars/Olympus'" in text
    assert "market.sessions.0.open" in text
    assert "quote times of day" in text
