"""Scheduled test pages (FakeClock, real SQLite outbox, real loopback receivers): one test
page per contact method; the method whose receiver answers 500 raises a P2 naming the
contact and the channel, the one that answers 200 does not; a channel that is not configured
is a P2 at once; a firing while the market is open waits for the close unless allowed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.alerting.channels.registry import build_channels
from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.checks.http_pool import HttpPool
from paramedic.config.model import Config
from paramedic.core.bus import Published
from paramedic.core.events import Event
from paramedic.runtime.test_pages import TestPageScheduler
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock

UTC = dt.UTC
SECRET = "TEST_PAGES_HOOK_SECRET"
ENV = {SECRET: "hook-secret-0123456789"}
SCHEDULE = {"cron": "0 10 1 * *", "contacts": ["oncall", "backup-oncall"], "deliver_within": "2m"}


class Rig:
    def __init__(self, scheduler: TestPageScheduler, clock: FakeClock, recorded: list[Any]):
        self.scheduler = scheduler
        self.clock = clock
        self.recorded = recorded

    async def round(self) -> list[Alert]:
        """One round, the FakeClock moved a second at a time while real HTTP answers."""
        task = asyncio.ensure_future(self.scheduler.send_round())
        for _ in range(400):
            if task.done():
                break
            await asyncio.sleep(0.01)
            self.clock.advance(1.0)
        return await asyncio.wait_for(task, 5)


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[Any] = []

    async def build(config: dict[str, Any]) -> Rig:
        cfg = Config.model_validate(config, context={"env": ENV})
        store = SQLiteStore(tmp_path / f"p{len(made)}.db")
        await store.open()
        clock = FakeClock()
        recorded: list[Any] = []
        tasks: set[asyncio.Task[Any]] = set()
        pool = HttpPool()
        service = AlertingService(
            cfg.alerting,
            clock=clock,
            store=store,
            channels=build_channels(cfg.channels, pool),
            submit=recorded.extend,
            job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
        )
        running = asyncio.ensure_future(service.run())
        made.append((store, service, running, tasks))

        async def record(event: Event) -> Published:
            recorded.append(event)
            return Published(0, event)

        scheduler = TestPageScheduler(
            cfg,
            clock=clock,
            store=store,
            alerting=service,
            loop=lambda coro, name: tasks.add(asyncio.ensure_future(coro)),
            record=record,
        )
        return Rig(scheduler, clock, recorded)

    yield build
    for store, service, running, tasks in made:
        running.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(running, *tasks, return_exceptions=True)
        await service.close()
        await store.close()


async def test_a_method_answering_500_raises_a_p2_naming_contact_and_channel(make: Any) -> None:
    """oncall's pagerduty answers 500, backup-oncall's slack 200: both get their [TEST] page;
    two minutes later one P2, for oncall on pagerduty, saying why; none for the backup,
    whose delivery is recorded (`test_page.delivered`) for preflight."""
    async with LoopbackReceiver(status=500) as bad, LoopbackReceiver() as good:
        rig = await make(
            {
                "channels": {
                    "pagerduty": {"webhook": {"url": bad.url + "/p", "secret_env": SECRET}},
                    "slack": {"webhook": {"url": good.url + "/s", "secret_env": SECRET}},
                },
                "alerting": {"contacts": {"backup-oncall": {"channels": ["slack"]}}},
                "test_pages": SCHEDULE,
            }
        )
        assert [("oncall", "pagerduty"), ("backup-oncall", "slack")] == rig.scheduler.methods()
        pages = await rig.round()
        assert bad.requests
        triggers = [r.json() for r in good.requests if r.json()["action"] == "trigger"]
        assert [True] == ["[TEST]" in t["title"] for t in triggers]
    [p2] = pages
    assert ("P2", "scheduled test page to oncall on pagerduty not delivered") == (
        p2.severity,
        p2.title,
    )
    assert {"contact": "oncall", "channel": "pagerduty"}.items() <= p2.labels.items()
    assert "500" in p2.what
    raised = [e for e in rig.recorded if e.kind == "alert.raised" and e.severity == "P2"]
    assert [p2.id] == [e.alert_id for e in raised]
    proofs = [(e.contact, e.channel) for e in rig.recorded if e.kind == "test_page.delivered"]
    assert [("backup-oncall", "slack")] == proofs


async def test_a_channel_that_is_not_configured_is_a_p2_at_once(make: Any) -> None:
    """oncall's default channel (pagerduty) is not configured: no page can go; the P2 says
    so without waiting for the bound."""
    rig = await make({"test_pages": {"cron": "0 10 1 * *"}})
    start = rig.clock.monotonic()
    [p2] = await rig.scheduler.send_round()
    assert rig.clock.monotonic() == start
    assert "no channel named 'pagerduty'" in p2.what
    assert {"contact": "oncall", "channel": "pagerduty"}.items() <= p2.labels.items()


async def test_a_firing_while_the_market_is_open_waits_for_the_close(make: Any) -> None:
    """Market Mon-Fri 08:00-16:30 UTC; `0 10 * * *` on Thursday 1 January 2026: due at the
    16:30 close; with while_market_open, at 10:00; without a calendar there is nothing to
    wait for."""
    market = {
        "timezone": "UTC",
        "sessions": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "08:00", "close": "16:30"}
        ],
    }
    daily = {"cron": "0 10 * * *"}
    cases = [
        ({"recovery": {"market": market}, "test_pages": daily}, (16, 30)),
        (
            {"recovery": {"market": market}, "test_pages": {**daily, "while_market_open": True}},
            (10, 0),
        ),
        ({"test_pages": daily}, (10, 0)),
    ]
    for config, (hour, minute) in cases:
        rig = await make(config)
        due = rig.scheduler.next_due(rig.clock.wall())
        assert dt.datetime(2026, 1, 1, hour, minute, tzinfo=UTC).timestamp() == due


async def test_the_schedule_fires_at_its_time_and_once(make: Any) -> None:
    """Started at midnight, `0 10 1 * *`: nothing at 09:59, the round at 10:00 (here: the
    P2 of an unconfigured channel), nothing more that day."""
    rig = await make({"test_pages": {"cron": "0 10 1 * *"}})
    await rig.scheduler.start()

    async def p2s() -> int:
        for _ in range(5):
            await asyncio.sleep(0)
        raised = [e for e in rig.recorded if e.kind == "alert.raised"]
        return len([e for e in raised if e.title.startswith("scheduled test page")])

    rig.clock.advance(9 * 3600 + 59 * 60)
    assert 0 == await p2s()
    rig.clock.advance(60)
    for _ in range(100):
        if await p2s():
            break
        await asyncio.sleep(0.01)
    assert 1 == await p2s()
    rig.clock.advance(13 * 3600)
    assert 1 == await p2s()
