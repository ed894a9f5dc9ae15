"""Scheduled test pages: at each firing of `test_pages.cron`, one test page per contact
method (each channel of each listed contact), through the test-page path; a method whose
page is not delivered within `deliver_within`, or (with `ack_within`, on a channel that pages
a person) not acknowledged within that bound of its delivery, raises a P2 naming the contact
and the channel (`test_page_checks.py`).

With a market calendar (`recovery.market`), a firing that falls while the market is open is
postponed to its close unless `while_market_open`; without one there is no market to wait
for. Each round is recorded (`test_page.round`, with its firing) before its first page, and
the pages' ids are derived from the firing, so the store says which firing ran last: at a
start, the newest round is finished (its unsent pages sent, if it is still the latest firing;
every page followed to its outcome), and if a later firing passed while paramedic was down,
that one (only the latest, never a burst) is sent once, now, or at the market's close.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.config.model import Config
from paramedic.config.schedules import ACK_CHANNEL_KINDS, TestPageSchedule
from paramedic.core.clock import Clock
from paramedic.core.contracts import Record
from paramedic.core.cron import Cron
from paramedic.core.drill_events import TestPageRound
from paramedic.core.errors import AlertingError
from paramedic.core.text import duration
from paramedic.recovery.calendar import MarketCalendar
from paramedic.runtime.test_page_checks import TestPageChecks, failure_alert, failure_id, page_id
from paramedic.store.protocol import Store

__all__ = ["TestPageScheduler", "last_firing", "next_firing"]

log = structlog.get_logger("paramedic.test_pages")

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


def last_firing(cron: str, timezone: str, wall: float) -> float | None:
    """The latest firing of `cron` at or before `wall` (Unix seconds), None if none."""
    at = Cron.parse(cron).last_at_or_before(dt.datetime.fromtimestamp(wall, ZoneInfo(timezone)))
    return None if at is None else at.timestamp()


class TestPageScheduler:
    """Sends the scheduled rounds and pages a P2 for each method that failed its test."""

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
        schedule = self._schedule
        self._checks = TestPageChecks(
            clock=clock,
            store=store,
            alerting=alerting,
            record=record,
            deliver_within=schedule.deliver_within if schedule else 0.0,
            ack_within=schedule.ack_within if schedule else None,
        )

    async def start(self) -> None:
        """Run the schedule in the background, if there is one: first finish the newest
        recorded round (a restart), then wait for the next firing, or send the latest one if
        it passed while paramedic was down."""
        schedule = self._schedule
        if schedule is None:
            return
        started = self._clock.wall()
        last = await self.last_round()
        if last is not None:
            latest = last_firing(schedule.cron, schedule.timezone, started)
            resend = latest is None or latest <= last
            self._loop(self._guarded(self.send_round(last, resend=resend)), "test-pages-resume")
        self._loop(self._run(schedule, started, started if last is None else last), "test-pages")

    async def _run(self, schedule: TestPageSchedule, started: float, baseline: float) -> None:
        """`baseline`: the firing of the newest round (or the start, if none ran)."""
        while True:
            now = self._clock.wall()
            latest = last_firing(schedule.cron, schedule.timezone, now)
            if latest is not None and latest > baseline:  # due, missed, or waiting for a close
                due = self._postponed(now)
                if due <= now:
                    baseline = latest
                    round_ = self.fire(latest, late=latest < started)
                    self._loop(self._guarded(round_), "test-pages-round")
                    continue
                wake = due
            else:
                wake = next_firing(schedule.cron, schedule.timezone, now, None, True)
            await self._clock.sleep(max(0.0, wake - now))

    async def _guarded(self, round_: Coroutine[Any, Any, list[Alert]]) -> None:
        try:
            await round_
        except Exception:  # the edge of a round: logged, the schedule goes on
            log.exception("scheduled test pages failed")

    def _postponed(self, wall: float) -> float:
        """`wall`, or the market's close when it is open then and that is not allowed."""
        schedule = self._schedule
        assert schedule is not None
        if self._market is None or schedule.while_market_open or not self._market.is_open(wall):
            return wall
        close = self._market.next_change(wall)
        return close if close is not None else wall

    def next_due(self, wall: float) -> float:
        """The next firing after `wall` (Unix seconds), postponed to the market's close when
        it falls while the market is open and that is not allowed."""
        schedule = self._schedule
        assert schedule is not None
        return next_firing(
            schedule.cron, schedule.timezone, wall, self._market, schedule.while_market_open
        )

    async def last_round(self) -> float | None:
        """The firing of the newest recorded round, from the store."""
        rounds = await self._store.timeline(kinds=[TestPageRound.kind], newest=True, limit=1)
        return float(rounds[-1].payload["firing"]) if rounds else None

    def methods(self) -> list[tuple[str, str]]:
        """(contact, channel) for each channel of each scheduled contact, in config order."""
        schedule = self._schedule
        assert schedule is not None
        contacts = self._config.alerting.contacts
        return [(c, ch) for c in schedule.contacts for ch in contacts[c].channels]

    def held_to_ack(self, channel: str) -> bool:
        """Whether this channel's page must be acknowledged: `ack_within` is set and the
        channel pages a person (`ACK_CHANNEL_KINDS`)."""
        schedule = self._schedule
        configured = self._config.channels.get(channel)
        return (
            schedule is not None
            and schedule.ack_within is not None
            and configured is not None
            and configured.kind in ACK_CHANNEL_KINDS
        )

    async def fire(self, firing: float, *, late: bool = False) -> list[Alert]:
        """One round for `firing`: recorded first, then sent and followed (`send_round`)."""
        await self._record(
            TestPageRound(at=self._clock.now(), service="paramedic", firing=firing, late=late)
        )
        return await self.send_round(firing)

    async def send_round(self, firing: float | None = None, *, resend: bool = True) -> list[Alert]:
        """One test page per contact method (those already sent for this firing are not sent
        again; none at all without `resend`), each followed to its outcome; returns the P2s
        this call raised. Without `firing`, a round for now (a test's or a one-off round)."""
        schedule = self._schedule
        assert schedule is not None
        if firing is None:
            firing = self._clock.wall()
        follows: list[tuple[str, str, bool]] = []
        failed: list[Alert] = []
        for contact, channel in self.methods():
            pid = page_id(firing, contact, channel)
            held = self.held_to_ack(channel)
            if resend and await self._store.get_alert(pid) is None:
                try:
                    await self._alerting.test_page(
                        schedule.severity,
                        channel=channel,
                        by=f"schedule ({contact})",
                        alert_id=pid,
                        keep_open=held,
                    )
                except AlertingError as exc:  # a channel that is not configured
                    fid = failure_id(firing, contact, channel)
                    if await self._store.get_alert(fid) is None:
                        failed.append(await self._not_sent(fid, contact, channel, str(exc)))
                    continue
            follows.append((contact, channel, held))
        checks = (self._checks.follow(firing, c, ch, held=h) for c, ch, h in follows)
        outcomes = await asyncio.gather(*checks)
        return failed + [p2 for p2 in outcomes if p2 is not None]

    async def _not_sent(self, fid: str, contact: str, channel: str, why: str) -> Alert:
        within = duration(self._schedule.deliver_within if self._schedule else 0.0)
        sentence = f"was not delivered within {within}: {why}"
        alert = failure_alert(fid, contact, channel, "not delivered", sentence, self._clock.wall())
        return await self._alerting.raise_alert(alert)
