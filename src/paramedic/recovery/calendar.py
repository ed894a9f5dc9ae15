"""Is the market open? Weekly sessions in the exchange's zone, holidays and early closes.

This is the one place in the recovery room that reads WALL time, because a trading calendar
is wall time by definition (08:30 in Chicago, whatever UTC says). Deadlines elsewhere stay on
the monotonic clock. Rules, all in the exchange's local time:

- a session opens on each listed day at `open` and closes at `close` (the next day if
  `close <= open`, as overnight futures sessions do); open is inclusive, close exclusive;
- a holiday closes the whole local date, including the part of an overnight session that
  falls on it;
- an early close closes its local date from its `close` time on.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from paramedic.config.recovery_policy import MarketCalendarConfig, SessionConfig

__all__ = ["AlwaysOpen", "MarketCalendar", "calendar_from"]

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HORIZON_DAYS = 31  # next_change looks this far ahead; a longer closure is not a market


class MarketCalendar:
    """Answers from wall timestamps (Unix seconds); DST is the zone database's business."""

    def __init__(self, config: MarketCalendarConfig) -> None:
        self._tz = ZoneInfo(config.timezone)
        self._sessions = tuple(config.sessions)
        self._holidays = frozenset(config.holidays)
        self._early = {e.date: e.close for e in config.early_closes}

    def is_open(self, wall_ts: float) -> bool:
        """True while some session runs and no holiday or early close says otherwise."""
        local = dt.datetime.fromtimestamp(wall_ts, self._tz)
        day = local.date()
        if day in self._holidays:
            return False
        early = self._early.get(day)
        if early is not None and local.time() >= early:
            return False
        return any(self._in_session(s, day, wall_ts) for s in self._sessions)

    def next_change(self, wall_ts: float) -> float | None:
        """The first wall timestamp after `wall_ts` where `is_open` flips, or None if none
        within a month (a calendar with no sessions left, say)."""
        state = self.is_open(wall_ts)
        for edge in self._edges(wall_ts):
            if self.is_open(edge) != state:
                return edge
        return None

    def _in_session(self, session: SessionConfig, day: dt.date, wall_ts: float) -> bool:
        # A session that crosses midnight may have opened yesterday.
        for opened in (day, day - dt.timedelta(days=1)):
            if _WEEKDAYS[opened.weekday()] not in session.days:
                continue
            start, end = self._bounds(session, opened)
            if start <= wall_ts < end:
                return True
        return False

    def _bounds(self, session: SessionConfig, opened: dt.date) -> tuple[float, float]:
        closes = opened + dt.timedelta(days=1) if session.close <= session.open else opened
        return self._stamp(opened, session.open), self._stamp(closes, session.close)

    def _stamp(self, day: dt.date, at: dt.time) -> float:
        return dt.datetime.combine(day, at, tzinfo=self._tz).timestamp()

    def _edges(self, wall_ts: float) -> list[float]:
        """Every instant where the answer might change, after `wall_ts`, in order."""
        first = dt.datetime.fromtimestamp(wall_ts, self._tz).date() - dt.timedelta(days=1)
        edges: set[float] = set()
        for n in range(_HORIZON_DAYS + 2):
            day = first + dt.timedelta(days=n)
            edges.add(self._stamp(day, dt.time(0, 0)))  # holidays start and end at midnight
            if day in self._early:
                edges.add(self._stamp(day, self._early[day]))
            for session in self._sessions:
                if _WEEKDAYS[day.weekday()] in session.days:
                    edges.update(self._bounds(session, day))
        return sorted(e for e in edges if e > wall_ts)


class AlwaysOpen:
    """The calendar when none is configured: always open, so the stricter approvals apply."""

    def is_open(self, wall_ts: float) -> bool:
        return True

    def next_change(self, wall_ts: float) -> float | None:
        return None


def calendar_from(config: MarketCalendarConfig | None) -> MarketCalendar | AlwaysOpen:
    """The calendar a policy asks for (no `market:` section means always open)."""
    return AlwaysOpen() if config is None else MarketCalendar(config)
