"""Scheduled test pages held to `ack_within`, and firings missed while paramedic was down
(FakeClock, real SQLite store, real loopback receivers, the real alerting service): an ack in
time means no P2; no ack means exactly one P2 at the bound, not before; a channel that pages
nobody is not held to it; a restart mid-wait keeps the original deadline and never raises the
P2 twice; a missed firing is sent once (the latest only), after the market's close if the
market is open."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.alerting.channels.registry import build_channels
from paramedic.alerting.service import AlertingService
from paramedic.checks.http_pool import HttpPool
from paramedic.config.channels import CHANNEL_KINDS
from paramedic.config.model import Config
from paramedic.config.schedules import ACK_CHANNEL_KINDS
from paramedic.core.bus import Published
from paramedic.core.clock import Instant
from paramedic.core.drill_events import TestPageRound
from paramedic.core.events import Event
from paramedic.runtime.test_page_checks import failure_alert, failure_id, page_id
from paramedic.runtime.test_pages import TestPageScheduler
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock

UTC = dt.UTC
SECRET = "TEST_PAGES_HOOK_SECRET"
ENV = {SECRET: "hook-secret-0123456789"}
JAN1 = dt.datetime(2026, 1, 1, tzinfo=UTC).timestamp()  # the FakeClock's default wall time
MARKET = {
    "timezone": "UTC",
    "sessions": [{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "08:00", "close": "16:30"}],
}


def config(url: str, **schedule: Any) -> dict[str, Any]:
    """oncall pages through a webhook (a person's channel) and the log (nobody's)."""
    return {
        "channels": {
            "hook": {"webhook": {"url": url + "/hook", "secret_env": SECRET}},
            "journal": {"log": {}},
        },
        "alerting": {"contacts": {"oncall": {"channels": ["hook", "journal"]}}},
        "test_pages": {"cron": "0 0 1 * *", "ack_within": "15m", **schedule},
    }


class SteppedClock(FakeClock):
    """A FakeClock that knows which of the sleepers it woke have not yet slept again, so a
    test moves time only once every woken loop has done what that moment asked of it."""

    def __init__(self, *, wall: float) -> None:
        super().__init__(wall=wall)
        self.awake: set[asyncio.Task[Any]] = set()

    async def sleep(self, delay: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.awake.discard(task)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                self.awake.add(task)
                fut.set_result(None)

        self.call_later(delay, wake)
        await fut

    async def settle(self) -> None:
        for _ in range(2000):
            self.awake = {t for t in self.awake if not t.done()}
            if not self.awake:
                return
            await asyncio.sleep(0.005)
        raise AssertionError("the loops the clock woke did not settle within 10 s")


class Rig:
    """One paramedic's alerting and test-page scheduler on a store file; a second Rig on
    the same file is paramedic after a restart."""

    def __init__(
        self, cfg: Config, store: SQLiteStore, clock: SteppedClock, tasks: set[Any]
    ) -> None:
        self.store = store
        self.clock = clock
        self.tasks = tasks
        self.recorded: list[Event] = []
        self.service = AlertingService(
            cfg.alerting,
            clock=clock,
            store=store,
            channels=build_channels(cfg.channels, HttpPool()),
            submit=self.recorded.extend,
            job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
        )
        self.scheduler = TestPageScheduler(
            cfg,
            clock=clock,
            store=store,
            alerting=self.service,
            loop=lambda coro, name: tasks.add(asyncio.ensure_future(coro)),
            record=self.record,
        )

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """A task of this paramedic: a crash cancels it."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        return task

    async def record(self, event: Event) -> Published:
        seq = await self.store.append(event)
        self.recorded.append(event)
        return Published(seq, event)

    async def tick(self, seconds: float = 1.0) -> None:
        """Move the FakeClock; wait until every loop it woke has slept again or ended."""
        self.clock.advance(seconds)
        await self.clock.settle()

    async def arrive(self, done: Any) -> None:
        """Wait, the clock standing still, for what needs no clock (an HTTP send, SQLite)."""
        for _ in range(2000):
            if done():
                return
            await asyncio.sleep(0.005)
        raise AssertionError("did not arrive within 10 s")

    async def idle(self, seconds: int) -> None:
        """Let `seconds` of FakeClock time pass a minute at a time (nothing is due to happen
        within them, so no step needs a finer grain)."""
        for _ in range(seconds // 60):
            await self.tick(60.0)
        await self.tick(seconds % 60)

    async def near(self, wall: float) -> None:
        """Jump to 5 s before `wall`, then a second at a time up to it."""
        await self.tick(max(0.0, wall - 5 - self.clock.wall()))
        await self.until(lambda: self.clock.wall() >= wall, limit_s=10)

    async def until(self, done: Any, *, limit_s: float = 3600.0) -> None:
        """Tick a second at a time until `done()` (bounded by `limit_s` of FakeClock time)."""
        for _ in range(int(limit_s)):
            if done():
                return
            await self.tick()
        raise AssertionError("not reached within the bound")

    async def delivered(self, methods: int = 2) -> None:
        """Until the delivery of every method's page is recorded (`test_page.delivered`)."""
        await self.until(
            lambda: methods == len([e for e in self.recorded if e.kind == "test_page.delivered"]),
            limit_s=30,
        )

    def p2s(self) -> list[Any]:
        return [e for e in self.recorded if e.kind == "alert.raised" and e.severity == "P2"]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[Rig] = []

    async def build(raw: dict[str, Any], *, wall: float = JAN1, db: str = "p.db") -> Rig:
        cfg = Config.model_validate(raw, context={"env": ENV})
        store = SQLiteStore(tmp_path / db)
        await store.open()
        rig = Rig(cfg, store, SteppedClock(wall=wall), set())
        await rig.service.start()
        rig.spawn(rig.service.run())  # the outbox's retries, as in `paramedic run`
        made.append(rig)
        return rig

    yield build
    for rig in made:
        await crash(rig)


async def crash(rig: Rig) -> None:
    """Paramedic stops dead: its tasks cancelled mid-step, nothing resolved or flushed."""
    for task in rig.tasks:
        task.cancel()
    await asyncio.gather(*rig.tasks, return_exceptions=True)
    rig.tasks.clear()
    await rig.service.close()
    await rig.store.close()


def triggers(receiver: LoopbackReceiver) -> list[dict[str, Any]]:
    return [r.json() for r in receiver.requests if r.json()["action"] == "trigger"]


async def test_an_ack_in_time_raises_no_p2_and_closes_the_page(make: Any) -> None:
    """The webhook's page is delivered and stays open; acknowledged 10 minutes later through
    the alerting service (what the API and CLI call), it is resolved (the receiver gets the
    ack and the resolve) and no P2 is raised, even long after the bound."""
    async with LoopbackReceiver() as hook:
        rig = await make(config(hook.url))
        round_ = rig.spawn(rig.scheduler.fire(JAN1))
        pid = page_id(JAN1, "oncall", "hook")
        await rig.arrive(lambda: bool(triggers(hook)))
        await rig.delivered()
        assert rig.service.alerts[pid].state == "firing"
        await rig.idle(600)
        await rig.service.acknowledge(pid, by="alice", why="test page seen")
        await rig.until(round_.done)
        assert [] == await round_
        assert pid not in rig.service.alerts
        row = await rig.store.get_alert(pid)
        assert row is not None
        assert ("resolved", "alice") == (row.state, row.data["alert"]["ack"]["by"])
        actions = [r.json()["action"] for r in hook.requests]
        assert ["trigger", "acknowledge", "resolve"] == actions
        await rig.idle(1800)
    assert [] == rig.p2s()


async def test_no_ack_is_one_p2_at_the_bound_not_before(make: Any) -> None:
    """Nobody acknowledges: nothing 1 s before delivery + 15m; then exactly one P2, naming
    the contact and the channel, saying when it was delivered; the page is resolved; the
    log channel, which pages nobody, is not held to the bound (no P2 for it)."""
    async with LoopbackReceiver() as hook:
        rig = await make(config(hook.url))
        round_ = rig.spawn(rig.scheduler.fire(JAN1))
        await rig.arrive(lambda: bool(triggers(hook)))
        delivered = rig.clock.wall()
        await rig.delivered()
        assert page_id(JAN1, "oncall", "journal") not in rig.service.alerts  # resolved at once
        await rig.near(delivered + 15 * 60 - 1)
        assert [] == rig.p2s()
        await rig.until(round_.done, limit_s=5)
        [p2] = await round_
    assert rig.clock.wall() <= delivered + 15 * 60 + 2
    assert failure_id(JAN1, "oncall", "hook") == p2.id
    assert ("P2", "scheduled test page to oncall on hook not acknowledged") == (
        p2.severity,
        p2.title,
    )
    assert {"contact": "oncall", "channel": "hook"}.items() <= p2.labels.items()
    assert "delivered at 2026-01-01 00:00:0" in p2.what
    assert p2.what.endswith("but not acknowledged within 15 min")
    assert [p2.id] == [e.alert_id for e in rig.p2s()]
    assert page_id(JAN1, "oncall", "hook") not in rig.service.alerts
    proofs = [(e.contact, e.channel) for e in rig.recorded if e.kind == "test_page.delivered"]
    assert sorted([("oncall", "hook"), ("oncall", "journal")]) == sorted(proofs)


async def test_without_ack_within_no_page_waits_for_an_ack(make: Any) -> None:
    """`ack_within` unset (the default): the page is resolved as it is sent and nothing is
    raised however long nobody answers."""
    async with LoopbackReceiver() as hook:
        rig = await make(config(hook.url, ack_within=None))
        assert not rig.scheduler.held_to_ack("hook")
        round_ = rig.spawn(rig.scheduler.fire(JAN1))
        await rig.arrive(lambda: bool(triggers(hook)))
        await rig.until(round_.done, limit_s=60)
        assert [] == await round_
        assert page_id(JAN1, "oncall", "hook") not in rig.service.alerts
        await rig.idle(1200)
    assert [] == rig.p2s()


async def test_a_restart_mid_wait_keeps_the_deadline_and_raises_once(make: Any) -> None:
    """paramedic dies 5 minutes into the ack wait and is back 2 minutes later: the page is
    still open (its row), nothing is sent again, and the P2 comes at delivery + 15m, not
    before; dead again after the P2 and back, no second P2 and no second round."""
    async with LoopbackReceiver() as hook:
        first = await make(config(hook.url))
        first.spawn(first.scheduler.fire(JAN1))
        await first.arrive(lambda: bool(triggers(hook)))
        delivered = first.clock.wall()
        await first.delivered()
        await first.idle(300)
        await crash(first)

        second = await make(config(hook.url), wall=first.clock.wall() + 120)
        pid = page_id(JAN1, "oncall", "hook")
        assert second.service.alerts[pid].state == "firing"
        await second.scheduler.start()
        await second.near(delivered + 15 * 60 - 1)
        assert [] == second.p2s()
        await second.until(lambda: bool(second.p2s()), limit_s=5)
        assert second.clock.wall() <= delivered + 15 * 60 + 2
        await second.until(lambda: pid not in second.service.alerts, limit_s=5)
        await crash(second)

        third = await make(config(hook.url), wall=second.clock.wall() + 60)
        await third.scheduler.start()
        await third.idle(120)
        assert 1 == len(triggers(hook))
    assert [] == third.p2s()
    assert [] == [e for e in third.recorded if e.kind == TestPageRound.kind]


async def test_an_ack_after_a_restart_stops_the_p2(make: Any) -> None:
    """The page survives a restart open; acknowledged on the new run, before the bound, no
    P2 is raised."""
    async with LoopbackReceiver() as hook:
        first = await make(config(hook.url))
        first.spawn(first.scheduler.fire(JAN1))
        await first.arrive(lambda: bool(triggers(hook)))
        await first.delivered()
        await crash(first)
        second = await make(config(hook.url), wall=first.clock.wall() + 60)
        await second.scheduler.start()
        await second.tick()
        await second.service.acknowledge(page_id(JAN1, "oncall", "hook"), by="bob", why="ok")
        await second.idle(1800)
    assert [] == second.p2s()


async def round_at(rig: Rig, firing: float) -> None:
    await rig.store.append(
        TestPageRound(at=Instant(mono=0.0, wall=firing), service="paramedic", firing=firing)
    )


@pytest.mark.parametrize("missed", [1, 2])
async def test_a_missed_firing_is_sent_once_at_start(make: Any, missed: int) -> None:
    """`0 10 1 * *`, the last round recorded `missed` firings ago, paramedic back on
    2 January: one round, for 1 January 10:00 (the latest only, never a burst), marked late;
    one page per method; no more that day."""
    jan1_10 = dt.datetime(2026, 1, 1, 10, tzinfo=UTC).timestamp()
    last = [dt.datetime(2025, 12, 1, 10, tzinfo=UTC), dt.datetime(2025, 11, 1, 10, tzinfo=UTC)]
    async with LoopbackReceiver() as hook:
        raw = config(hook.url, cron="0 10 1 * *", ack_within=None)
        rig = await make(raw, wall=JAN1 + 86400)
        await round_at(rig, last[missed - 1].timestamp())
        await rig.scheduler.start()
        await rig.arrive(lambda: bool(triggers(hook)))
        await rig.delivered()
        await rig.idle(600)
        assert 1 == len(triggers(hook))
    rounds = [e for e in rig.recorded if e.kind == TestPageRound.kind]
    assert [(jan1_10, True)] == [(e.firing, e.late) for e in rounds]
    assert "(late: paramedic was down at its time)" in rounds[0].summary()


async def test_no_recorded_round_means_no_catch_up(make: Any) -> None:
    """A schedule that never ran (a first start) sends nothing at start: the next firing is
    the first."""
    async with LoopbackReceiver() as hook:
        rig = await make(config(hook.url, cron="0 10 1 * *"), wall=JAN1 + 86400)
        await rig.scheduler.start()
        await rig.idle(600)
        assert [] == hook.requests


async def test_a_catch_up_while_the_market_is_open_waits_for_the_close(make: Any) -> None:
    """Daily `0 10 * * *`, last round 1 January, paramedic back Friday 2 January at 12:00
    with the market open until 16:30: nothing before the close, the 2 January 10:00 round
    at 16:30, once."""
    friday_noon = dt.datetime(2026, 1, 2, 12, tzinfo=UTC).timestamp()
    close = dt.datetime(2026, 1, 2, 16, 30, tzinfo=UTC).timestamp()
    async with LoopbackReceiver() as hook:
        raw = {**config(hook.url, cron="0 10 * * *", ack_within=None)}
        raw["recovery"] = {"market": MARKET}
        rig = await make(raw, wall=friday_noon)
        await round_at(rig, dt.datetime(2026, 1, 1, 10, tzinfo=UTC).timestamp())
        await rig.scheduler.start()
        await rig.tick(close - friday_noon - 1)
        assert [] == hook.requests
        await rig.tick()
        await rig.arrive(lambda: bool(triggers(hook)))
        assert rig.clock.wall() == close
        await rig.delivered()
        await rig.idle(300)
        assert 1 == len(triggers(hook))
    rounds = [e for e in rig.recorded if e.kind == TestPageRound.kind]
    assert [dt.datetime(2026, 1, 2, 10, tzinfo=UTC).timestamp()] == [e.firing for e in rounds]


async def test_a_round_cut_off_after_its_record_is_finished_once(make: Any) -> None:
    """Recorded (`test_page.round`) but killed before any page went: the restart sends the
    round's pages once, without recording another round."""
    async with LoopbackReceiver() as hook:
        first = await make(config(hook.url, ack_within=None))
        await round_at(first, JAN1)
        await crash(first)
        second = await make(config(hook.url, ack_within=None), wall=JAN1 + 30)
        await second.scheduler.start()
        await second.arrive(lambda: bool(triggers(hook)))
        await second.delivered()
        await second.idle(300)
        assert [page_id(JAN1, "oncall", "hook")] == [t["alert_id"] for t in triggers(hook)]
    assert [] == [e for e in second.recorded if e.kind == TestPageRound.kind]


def test_the_channels_held_to_ack_within_are_those_that_page_a_person() -> None:
    """Held: the kinds that put a page in front of a person; not held: the log, another
    Alertmanager and Jira (as the documentation lists them); every kind is one or the other."""
    assert {"log", "alertmanager", "jira"} == set(CHANNEL_KINDS) - ACK_CHANNEL_KINDS
    assert ACK_CHANNEL_KINDS <= set(CHANNEL_KINDS)


async def test_a_crash_between_the_p2_and_the_page_resolve_closes_the_page_only(
    make: Any,
) -> None:
    """The P2's row committed, the page still open when paramedic dies: the restart finds
    the P2 by its id, raises nothing, and resolves the page."""
    async with LoopbackReceiver() as hook:
        first = await make(config(hook.url))
        first.spawn(first.scheduler.fire(JAN1))
        await first.arrive(lambda: bool(triggers(hook)))
        await first.delivered()
        fid = failure_id(JAN1, "oncall", "hook")
        sentence = "was delivered at 00:00 but not acknowledged within 15 min"
        p2 = failure_alert(fid, "oncall", "hook", "not acknowledged", sentence, JAN1)
        await first.service.raise_alert(p2)  # what `_fail` commits before it resolves
        await crash(first)
        second = await make(config(hook.url), wall=JAN1 + 1200)
        pid = page_id(JAN1, "oncall", "hook")
        assert pid in second.service.alerts
        await second.scheduler.start()
        await second.until(lambda: pid not in second.service.alerts, limit_s=10)
        await second.idle(600)
    assert [] == second.p2s()
    assert fid in second.service.alerts  # the P2 stays open for a person
