"""Periodic drills: each `drills:` entry starts its drill at every firing of its cron
(postponed past the market's open hours unless `while_market_open`), as `schedule`.

A firing whose drill cannot start (one already running on the service, its process not
running) is a note on the timeline saying why, never silent; the next firing tries again.

A firing missed while paramedic was down is not run late (a drill is a real failure caused on
purpose, and a late one could land on whatever the operators planned after its time): at a
start, when the store shows the entry's latest firing passed (and its time to run, after any
wait for the market's close) since the entry last fired, a note says `... skipped:
paramedic was down at <time>`, once. An entry never fired before has nothing to compare with.
"""

from __future__ import annotations

import datetime as dt

import structlog

from paramedic.config.model import Config
from paramedic.config.schedules import DrillSchedule
from paramedic.core.clock import Clock
from paramedic.core.contracts import Record
from paramedic.core.errors import ParamedicError
from paramedic.core.events import NoteAdded
from paramedic.recovery.calendar import MarketCalendar
from paramedic.runtime.drills import Drills
from paramedic.runtime.test_pages import Loop, last_firing, next_firing
from paramedic.store.protocol import Store

__all__ = ["DrillScheduler"]

log = structlog.get_logger("paramedic.drills")

BY = "schedule"


class DrillScheduler:
    """One background loop per scheduled drill."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock,
        drills: Drills,
        loop: Loop,
        record: Record,
        store: Store | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._drills = drills
        self._loop = loop
        self._record = record
        market = config.recovery.market
        self._market = MarketCalendar(market) if market is not None else None

    async def start(self) -> None:
        for n, schedule in enumerate(self._config.drills):
            after = await self.skip_missed(schedule)
            self._loop(self._run(schedule, after), f"drill-schedule-{n}")

    def next_due(self, schedule: DrillSchedule, wall: float) -> float:
        return next_firing(
            schedule.cron, schedule.timezone, wall, self._market, schedule.while_market_open
        )

    async def _run(self, schedule: DrillSchedule, after: float) -> None:
        while True:
            due = self.next_due(schedule, after)
            await self._clock.sleep(max(0.0, due - self._clock.wall()))
            await self.fire(schedule)
            # never twice for one firing
            await self._clock.sleep(max(0.0, due + 60.0 - self._clock.wall()))
            after = self._clock.wall()

    async def skip_missed(self, schedule: DrillSchedule) -> float:
        """At a start: note the latest firing if it was missed while paramedic was down.
        Returns the time to look for the next firing after (before now when the latest
        firing is still waiting for the market's close, so it runs at the close)."""
        now = self._clock.wall()
        latest = last_firing(schedule.cron, schedule.timezone, now)
        last = await self._last_fired(schedule)
        if latest is None or last is None or latest <= last:
            return now
        if self.next_due(schedule, latest - 60.0) > now:  # postponed to a close still ahead
            return latest - 60.0
        at = dt.datetime.fromtimestamp(latest, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = f"{_name(schedule)} skipped: paramedic was down at {at}"
        log.warning(text)
        await self._record(
            NoteAdded(at=self._clock.now(), service=schedule.service, author=BY, text=text)
        )
        return now

    async def _last_fired(self, schedule: DrillSchedule) -> float | None:
        """When the entry last fired (its drill started, refused or skipped), from the store."""
        if self._store is None:
            return None
        stored = await self._store.timeline(
            kinds=["drill.started", "note.added"], service=schedule.service, newest=True
        )
        for event in reversed(stored):
            p = event.payload
            started = p.get("by") == BY and p.get("drill_kind") == schedule.kind
            noted = p.get("author") == BY and str(p.get("text", "")).startswith(_name(schedule))
            if started or noted:
                return event.wall
        return None

    async def fire(self, schedule: DrillSchedule) -> str | None:
        """Start the scheduled drill; its id, or None (the reason is a note on the timeline)."""
        try:
            return await self._drills.start(
                schedule.service,
                schedule.kind,
                by=BY,
                contacts=schedule.contacts,
                follow_s=schedule.timeout,
            )
        except ParamedicError as exc:
            text = f"{_name(schedule)} not started: {exc}"
            log.warning(text)
            await self._record(
                NoteAdded(at=self._clock.now(), service=schedule.service, author=BY, text=text)
            )
            return None


def _name(schedule: DrillSchedule) -> str:
    return f"scheduled {schedule.kind} drill of {schedule.service}"
