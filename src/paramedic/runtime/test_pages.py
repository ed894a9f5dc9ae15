"""Scheduled test pages: at each firing of `test_pages.cron`, one test page per contact
method (each channel of each listed contact), through the test-page path; a method whose
page is not delivered within `deliver_within` raises a P2 naming the contact and the channel.

With a market calendar (`recovery.market`), a firing that falls while the market is open is
postponed to its close unless `while_market_open`; without one there is no market to wait
for. The schedule is computed from the clock at start: a firing missed while paramedic was
down is not sent late.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.config.model import Config
from paramedic.config.schedules import TestPageSchedule
from paramedic.core.clock import Clock
from paramedic.core.contracts import Record
from paramedic.core.cron import Cron
from paramedic.core.drill_events import TestPageDelivered
from paramedic.core.errors import AlertingError
from paramedic.core.ids import new_id
from paramedic.core.text import duration
from paramedic.recovery.calendar import MarketCalendar
from paramedic.store.protocol import Store

__all__ = ["TestPageScheduler", "next_firing"]

log = structlog.get_logger("paramedic.test_pages")

POLL_S = 1.0  # how often a sent page's outcome is read back from the outbox
Loop = Callable[[Coroutine[Any, Any, None], str], None]


def next_firing(
    cron: str, timezone: str, wall: float, market: MarketCalendar | None, while_open: bool
) -> float:
    """The next firing of `cron` (read in `timezone`) after `wall`, postponed to the
    market's close when it falls while the market is open, unless `while_open`."""
    at = Cron.parse(cron).next_after(dt.datetime.fromtimestamp(wall, ZoneInfo(timezone)))
    due = at.timestamp()
    if market is not None and not while_open and market.is_open(due):
        close = market.next_change(due)
        due = close if close is not None else due
    return due


class TestPageScheduler:
    """Sends the scheduled rounds and pages a P2 for each method that did not deliver."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock,
        store: Store,
        alerting: AlertingService,
        loop: Loop,
        record: Record,
    ) -> None:
        self._config = config
        self._schedule: TestPageSchedule | None = config.test_pages
        self._clock = clock
        self._store = store
        self._alerting = alerting
        self._loop = loop
        self._record = record
        market = config.recovery.market
        self._market = MarketCalendar(market) if market is not None else None

    async def start(self) -> None:
        """Run the schedule in the background, if there is one."""
        if self._schedule is not None:
            self._loop(self._run(self._schedule), "test-pages")

    async def _run(self, schedule: TestPageSchedule) -> None:
        while True:
            due = self.next_due(self._clock.wall())
            await self._clock.sleep(max(0.0, due - self._clock.wall()))
            try:
                await self.send_round()
            except Exception:  # the edge of a round: logged, the schedule goes on
                log.exception("scheduled test pages failed")
            # never twice for one firing, even if the round was quicker than a minute
            await self._clock.sleep(max(0.0, due + 60.0 - self._clock.wall()))

    def next_due(self, wall: float) -> float:
        """The next firing after `wall` (Unix seconds), postponed to the market's close when
        it falls while the market is open and that is not allowed."""
        schedule = self._schedule
        assert schedule is not None
        return next_firing(
            schedule.cron, schedule.timezone, wall, self._market, schedule.while_market_open
        )

    def methods(self) -> list[tuple[str, str]]:
        """(contact, channel) for each channel of each scheduled contact, in config order."""
        schedule = self._schedule
        assert schedule is not None
        contacts = self._config.alerting.contacts
        return [(c, ch) for c in schedule.contacts for ch in contacts[c].channels]

    async def send_round(self) -> list[Alert]:
        """One test page per contact method; returns the P2s raised for those not delivered
        within `deliver_within`."""
        schedule = self._schedule
        assert schedule is not None
        sent: list[tuple[str, str, str]] = []  # contact, channel, test page id
        failed: list[tuple[str, str, str]] = []  # contact, channel, why
        for contact, channel in self.methods():
            try:
                page = await self._alerting.test_page(
                    schedule.severity, channel=channel, by=f"schedule ({contact})"
                )
            except AlertingError as exc:  # a channel that is not configured
                failed.append((contact, channel, str(exc)))
                continue
            sent.append((contact, channel, page.id))
        deadline = self._clock.monotonic() + schedule.deliver_within
        waiting = list(sent)
        while waiting:
            still = []
            for contact, channel, page_id in waiting:
                rows = await self._store.notifications_for(page_id)
                if rows and all(r.status == "delivered" for r in rows):
                    await self._record(
                        TestPageDelivered(
                            at=self._clock.now(),
                            service="paramedic",
                            contact=contact,
                            channel=channel,
                            alert_id=page_id,
                        )
                    )
                    continue
                if self._clock.monotonic() >= deadline or any(r.status == "failed" for r in rows):
                    why = "; ".join(r.last_detail for r in rows if r.last_detail) or "no answer"
                    failed.append((contact, channel, why))
                    continue
                still.append((contact, channel, page_id))
            waiting = still
            if waiting:
                await self._clock.sleep(POLL_S)
        within = duration(schedule.deliver_within)
        return [await self._page_failure(c, ch, why, within) for c, ch, why in failed]

    async def _page_failure(self, contact: str, channel: str, why: str, within: str) -> Alert:
        now = self._clock.wall()
        alert = Alert(
            id=new_id("tpf_"),
            type="test_page_failed",
            source=f"{contact}:{channel}",  # one dedup key per contact method
            severity="P2",
            title=f"scheduled test page to {contact} on {channel} not delivered",
            labels={"service": "paramedic", "contact": contact, "channel": channel},
            what=(
                f"The scheduled test page to {contact} on channel {channel} was not"
                f" delivered within {within}: {why}"
            ),
            when_wall=now,
            impact=f"{contact} may not be reachable on {channel} during a real outage",
            status="check the channel's configuration and the receiving end",
            severity_reason="a contact method failed its scheduled test page",
        )
        return await self._alerting.raise_alert(alert)
