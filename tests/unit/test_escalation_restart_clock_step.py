"""A wall-clock step before a restart of paramedic moves no rung.

The ladder was rebased on wall time at every restart, as if the monotonic clock restarted
with paramedic. It does not: CLOCK_MONOTONIC runs from the machine's boot. So a restart on
the same boot keeps each rung at its monotonic time, and only a reboot (a new boot id: a new
FakeClock here) falls back to wall time, the one clock two boots share.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.log import LogChannel
from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.config.alerting import AlertingConfig
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock

CONFIG = AlertingConfig.model_validate(
    {
        "contacts": {"oncall": {"channels": ["log"]}, "backup-oncall": {"channels": ["log"]}},
        "routes": {"receivers": []},
        "escalation": {
            "policies": {
                "P0": {
                    "steps": [
                        {"name": "oncall", "after": "0s", "contacts": ["oncall"], "level": 1},
                        {
                            "name": "backup-oncall",
                            "after": "2m",
                            "contacts": ["backup-oncall"],
                            "level": 2,
                        },
                    ]
                }
            }
        },
        "replace_defaults": True,
    }
)

ALERT = Alert(
    id="inc_1:failure",
    type="crash",
    source="engine",
    severity="P0",
    title="engine crashed",
    labels={"service": "engine", "kind": "crash"},
)


def service(store: SQLiteStore, clock: FakeClock, jobs: set[asyncio.Task[Any]]) -> AlertingService:
    return AlertingService(
        CONFIG,
        clock=clock,
        store=store,
        channels={"log": LogChannel("log")},
        submit=lambda events: None,
        job=lambda coro: jobs.add(asyncio.ensure_future(coro)),
    )


async def receivers(store: SQLiteStore) -> list[str]:
    return sorted(r.payload["labels"]["receiver"] for r in await store.notifications_for(ALERT.id))


@pytest.mark.parametrize("step", [3600.0, -3600.0])
async def test_a_restart_after_a_wall_step_keeps_the_rung_on_its_monotonic_time(
    tmp_path: Path, step: float
) -> None:
    """Raised at t=0; the wall clock steps `step` at t=10 s; paramedic restarts at t=20 s on
    the same boot. The +2 min rung fires neither at the restart (a +1 h step made it look
    an hour overdue) nor an hour late (-1 h): at t=120 s."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    jobs: set[asyncio.Task[Any]] = set()
    try:
        first = service(store, clock, jobs)
        await first.raise_alert(ALERT)
        await asyncio.gather(*jobs)
        first.escalation.resolve(ALERT.id)  # its process dies: its timers with it
        clock.advance(10)
        clock.step_wall(step)
        clock.advance(10)
        restarted = service(store, clock, jobs)
        await restarted.start()
        await asyncio.gather(*jobs)
        assert ["oncall"] == await receivers(store)
        clock.advance(99)
        await asyncio.gather(*jobs)
        assert ["oncall"] == await receivers(store)
        clock.advance(1)
        await asyncio.gather(*jobs)
        assert ["backup-oncall", "oncall"] == await receivers(store)
    finally:
        await asyncio.gather(*jobs, return_exceptions=True)
        await store.close()


async def test_after_a_reboot_the_ladder_rebases_on_wall_time(tmp_path: Path) -> None:
    """A new boot (a new FakeClock: its monotonic time starts again) has only wall time in
    common with the last: the rung keeps its wall-clock schedule."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    jobs: set[asyncio.Task[Any]] = set()
    first = FakeClock()
    try:
        await service(store, first, jobs).raise_alert(ALERT)
        first.advance(20)
        rebooted = FakeClock(mono=5.0, wall=first.wall() + 30)  # 30 s to reboot
        await service(store, rebooted, jobs).start()
        rebooted.advance(69)
        await asyncio.gather(*jobs)
        assert ["oncall"] == await receivers(store)
        rebooted.advance(1)
        await asyncio.gather(*jobs)
        assert ["backup-oncall", "oncall"] == await receivers(store)
    finally:
        await asyncio.gather(*jobs, return_exceptions=True)
        await store.close()
