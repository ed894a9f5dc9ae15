"""Silences set at run time: stored first, effective at once on every rung, kept across a
restart, and their end (by hand, by time, by a resolve) pages what they held that still fires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.alerting.silence_admin import SilenceAdmin
from paramedic.config.alerting import AlertingConfig
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import CapturingChannel as Capture
from paramedic.testing import FakeClock


@dataclass
class Rig:
    path: Path
    clock: FakeClock = field(default_factory=FakeClock)
    channel: Capture = field(default_factory=Capture)
    recorded: list[Any] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    store: SQLiteStore | None = None
    service: AlertingService | None = None
    admin: SilenceAdmin | None = None

    async def start(self) -> tuple[AlertingService, SilenceAdmin]:
        """Open the store and build the pipeline in the runtime's order (silences first)."""
        self.store = SQLiteStore(self.path / "p.db")
        await self.store.open()
        self.service = AlertingService(
            AlertingConfig(),
            clock=self.clock,
            store=self.store,
            channels={"log": self.channel},
            submit=self.recorded.extend,
            job=lambda coro: self.tasks.add(asyncio.ensure_future(coro)),
        )
        self.admin = SilenceAdmin(self.service, self.store, self.clock, self.job)
        await self.admin.load()
        await self.service.start()
        return self.service, self.admin

    def job(self, coro: Any) -> None:
        self.tasks.add(asyncio.ensure_future(coro))

    async def settle(self) -> None:
        """Run what the pipeline queued (jobs, deliveries due now) to completion."""
        assert self.service is not None
        # No event says "the outbox is empty": a bounded poll (the store's commits are real).
        for _ in range(1000):
            while self.tasks:
                done = list(self.tasks)
                self.tasks.clear()
                await asyncio.gather(*done)
            if not self.service.outbox.pending:
                return
            await asyncio.sleep(0.005)
        raise AssertionError("the outbox never emptied")

    async def stop(self) -> None:
        await self.settle()
        assert self.store is not None
        await self.store.close()

    def held(self) -> list[tuple[str, str, str]]:
        return [(e.alert_id, e.receiver, e.reason) for e in self.recorded if e.kind == "alert.held"]


def crash(aid: str, service: str) -> Alert:
    return Alert(
        id=aid,
        type="crash",
        source=service,
        severity="P0",
        title=f"{service} crashed",
        labels={"service": service, "kind": "crash"},
    )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path)
    yield r
    if r.store is not None:
        await r.stop()


async def test_a_silence_holds_every_rung_and_its_expiry_pages_what_still_fires(rig: Rig) -> None:
    """Silence service=engine: the engine's P0 is held (reason names the silence), its +2 min
    rung too, the venue's P0 pages; expiring the silence pages the engine's alert to everyone
    it was withheld from, once, and the timeline says why."""
    service, admin = await rig.start()
    silence = await admin.add(
        matchers=["service=engine"],
        starts_wall=None,
        ends_wall=rig.clock.wall() + 3600,
        until_resolved=False,
        author="olga",
        comment="rebuilding engine",
    )
    await service.raise_alert(crash("eng", "engine"))
    await service.raise_alert(crash("ven", "venue"))
    await rig.settle()
    assert {"ven"} == {n.alert_id for n in rig.channel.sent}
    assert {"eng"} == {a for a, _, _ in rig.held()}  # else the next line holds vacuously
    assert all(f"silence {silence.id} (olga: rebuilding engine)" in r for _, _, r in rig.held())
    rig.clock.advance(121)  # the P0 ladder's +2 min rung
    await rig.settle()
    assert {"ven"} == {n.alert_id for n in rig.channel.sent}
    assert "backup-oncall" in {n.labels["receiver"] for n in rig.channel.sent}
    # the venue's rung paged (counted by level); the engine's, held, did not
    assert 1 == sum(service.stats.escalations.values())
    assert {"eng"} == {a for a, _, _ in rig.held()}
    rig.channel.sent.clear()
    await admin.expire(silence.id, by="olga")
    await rig.settle()
    paged = {n.labels["receiver"] for n in rig.channel.sent if n.alert_id == "eng"}
    withheld = {r for a, r, _ in rig.held() if a == "eng" and r != "everyone"}
    assert "oncall" in paged  # the ladder starts when the alert is released
    assert withheld <= paged
    keys = [n.idempotency_key for n in rig.channel.sent]
    assert len(keys) == len(set(keys))
    [released] = [e for e in rig.recorded if e.kind == "alert.released"]
    assert f"silence {silence.id} expired by olga" == released.why
    assert 0 == await service.reevaluate_held("again")  # paged once, not on every call


