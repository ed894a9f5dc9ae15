"""AlertingService policy in the pipeline: dedup and grouping apply, summaries do go out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.config.alerting import AlertingConfig
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import CapturingChannel as Capture
from paramedic.testing import FakeClock


@pytest.fixture
async def rig(
    tmp_path: Path,
) -> AsyncIterator[tuple[AlertingService, Capture, FakeClock, list[Any]]]:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    channel = Capture()
    recorded: list[Any] = []
    tasks: set[asyncio.Task[Any]] = set()
    service = AlertingService(
        AlertingConfig(),
        clock=clock,
        store=store,
        channels={"log": channel},
        submit=recorded.extend,
        job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
    )
    runner = asyncio.create_task(service.outbox.run())
    yield service, channel, clock, recorded
    runner.cancel()
    await asyncio.gather(runner, *tasks, return_exceptions=True)
    await store.close()


def p2(n: int) -> Alert:
    return Alert(
        id=f"alert-{n}",
        type="degradation",
        source="engine",
        severity="P2",
        title=f"engine latency high ({n})",
        labels={"service": "engine", "kind": "degradation"},
        what="order_latency_p99_us 5012 > 1000 for 5.0 s",
    )


async def test_duplicates_are_suppressed_and_similar_alerts_grouped_into_one_summary(
    rig: tuple[AlertingService, Capture, FakeClock, list[Any]],
) -> None:
    """A P2 is held for its group (nothing sent), its duplicate is suppressed, and after
    group_wait one summary per receiver goes out naming the held alert."""
    service, channel, clock, recorded = rig
    await service.raise_alert(p2(1))
    await service.raise_alert(p2(2))  # same (type, source) within 5 min: a duplicate
    held = [(e.alert_id, e.reason) for e in recorded if e.kind == "alert.held"]
    receivers = len(held) // 2  # one record per receiver of the P2 route
    assert receivers >= 1
    assert all(aid == "alert-1" for aid, _ in held[:receivers])
    assert all("duplicate of degradation from engine" in why for _, why in held[receivers:])
    assert [] == channel.sent
    clock.advance(31.0)  # past the default group_wait (30 s)
    sent = await service.flush_summaries()
    assert sent >= 1
    first = await asyncio.wait_for(channel.arrived.get(), 5)
    assert first.alert_id.startswith("summary:")
    assert "engine latency high (1)" in first.body
    assert 0 == await service.flush_summaries()  # a group is summarised once


async def test_an_exchange_outage_inhibits_engine_alerts_for_its_venue_until_resolved(
    tmp_path: Path,
) -> None:
    """Seed 2.6: while the NYSE link is down, engine alerts for NYSE are recorded but not
    sent; CME engines still page; once the outage resolves, the NYSE engine that still
    fails is paged."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    channel = Capture()
    recorded: list[Any] = []
    config = AlertingConfig.model_validate(
        {
            "inhibit_rules": [
                {"source": ["kind=network_partition"], "target": ["tier=1"], "equal": ["venue"]}
            ]
        }
    )
    service = AlertingService(
        config,
        clock=FakeClock(),
        store=store,
        channels={"log": channel},
        submit=recorded.extend,
        job=lambda coro: None,
    )

    def alert(aid: str, kind: str, venue: str) -> Alert:
        return Alert(
            id=aid,
            type=kind,
            source=f"{kind}-{venue}",
            severity="P1",
            title=f"{kind} {venue}",
            labels={"kind": kind, "venue": venue, "tier": "1", "service": f"svc-{venue}"},
        )

    await service.raise_alert(alert("outage", "network_partition", "NYSE"))
    await service.raise_alert(alert("nyse-1", "crash", "NYSE"))
    await service.raise_alert(alert("cme-1", "crash", "CME"))
    held = {e.alert_id: e.reason for e in recorded if e.kind == "alert.held"}
    assert {"nyse-1"} == set(held)
    assert "inhibited by network_partition NYSE (outage) on venue=NYSE" == held["nyse-1"]
    recorded.clear()
    await service.resolve("outage", by="test", why="link back")
    # nyse-1 still fires: it is paged now, and nothing is held any more
    assert ["nyse-1"] == [e.alert_id for e in recorded if e.kind == "alert.released"]
    assert [] == [e for e in recorded if e.kind == "alert.held"]
    triggers = [n for n in await store.notifications_for("nyse-1") if n.action == "trigger"]
    assert triggers
    await store.close()


async def test_one_resolve_that_ends_two_summaries_resolves_both(tmp_path: Path) -> None:
    """An alert rate-limited at both receivers of the P2 route is named by two summaries
    (one per receiver); resolving it ends both in one call. The first summary's own resolve
    re-enters the summary bookkeeping and ends the second there: the outer pass must not end
    it again (it raised KeyError and left the resolve half done)."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    recorded: list[Any] = []
    config = AlertingConfig.model_validate(
        {"grouping": {"severities": []}, "rate_limit": {"max_per_receiver": 1}}
    )
    tasks: set[asyncio.Task[Any]] = set()
    service = AlertingService(
        config,
        clock=clock,
        store=store,
        channels={"log": Capture()},
        submit=recorded.extend,
        job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
    )
    runner = asyncio.create_task(service.outbox.run())
    await service.raise_alert(p2(1))
    limited = p2(2)
    await service.raise_alert(
        Alert(
            id=limited.id,
            type="memory_leak",
            source=limited.source,
            severity="P2",
            title="engine memory grows",
            labels={"service": "engine", "kind": "memory_leak"},
            what="rss +40 MB/min",
        )
    )
    clock.advance(3601.0)
    await service.flush_summaries()
    raised = {e.alert_id for e in recorded if e.kind == "alert.raised"}
    summaries = {s for s in raised if s.startswith("summary:")}
    assert len(summaries) == 2
    await service.resolve("alert-2", by="test", why="fixed")
    resolved = {e.alert_id for e in recorded if e.kind == "alert.resolved"}
    assert summaries | {"alert-2"} <= resolved
    runner.cancel()
    await asyncio.gather(runner, *tasks, return_exceptions=True)
    await store.close()
