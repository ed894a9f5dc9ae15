"""Periodic drills: each `drills:` entry starts its drill at every firing of its cron
(postponed past the market's open hours unless `while_market_open`), as `schedule`.

A firing whose drill cannot start (one already running on the service, its process not
running) is a note on the timeline saying why, never silent; the next firing tries again.
"""

from __future__ import annotations

import structlog

from paramedic.config.model import Config
from paramedic.config.schedules import DrillSchedule
from paramedic.core.clock import Clock
from paramedic.core.contracts import Record
from paramedic.core.errors import ParamedicError
from paramedic.core.events import NoteAdded
from paramedic.recovery.calendar import MarketCalendar
from paramedic.runtime.drills import Drills
from paramedic.runtime.test_pages import Loop, next_firing

__all__ = ["DrillScheduler"]

log = structlog.get_logger("paramedic.drills")

BY = "schedule"


class DrillScheduler:
    """One background loop per scheduled drill."""

    def __init__(
        self, config: Config, *, clock: Clock, drills: Drills, loop: Loop, record: Record
    ) -> None:
        self._config = config
        self._clock = clock
        self._drills = drills
        self._loop = loop
        self._record = record
        market = config.recovery.market
        self._market = MarketCalendar(market) if market is not None else None

    async def start(self) -> None:
        for n, schedule in enumerate(self._config.drills):
            self._loop(self._run(schedule), f"drill-schedule-{n}")

    def next_due(self, schedule: DrillSchedule, wall: float) -> float:
        return next_firing(
            schedule.cron, schedule.timezone, wall, self._market, schedule.while_market_open
        )

    async def _run(self, schedule: DrillSchedule) -> None:
        while True:
            due = self.next_due(schedule, self._clock.wall())
            await self._clock.sleep(max(0.0, due - self._clock.wall()))
            await self.fire(schedule)
            # never twice for one firing
            await self._clock.sleep(max(0.0, due + 60.0 - self._clock.wall()))

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
            text = f"scheduled {schedule.kind} drill of {schedule.service} not started: {exc}"
            log.warning(text)
            await self._record(
                NoteAdded(at=self._clock.now(), service=schedule.service, author=BY, text=text)
            )
            return None
