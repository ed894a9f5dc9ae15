"""Held alerts are judged again when what held them goes (`reevaluate_held`): a deleted
silence, the alert a duplicate was held for, one of two inhibiting sources. A held alert
escalates to nobody until it is released (FakeClock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.config.alerting import AlertingConfig
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import CapturingChannel as Capture
from paramedic.testing import FakeClock

MIN = 60.0


@dataclass
class Rig:
    service: AlertingService
    clock: FakeClock
    recorded: list[Any]
    store: SQLiteStore

    def kinds(self, kind: str) -> list[Any]:
        return [e for e in self.recorded if e.kind == kind]

    async def triggers(self, alert_id: str) -> list[str]:
        rows = await self.store.notifications_for(alert_id)
        return sorted({r.payload["labels"]["receiver"] for r in rows if r.action == "trigger"})


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[tuple[SQLiteStore, set[asyncio.Task[Any]]]] = []

    async def build(config: dict[str, Any], depends_on: dict[str, list[str]] | None = None) -> Rig:
        store = SQLiteStore(tmp_path / f"p{len(made)}.db")
        await store.open()
        tasks: set[asyncio.Task[Any]] = set()
        made.append((store, tasks))
        clock = FakeClock()
        recorded: list[Any] = []
        service = AlertingService(
            AlertingConfig.model_validate(config),
            clock=clock,
            store=store,
            channels={"log": Capture()},
            submit=recorded.extend,
            job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
            depends_on=depends_on,
        )
        return Rig(service, clock, recorded, store)

    yield build
    for store, tasks in made:
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()


def p1(aid: str, service: str = "engine", kind: str = "crash") -> Alert:
    return Alert(
        id=aid,
        type=kind,
        source=service,
        severity="P1",
        title=f"{service} {kind}",
        labels={"service": service, "kind": kind},
    )


LADDER = {
    "P1": {
        "steps": [
            {"name": "oncall", "after": "0s", "contacts": ["oncall"], "level": 1},
            {"name": "backup-oncall", "after": "5m", "contacts": ["backup-oncall"], "level": 2},
        ]
    }
}


async def test_a_deleted_silence_releases_what_it_held_and_the_ladder_starts_then(
    make: Any,
) -> None:
    """Silenced: recorded, held, nobody paged, and 10 min later still nobody escalated to.
    The silence is deleted: `reevaluate_held` pages the alert, and its ladder starts now."""
    rig: Rig = await make(
        {
            "silences": [
                {
                    "id": "swap",
                    "matchers": ["service=engine"],
                    "ends": "2099-01-01T00:00:00Z",
                    "author": "bob",
                    "comment": "engine swap",
                }
            ],
            "escalation": {"policies": LADDER},
        }
    )
    await rig.service.raise_alert(p1("a1"))
    assert ["silenced by silence swap (bob: engine swap)"] == [
        e.reason for e in rig.kinds("alert.held")
    ]
    assert [] == await rig.triggers("a1")
    rig.clock.advance(10 * MIN)
    assert [] == rig.kinds("alert.escalated")
    assert 0 == await rig.service.reevaluate_held()  # nothing changed: still held, no noise
    assert 1 == len(rig.kinds("alert.held"))

    assert rig.service.muter.expire_silence("swap")
    assert 1 == await rig.service.reevaluate_held()
    [released] = rig.kinds("alert.released")
    assert ("a1", "silenced by silence swap (bob: engine swap)") == (
        released.alert_id,
        released.was,
    )
    assert "oncall" in await rig.triggers("a1")
    rig.clock.advance(5 * MIN)  # backup-oncall 5 min after the release, not after the raise
    assert ["backup-oncall"] == [e.step for e in rig.kinds("alert.escalated")]


async def test_a_duplicate_is_paged_when_the_alert_it_duplicated_resolves(make: Any) -> None:
    """Two open alerts of one kind from one source: the second is held as a duplicate of the
    first (looked at again later, nothing new is recorded); the first resolves while the
    second fires: the second is paged."""
    rig: Rig = await make({})
    await rig.service.raise_alert(p1("first"))
    await rig.service.raise_alert(p1("second"))
    [held] = {e.reason for e in rig.kinds("alert.held")}
    assert "duplicate of crash from engine" in held
    assert "(first, still firing;" in held
    assert [] == await rig.triggers("second")
    before = len(rig.kinds("alert.held"))
    rig.clock.advance(30)  # "sent 30 s ago" is no news: no new record on a sweep
    assert 0 == await rig.service.reevaluate_held()
    assert before == len(rig.kinds("alert.held"))
    await rig.service.resolve("first", by="paramedic", why="up again")
    assert ["second"] == [e.alert_id for e in rig.kinds("alert.released")]
    assert await rig.triggers("second")


async def test_held_by_two_sources_waits_for_both(make: Any) -> None:
    """The engine is inhibited by two gateways; one recovers: still held, the new reason
    recorded once; the other recovers: paged."""
    rig: Rig = await make(
        {"inhibit_rules": [{"source": ["kind=network_partition"], "target": ["service=engine"]}]}
    )
    await rig.service.raise_alert(p1("gw-a", "gw-a", "network_partition"))
    await rig.service.raise_alert(p1("gw-b", "gw-b", "network_partition"))
    await rig.service.raise_alert(p1("eng"))
    await rig.service.resolve("gw-a", by="paramedic", why="link back")
    reasons = [e.reason for e in rig.kinds("alert.held") if e.alert_id == "eng"]
    assert ["inhibited by gw-a network_partition (gw-a)"] == reasons[:1]
    assert ["inhibited by gw-b network_partition (gw-b)"] == reasons[1:]
    assert [] == await rig.triggers("eng")
    await rig.service.resolve("gw-b", by="paramedic", why="link back")
    assert ["eng"] == [e.alert_id for e in rig.kinds("alert.released")]
    assert await rig.triggers("eng")


async def test_depends_on_holds_only_for_a_dependency_alert_as_severe(make: Any) -> None:
    """`depends_on`: a venue's P3 warning does not hold the engine's P1; the venue's P1
    outage does, with a reason naming the dependency, until it resolves."""
    rig: Rig = await make({}, depends_on={"engine": ["venue"]})
    await rig.service.raise_alert(replace(p1("venue-warn", "venue", "memory_leak"), severity="P3"))
    await rig.service.raise_alert(p1("eng-1"))
    assert await rig.triggers("eng-1")
    await rig.service.raise_alert(p1("venue-down", "venue", "network_partition"))
    await rig.service.raise_alert(p1("eng-2", kind="hang"))
    [held] = [e.reason for e in rig.kinds("alert.held") if e.alert_id == "eng-2"]
    assert "engine depends on venue, which is down: venue network_partition (venue-down)" == held
    assert 1 == rig.service.stats.held["dependency"], "counted under its own metric label"
    assert [] == await rig.triggers("eng-2")
    await rig.service.resolve("venue-down", by="paramedic", why="up again")
    assert await rig.triggers("eng-2")


async def resolves(rig: Rig, alert_id: str) -> list[tuple[str, str]]:
    """(receiver, status) of each resolve notification stored for the alert."""
    rows = await rig.store.notifications_for(alert_id)
    return sorted(
        (r.payload["labels"]["receiver"], r.payload["fields"]["status"])
        for r in rows
        if r.action == "resolve"
    )


async def test_an_alert_held_by_a_dependency_sends_its_resolve_saying_it_was_not_paged(
    make: Any,
) -> None:
    """The venue is down and paged; the engine (depends on it) fails too: recorded and held,
    nobody paged. The engine comes back while the venue is still down: its resolve goes to
    the receivers that were paged for the venue (the people working the cause), saying it
    was never paged and why; no trigger for it, ever."""
    rig: Rig = await make({}, depends_on={"engine": ["venue"]})
    await rig.service.raise_alert(p1("venue-down", "venue", "network_partition"))
    await rig.service.raise_alert(p1("eng", kind="network_partition"))
    assert [] == await rig.triggers("eng")
    await rig.service.resolve("eng", by="paramedic", why="connection back")
    told = await resolves(rig, "eng")
    assert await rig.triggers("venue-down") == sorted({receiver for receiver, _ in told})
    [status] = {status for _, status in told}
    assert status.startswith("resolved by paramedic: connection back; it was not paged while")
    assert "engine depends on venue, which is down" in status
    assert [] == await rig.triggers("eng")
    await rig.service.resolve("venue-down", by="paramedic", why="up again")
    assert [] == rig.kinds("alert.released"), "a resolved alert is never released"
    assert [] == await rig.triggers("eng")


async def test_an_inhibited_alert_sends_its_resolve_a_silenced_one_or_a_duplicate_does_not(
    make: Any,
) -> None:
    """Held by an inhibition rule whose source was paged: its resolve is sent to those paged
    for the source. Held by a silence: nobody asked to hear of it, no resolve. Held as a
    duplicate: the alert it duplicated speaks for it. Held by a source that was itself
    silenced: nobody was paged for the cause either, so no resolve."""
    rig: Rig = await make(
        {
            "inhibit_rules": [
                {"source": ["kind=network_partition"], "target": ["kind=hang"], "equal": ["venue"]}
            ],
            "silences": [
                {
                    "id": "swap",
                    "matchers": ["service=quiet"],
                    "ends": "2099-01-01T00:00:00Z",
                    "author": "bob",
                    "comment": "swap",
                }
            ],
        }
    )

    def at(alert: Alert, venue: str) -> Alert:
        return replace(alert, labels={**alert.labels, "venue": venue})

    await rig.service.raise_alert(at(p1("gw", "gw", "network_partition"), "a"))
    await rig.service.raise_alert(at(p1("eng-hang", kind="hang"), "a"))
    await rig.service.raise_alert(p1("quiet", "quiet", "crash"))
    await rig.service.raise_alert(p1("first", "feed", "crash"))
    await rig.service.raise_alert(p1("dup", "feed", "crash"))
    await rig.service.raise_alert(at(p1("quiet-cause", "quiet", "network_partition"), "b"))
    await rig.service.raise_alert(at(p1("b-hang", "router", "hang"), "b"))
    held = {e.alert_id: e.reason for e in rig.kinds("alert.held")}
    assert {"eng-hang", "quiet", "dup", "quiet-cause", "b-hang"} <= set(held)
    assert "(quiet-cause)" in held["b-hang"], held
    for aid in ("eng-hang", "quiet", "dup", "b-hang"):
        await rig.service.resolve(aid, by="paramedic", why="over")
    told = {receiver for receiver, _ in await resolves(rig, "eng-hang")}
    assert set(await rig.triggers("gw")) == told
    assert [] == await resolves(rig, "quiet")
    assert [] == await resolves(rig, "dup")
    assert [] == await resolves(rig, "b-hang")


async def test_a_held_alert_is_still_held_after_a_restart_and_paged_when_released(
    make: Any, tmp_path: Path
) -> None:
    """Held under a silence, then paramedic restarts on the same store with the silence
    gone (deleted while it was down): the reloaded alert is re-evaluated and paged."""
    silenced = {
        "silences": [
            {
                "id": "swap",
                "matchers": ["service=engine"],
                "ends": "2099-01-01T00:00:00Z",
                "author": "bob",
                "comment": "engine swap",
            }
        ]
    }
    rig: Rig = await make(silenced)
    await rig.service.raise_alert(p1("a1"))
    assert [] == await rig.triggers("a1")
    await rig.store.close()

    store = SQLiteStore(tmp_path / "p0.db")  # the store the first run used
    await store.open()
    try:
        again = AlertingService(
            AlertingConfig(),
            clock=FakeClock(),
            store=store,
            channels={"log": Capture()},
            submit=lambda events: None,
            job=lambda coro: None,
        )
        await again.start()
        assert 1 == await again.reevaluate_held()
        rows = await store.notifications_for("a1")
        assert [r for r in rows if r.action == "trigger"]
    finally:
        await store.close()


async def test_a_window_ending_by_the_clock_pages_the_rung_it_withheld(make: Any) -> None:
    """Paged at 00:00 (oncall); a one-off maintenance window 00:01-00:10 holds the +5 min
    rung (backup-oncall); the window ends by the clock, nobody touches anything: one sweep
    after its end backup-oncall is paged, once."""
    rig: Rig = await make(
        {
            "maintenance_windows": [
                {
                    "name": "upgrade",
                    "once": {"start": "2026-01-01T00:01:00Z", "end": "2026-01-01T00:10:00Z"},
                }
            ],
            "escalation": {"policies": LADDER},
        }
    )
    await rig.service.raise_alert(p1("a1"))
    assert "oncall" in await rig.triggers("a1")
    rig.clock.advance(5 * MIN)
    assert ["maintenance window upgrade"] == [e.reason for e in rig.kinds("alert.held")]
    assert "backup-oncall" not in await rig.triggers("a1")
    rig.clock.advance(6 * MIN)
    assert 1 == await rig.service.sweep()
    assert 0 == await rig.service.sweep()
    assert "backup-oncall" in await rig.triggers("a1")
    [released] = rig.kinds("alert.released")
    assert "rungs held while muted" == released.was


async def test_a_resolved_alert_leaves_nothing_behind_in_the_pipeline(make: Any) -> None:
    """Alert ids are chosen by senders (an Alertmanager webhook): 200 alerts raised and
    resolved, and test pages sent, leave no per-alert entry in the service's tables."""
    rig: Rig = await make({"escalation": {"policies": LADDER}})
    for n in range(200):
        await rig.service.raise_alert(p1(f"a{n}", service=f"svc-{n}"))
        await rig.service.resolve(f"a{n}", by="paramedic", why="up again")
    await rig.service.test_page("P1", channel=None, by="olga")
    tables = {
        "alerts": rig.service.alerts,
        "started_wall": rig.service.book.started_wall,
        "routed": rig.service.book.routed,
        "failures": rig.service.book.failures,
        "holding": rig.service.book.holding,
        "withheld": rig.service.book.withheld,
    }
    assert {name: 0 for name in tables} == {name: len(t) for name, t in tables.items()}


async def test_a_failing_summary_flush_does_not_stop_the_pipeline(make: Any) -> None:
    """A summary flush that raises (a store refusing a write, say) is logged at the edge of
    its tick: the outbox and the held-alert sweep run on, and the next flush is tried."""
    rig: Rig = await make({})
    calls: list[float] = []

    async def flaky() -> int:
        calls.append(rig.clock.monotonic())
        if len(calls) == 1:
            msg = "disk full"
            raise OSError(msg)
        return 0

    rig.service.flush_summaries = flaky  # type: ignore[method-assign]
    running = asyncio.ensure_future(rig.service.run())
    try:
        for _ in range(3):
            await asyncio.sleep(0)
            rig.clock.advance(5)
            for _ in range(5):
                await asyncio.sleep(0)
        assert not running.done()
        assert 2 <= len(calls)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
