"""Five-field cron expressions (`minute hour day-of-month month day-of-week`), parsed once and
asked for the next time they fire.

The syntax is Vixie cron's without names or macros: `*`, `a`, `a-b`, `*/n`, `a-b/n` and
comma lists; day of week 0-7 (0 and 7 are Sunday). When both day fields are restricted a
day matches if either does, as in cron. Times are wall-clock times in the zone handed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["Cron", "CronError"]

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12))
_DOW = ("day of week", 0, 7)
_HORIZON_DAYS = 366 * 8  # Feb 29 on a Monday recurs within 28 years; 8 covers any leap day


class CronError(ValueError):
    """The expression is malformed; the message names the field and what is wrong."""


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                msg = f"{name}: step {step_text!r} must be a positive number"
                raise CronError(msg)
            step = int(step_text)
        if base == "*":
            start, end = low, high
        else:
            first, dash, last = base.partition("-")
            if not first.isdigit() or (dash and not last.isdigit()):
                msg = f"{name}: {part!r} is not a number, a range or *"
                raise CronError(msg)
            start = int(first)
            end = int(last) if dash else (high if step_text else start)
        if not low <= start <= end <= high:
            msg = f"{name}: {part!r} is outside {low}-{high}"
            raise CronError(msg)
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 Monday .. 6 Sunday (Python's)
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        parts = text.split()
        if len(parts) != 5:
            msg = f"{text!r}: give five fields (minute hour day-of-month month day-of-week)"
            raise CronError(msg)
        minutes, hours, days, months = (
            _field(p, *spec) for p, spec in zip(parts[:4], _FIELDS, strict=True)
        )
        cron_dow = _field(parts[4], *_DOW)
        weekdays = frozenset((d - 1) % 7 for d in cron_dow)  # cron 0/7 Sunday -> Python 6
        return cls(
            text=text,
            minutes=minutes,
            hours=hours,
            days=days,
            months=months,
            weekdays=weekdays,
            any_day=parts[2] == "*",
            any_weekday=parts[4] == "*",
        )

    def _day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        by_dom = day.day in self.days
        by_dow = day.weekday() in self.weekdays
        if self.any_day or self.any_weekday:
            return by_dom and by_dow
        return by_dom or by_dow

    def next_after(self, after: dt.datetime) -> dt.datetime:
        """The first firing strictly after `after` (an aware datetime, in the zone the
        expression is read in); CronError if it never fires (`0 0 30 2 *`)."""
        start = after.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        day = start.date()
        for _ in range(_HORIZON_DAYS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        at = dt.datetime.combine(day, dt.time(hour, minute), after.tzinfo)
                        if at >= start:
                            return at
            day += dt.timedelta(days=1)
        msg = f"{self.text!r} never fires"
        raise CronError(msg)

    def last_at_or_before(self, at: dt.datetime) -> dt.datetime | None:
        """The latest firing at or before `at` (an aware datetime, in the zone the expression
        is read in), or None if there is none within the horizon: what a restart asks to
        know whether a firing passed while paramedic was down."""
        day = at.date()
        for _ in range(_HORIZON_DAYS):
            if self._day_matches(day):
                for hour in sorted(self.hours, reverse=True):
                    for minute in sorted(self.minutes, reverse=True):
                        when = dt.datetime.combine(day, dt.time(hour, minute), at.tzinfo)
                        if when <= at:
                            return when
            day -= dt.timedelta(days=1)
        return None
