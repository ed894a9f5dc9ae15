"""Five-field cron: the next firing, cron's day-of-month OR day-of-week rule, Sunday as 0
or 7, and errors that name the field."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from paramedic.core.cron import Cron, CronError

UTC = ZoneInfo("UTC")


def at(*parts: int, zone: ZoneInfo = UTC) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=zone)


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("0 10 1 * *", at(2026, 1, 1, 10, 0), at(2026, 2, 1, 10, 0)),  # strictly after
        ("0 10 1 * *", at(2026, 1, 1, 9, 59, 30), at(2026, 1, 1, 10, 0)),
        ("*/15 9-17 * * 1-5", at(2026, 1, 3, 12, 0), at(2026, 1, 5, 9, 0)),  # Sat -> Mon
        ("0 0 13 * 5", at(2026, 1, 1, 0, 0), at(2026, 1, 2, 0, 0)),  # the 13th OR a Friday
        ("30 6 * * 0", at(2026, 1, 1), at(2026, 1, 4, 6, 30)),  # Sunday as 0
        ("30 6 * * 7", at(2026, 1, 1), at(2026, 1, 4, 6, 30)),  # Sunday as 7
        ("0 12 29 2 *", at(2026, 3, 1), at(2028, 2, 29, 12, 0)),  # the next leap day
        ("5,10 1 * 3 *", at(2026, 1, 1), at(2026, 3, 1, 1, 5)),
    ],
)
def test_next_firing(cron: str, after: dt.datetime, expected: dt.datetime) -> None:
    """Each expression fires first at `expected` after `after`."""
    assert expected == Cron.parse(cron).next_after(after)


def test_the_zone_is_the_one_handed_in() -> None:
    """10:00 in London on 1 July is 09:00 UTC (summer time)."""
    london = ZoneInfo("Europe/London")
    fired = Cron.parse("0 10 1 * *").next_after(at(2026, 6, 15, zone=london))
    assert at(2026, 7, 1, 9, 0) == fired.astimezone(UTC)


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 10 1 *", "give five fields"),
        ("0 25 1 * *", "hour: '25' is outside 0-23"),
        ("x 1 1 * *", "minute: 'x' is not a number"),
        ("*/0 1 1 * *", "minute: step '0' must be a positive number"),
        ("0 0 1 13 *", "month: '13' is outside 1-12"),
        ("0 0 31 2 *", "never fires"),
    ],
)
def test_errors_name_the_field(cron: str, words: str) -> None:
    """A malformed (or never-firing) expression is refused naming what is wrong."""
    with pytest.raises(CronError, match=words):
        Cron.parse(cron).next_after(at(2026, 1, 1))


@pytest.mark.parametrize(
    ("cron", "at_", "expected"),
    [
        ("0 10 1 * *", at(2026, 1, 1, 10, 0), at(2026, 1, 1, 10, 0)),  # at counts
        ("0 10 1 * *", at(2026, 1, 1, 9, 59), at(2025, 12, 1, 10, 0)),
        ("0 10 1 * *", at(2026, 3, 15), at(2026, 3, 1, 10, 0)),  # two firings back: the latest
        ("*/15 9-17 * * 1-5", at(2026, 1, 4, 12, 0), at(2026, 1, 2, 17, 45)),  # Sun -> Fri
        ("0 12 29 2 *", at(2027, 1, 1), at(2024, 2, 29, 12, 0)),  # the last leap day
    ],
)
def test_last_firing(cron: str, at_: dt.datetime, expected: dt.datetime) -> None:
    """The latest firing at or before `at_` (what a restart compares with its last run)."""
    assert expected == Cron.parse(cron).last_at_or_before(at_)


def test_last_firing_of_one_that_never_fires_is_none() -> None:
    """`0 0 30 2 *` has no 30 February: None, not an endless search."""
    assert Cron.parse("0 0 30 2 *").last_at_or_before(at(2026, 1, 1)) is None
