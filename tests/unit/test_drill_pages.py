"""A drill's pages (labels `drill`, `drill_to`) read DRILL and reach only the contacts the
drill names: the route tree and every rung of the ladder naming anyone else are skipped,
while the same alert without the label pages the default P0 route and climbs the ladder
(FakeClock, a real SQLite outbox)."""

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

MIN = 60.0


def p0(aid: str, **labels: str) -> Alert:
    return Alert(
        id=aid,
        type="crash",
        source="engine",
        severity="P0",
        title="engine crash",
        labels={"service": "engine", "kind": "crash", **labels},
    )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[AlertingService, FakeClock, list[Any]]]:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    recorded: list[Any] = []
    tasks: set[asyncio.Task[Any]] = set()
    service = AlertingService(
        AlertingConfig(),
        clock=clock,
        store=store,
        channels={"log": Capture()},
        submit=recorded.extend,
        job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
    )
    yield service, clock, recorded
    await asyncio.gather(*tasks, return_exceptions=True)
    await store.close()


async def receivers(service: AlertingService, alert_id: str) -> list[str]:
    rows = await service.store.notifications_for(alert_id)
    return sorted({r.payload["labels"]["receiver"] for r in rows if r.action == "trigger"})


async def test_a_drill_pages_only_the_named_contact_and_reads_drill(rig: Any) -> None:
    """drill_to=oncall: the P0 is paged to oncall alone (not team, not compliance), its title
    starts with [DRILL], and 20 minutes of ladder page nobody else (backup-oncall, team lead,
    CTO, CEO are skipped); without the label the same P0 reaches the route and the ladder."""
    service, clock, recorded = rig
    drilled = await service.raise_alert(p0("d1", drill="drl_1", drill_to="oncall"))
    assert drilled.title == "[DRILL] engine crash"
    assert ["oncall"] == await receivers(service, "d1")
    [row] = await service.store.notifications_for("d1")
    assert "[P0] [DRILL] engine crash" == row.payload["title"]
    clock.advance(20 * MIN)
    assert [] == [e.step for e in recorded if e.kind == "alert.escalated"]

    await service.resolve("d1", by="olga", why="drill over")
    plain = await service.raise_alert(p0("real"))
    assert plain.title == "engine crash"
    assert ["compliance", "oncall", "team"] == await receivers(service, "real")
    clock.advance(20 * MIN)
    steps = [e.step for e in recorded if e.kind == "alert.escalated"]
    assert {"backup-oncall", "team-lead", "cto", "ceo"} <= set(steps)


async def test_a_drill_that_names_the_backup_exercises_that_rung_only(rig: Any) -> None:
    """drill_to=oncall,backup-oncall: the backup's rung (+2 min) fires, naming only the
    backup; the team lead's, CTO's and CEO's rungs do not."""
    service, clock, recorded = rig
    await service.raise_alert(p0("d2", drill="drl_2", drill_to="oncall,backup-oncall"))
    assert ["backup-oncall", "oncall"] == await receivers(service, "d2")
    clock.advance(20 * MIN)
    escalated = [(e.step, e.contacts) for e in recorded if e.kind == "alert.escalated"]
    assert [("backup-oncall", ("backup-oncall",))] == escalated


async def test_a_drills_p2_is_summarised_apart_and_only_to_the_drill_contact(rig: Any) -> None:
    """P2s are grouped (30 s) into one summary. A drill's P2 and a real P2 of the same
    service and kind are two groups: the drill's summary reads [DRILL] and goes to the
    drill's contact alone, not to the receivers the P2 route names; the real one goes to
    the route and says nothing of a drill. (A drill's P2 once went out in a summary on the
    real route.)"""
    service, clock, recorded = rig

    def p2(aid: str, **labels: str) -> Alert:
        return Alert(  # another source each: not a duplicate of the other, one group by labels
            id=aid,
            type="degradation",
            source=f"engine/{aid}",
            severity="P2",
            title="engine degradation",
            labels={"service": "engine", "kind": "degradation", **labels},
        )

    await service.raise_alert(p2("d2", drill="drl_1", drill_to="oncall"))
    await service.raise_alert(p2("r2"))
    assert [] == await receivers(service, "d2")  # held for its group
    clock.advance(31)
    await service.flush_summaries()
    summaries = [a for a in service.book.alerts.values() if a.type == "summary"]
    [drilled] = [a for a in summaries if a.labels.get("drill") == "drl_1"]
    [real] = [a for a in summaries if "drill" not in a.labels]
    assert drilled.title.startswith("[DRILL] 1 alerts for service=engine"), drilled.title
    assert "drill=drl_1" in drilled.title
    assert ["oncall"] == await receivers(service, drilled.id)
    [raised] = [e for e in recorded if e.kind == "alert.raised" and e.alert_id == drilled.id]
    assert "engine" == raised.service, "on the engine's timeline: in the drill's report"
    routed = await receivers(service, real.id)
    assert routed, "the real P2's summary goes where the route says"
    assert not real.title.startswith("[DRILL]")
    assert "drill" not in real.title
