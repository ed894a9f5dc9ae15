"""Periodic drills (FakeClock, real SQLite timeline and bus): a `drills:` entry starts its
drill at its cron's firing, as `schedule`; a firing whose drill cannot start is a note on
the timeline saying why; a firing while the market is open waits for the close; a firing
missed while paramedic was down is a note, never a late drill; the config refuses an entry
that could never run, naming the key."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from paramedic.config.model import Config
from paramedic.core.bus import EventBus
from paramedic.core.clock import Instant
from paramedic.core.drill_events import DrillStarted
from paramedic.runtime.drill_schedule import DrillScheduler
from paramedic.runtime.drills import Drills
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock

HOOK = {"latency": {"command": {"argv": [sys.executable, "-c", "pass"]}}}
MARKET = {
    "timezone": "UTC",
    "sessions": [{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "08:00", "close": "16:30"}],
}


def config(**drill: Any) -> dict[str, Any]:
    entry = {"service": "engine", "kind": "latency", "cron": "0 10 * * *", **drill}
    return {"services": {"engine": {"chaos": HOOK}}, "drills": [entry]}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Any]:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    made: list[tuple[Drills, set[asyncio.Task[Any]]]] = []

    async def build(
        raw: dict[str, Any], *, wall: float | None = None
    ) -> tuple[DrillScheduler, EventBus, FakeClock]:
        cfg = Config.model_validate(raw)
        bus = EventBus(store)
        clock = FakeClock() if wall is None else FakeClock(wall=wall)
        drills = Drills(
            cfg,
            clock=clock,
            bus=bus,
            record=bus.publish,
            store=store,
            pid_of=lambda name: None,
            session=lambda: None,
        )
        tasks: set[asyncio.Task[Any]] = set()
        made.append((drills, tasks))
        scheduler = DrillScheduler(
            cfg,
            clock=clock,
            drills=drills,
            loop=lambda coro, name: tasks.add(asyncio.ensure_future(coro)),
            record=bus.publish,
            store=store,
        )
        return scheduler, bus, clock

    yield build
    for drills, tasks in made:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await drills.stop()
    await store.close()


async def test_the_drill_starts_at_its_firing_and_a_refused_one_is_a_note(rig: Any) -> None:
    """`0 10 * * *` from midnight: no drill at 09:59, one by `schedule` at 10:00 paging
    oncall; fired again while it still runs, the refusal is a note naming the running drill."""
    scheduler, bus, clock = await rig(config(timeout="1h"))
    started = bus.subscribe("started", "drill.started")
    await scheduler.start()
    await asyncio.sleep(0)
    clock.advance(9 * 3600 + 59 * 60)
    await asyncio.sleep(0)
    assert started.queue.empty()
    clock.advance(60)
    drill = (await asyncio.wait_for(started.queue.get(), 5)).event
    assert ("engine", "latency", "schedule", ("oncall",)) == (
        drill.service,
        drill.drill_kind,
        drill.by,
        drill.contacts,
    )
    notes = bus.subscribe("notes", "note.added")
    assert await scheduler.fire(scheduler._config.drills[0]) is None
    note = (await asyncio.wait_for(notes.queue.get(), 5)).event
    assert note.author == "schedule"
    assert note.text == (
        f"scheduled latency drill of engine not started: drill {drill.drill} is still"
        " running on engine"
    )


async def test_a_firing_while_the_market_is_open_waits_for_the_close(rig: Any) -> None:
    """Thursday 1 January 2026, market 08:00-16:30: the 10:00 drill is due at 16:30, or at
    10:00 with while_market_open."""
    closed, _, clock = await rig({**config(), "recovery": {"market": MARKET}})
    allowed, _, _ = await rig({**config(while_market_open=True), "recovery": {"market": MARKET}})
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert at.replace(hour=16, minute=30).timestamp() == closed.next_due(
        closed._config.drills[0], clock.wall()
    )
    assert at.replace(hour=10).timestamp() == allowed.next_due(
        allowed._config.drills[0], clock.wall()
    )


async def fired_at(bus: EventBus, wall: float) -> None:
    """The store's record of the entry's last firing: its drill started by the schedule."""
    at = Instant(mono=0.0, wall=wall)
    started = DrillStarted(
        at=at,
        service="engine",
        drill="d0",
        drill_kind="latency",
        contacts=("oncall",),
        by="schedule",
        timeout_s=300.0,
        target_rto_s=30.0,
    )
    await bus.publish(started)


async def test_a_firing_missed_while_down_is_a_note_not_a_late_drill(rig: Any) -> None:
    """Last fired 31 December 10:00; paramedic back on 2 January: the 1 January 10:00 drill
    is not run late, a note says it was skipped and when; a second start notes nothing more;
    the next firing (2 January 10:00) runs as usual."""
    jan2 = dt.datetime(2026, 1, 2, tzinfo=dt.UTC).timestamp()
    scheduler, bus, clock = await rig(config(timeout="1h"), wall=jan2)
    await fired_at(bus, jan2 - 38 * 3600)
    started = bus.subscribe("started", "drill.started")
    notes = bus.subscribe("notes", "note.added")
    await scheduler.start()
    note = (await asyncio.wait_for(notes.queue.get(), 5)).event
    assert note.text == (
        "scheduled latency drill of engine skipped: paramedic was down at 2026-01-01 10:00 UTC"
    )
    assert started.queue.empty()
    again, _, _ = await rig(config(timeout="1h"), wall=jan2 + 60)
    assert jan2 + 60 == await again.skip_missed(again._config.drills[0])
    assert notes.queue.empty()
    clock.advance(10 * 3600)
    drill = (await asyncio.wait_for(started.queue.get(), 5)).event
    assert (drill.by, drill.at.wall) == ("schedule", jan2 + 10 * 3600)


async def test_a_first_start_and_a_firing_still_waiting_for_the_close_skip_nothing(
    rig: Any,
) -> None:
    """No firing ever recorded: nothing to call missed. Last fired 1 January; back on Friday
    2 January at 12:00 while the market is open: the 10:00 firing is not missed (it waits for
    the 16:30 close) and runs then."""
    noon = dt.datetime(2026, 1, 2, 12, tzinfo=dt.UTC).timestamp()
    fresh, _, _ = await rig(config(), wall=noon)
    assert noon == await fresh.skip_missed(fresh._config.drills[0])
    scheduler, bus, clock = await rig({**config(), "recovery": {"market": MARKET}}, wall=noon)
    await fired_at(bus, noon - 26 * 3600 + 4.5 * 3600)  # 1 January 16:30
    started = bus.subscribe("started", "drill.started")
    notes = bus.subscribe("notes", "note.added")
    await scheduler.start()
    await asyncio.sleep(0)
    clock.advance(4.5 * 3600 - 1)
    await asyncio.sleep(0)
    assert started.queue.empty()
    clock.advance(1)
    drill = (await asyncio.wait_for(started.queue.get(), 5)).event
    assert drill.at.wall == dt.datetime(2026, 1, 2, 16, 30, tzinfo=dt.UTC).timestamp()
    assert notes.queue.empty()


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"service": "nope"}, "drills[0].service: unknown service 'nope'"),
        ({"kind": "leak"}, "drills[0].kind: engine has no chaos hook for leak"),
        ({"contacts": ["zed"]}, "drills[0].contacts: unknown contact zed"),
        ({"cron": "61 * * * *"}, "minute: '61' is outside 0-59"),
    ],
)
def test_an_entry_that_could_never_run_is_a_config_error(entry: dict[str, Any], words: str) -> None:
    """Each mistake is refused at load, naming the entry's key."""
    with pytest.raises(ValidationError, match=words.replace("[", r"\[").replace("]", r"\]")):
        Config.model_validate(config(**entry))