async def test_a_stored_silence_survives_a_restart(rig: Rig) -> None:
    """Added, then paramedic restarts on the same store: still listed, still holding."""
    _, admin = await rig.start()
    silence = await admin.add(
        matchers=['service=~"eng.*"'],
        starts_wall=None,
        ends_wall=None,
        until_resolved=True,
        author="olga",
        comment="until the engine is fixed",
    )
    await rig.stop()
    rig.recorded.clear()
    service, admin = await rig.start()
    assert [silence.id] == [s["id"] for s in await admin.listing(include_expired=False)]
    await service.raise_alert(crash("eng", "engine"))
    await rig.settle()
    assert [] == rig.channel.sent
    assert silence.id in rig.held()[0][2]


async def test_an_until_resolved_silence_ends_with_the_resolve_and_is_stored_so(rig: Rig) -> None:
    """The alert it matched resolves: the silence is over, in memory and in the store."""
    service, admin = await rig.start()
    await admin.add(
        matchers=["service=engine"],
        starts_wall=None,
        ends_wall=None,
        until_resolved=True,
        author="olga",
        comment="x",
    )
    await service.raise_alert(crash("eng", "engine"))
    await service.resolve("eng", by="paramedic", why="back up")
    await rig.settle()
    [view] = await admin.listing(include_expired=True)
    assert ("expired", "until resolved: alert eng resolved") == (view["state"], view["expired_by"])
    assert [] == await admin.listing(include_expired=False)
    await service.raise_alert(crash("eng-2", "engine"))
    await rig.settle()
    assert {"eng-2"} == {n.alert_id for n in rig.channel.sent if n.action == "trigger"}


async def test_a_silence_reaching_its_end_pages_what_it_held(rig: Rig) -> None:
    """A 60 s silence: held while it lasts; one sweep after its end the alert is paged."""
    service, admin = await rig.start()
    await admin.add(
        matchers=["service=engine"],
        starts_wall=None,
        ends_wall=rig.clock.wall() + 60,
        until_resolved=False,
        author="olga",
        comment="x",
    )
    await service.raise_alert(crash("eng", "engine"))
    rig.clock.advance(30)
    assert 0 == await service.sweep()
    await rig.settle()
    assert [] == rig.channel.sent
    rig.clock.advance(31)
    assert await service.sweep() > 0
    await rig.settle()
    assert {"eng"} == {n.alert_id for n in rig.channel.sent}


async def test_what_a_silence_held_before_a_restart_is_paged_when_it_expires_after(
    rig: Rig,
) -> None:
    """Held under a silence, paramedic restarts: the held deliveries were kept with the
    alert, so expiring the silence in the new run still pages them."""
    service, admin = await rig.start()
    silence = await admin.add(
        matchers=["service=engine"],
        starts_wall=None,
        ends_wall=rig.clock.wall() + 3600,
        until_resolved=False,
        author="olga",
        comment="x",
    )
    await service.raise_alert(crash("eng", "engine"))
    await rig.stop()
    service, admin = await rig.start()
    assert [] == rig.channel.sent
    await admin.expire(silence.id, by="olga")
    await rig.settle()
    assert {"oncall"} <= {n.labels["receiver"] for n in rig.channel.sent if n.alert_id == "eng"}
