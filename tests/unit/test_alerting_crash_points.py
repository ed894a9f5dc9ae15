"""A crash right after one commit of the alert pipeline, then a restart on the same store:
what was sent is not sent again, and what was decided is not lost (issue 11, defect 10)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, cast

from paramedic.alerting.channels.base import DeliveryResult, Notification
from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.config.alerting import AlertingConfig
from paramedic.core.clock import Instant
from paramedic.core.failure_events import FailureCleared
from paramedic.store.outbox import NotificationRow, OutboxStore
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock


class Delivered:
    kind = "log"
    name = "log"

    async def send(self, n: Notification) -> DeliveryResult:
        return DeliveryResult("delivered", "ok")

    async def close(self) -> None:
        return None


class DiesAfterCommit:
    """The real store; once armed, the next enqueue commits and then paramedic "dies": the
    caller never learns of the commit, so nothing after it runs (as after a kill -9)."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.armed = False
        self.died = asyncio.Event()

    def enqueue(self, rows: list[NotificationRow], **kwargs: Any) -> Awaitable[None]:
        committed = self.store.enqueue(rows, **kwargs)
        if not self.armed:
            return committed

        async def die() -> None:
            await committed
            self.died.set()
            await asyncio.Event().wait()  # never returns

        return die()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def service(store: OutboxStore, clock: FakeClock, tasks: set[asyncio.Task[Any]]) -> AlertingService:
    return AlertingService(
        AlertingConfig(),
        clock=clock,
        store=store,
        channels={"log": Delivered()},
        submit=lambda events: None,
        job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
    )


def p0() -> Alert:
    return Alert(
        id="inc_1:failure",
        type="crash",
        source="engine",
        severity="P0",
        title="engine crash",
        labels={"service": "engine", "kind": "crash"},
        what="pid 4242 killed by SIGKILL",
        incident="inc_1",
    )


async def test_a_rung_committed_just_before_a_crash_is_not_paged_again(tmp_path: Path) -> None:
    """A P0's ladder reaches its 2-minute rung; paramedic dies right after that rung's commit.
    After the restart the ladder knows the rung fired (its state went in the same commit), so
    no second set of its notifications, with the same keys, is made."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    tasks: set[asyncio.Task[Any]] = set()
    gated = DiesAfterCommit(store)
    first = service(cast(OutboxStore, gated), clock, tasks)
    await first.start()
    await first.raise_alert(p0())
    before = {n.idempotency_key for n in await store.notifications_for("inc_1:failure")}
    gated.armed = True
    clock.advance(121)  # the 2-minute rung fires; its job commits, then paramedic dies
    await asyncio.wait_for(gated.died.wait(), 10)
    rung = {n.idempotency_key for n in await store.notifications_for("inc_1:failure")} - before
    assert rung, "the 2-minute rung made no notifications"
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    jobs: set[asyncio.Task[Any]] = set()
    second = service(store, clock, jobs)
    await second.start()  # the restart: ladders restored from the alert rows, overdue fire
    clock.advance(1)
    await asyncio.gather(*jobs)  # whatever the restored ladder submitted is committed
    keys = [n.idempotency_key for n in await store.notifications_for("inc_1:failure")]
    assert sorted(before | rung) == sorted(keys)  # each key once: nothing paged twice
    await store.close()


async def test_a_resolve_cut_off_by_a_crash_is_finished_by_the_restart(tmp_path: Path) -> None:
    """The failure cleared and the resolve began, but paramedic died at its commit's edge
    (before it: the alert is still firing in the store). The restart's catch-up, given the
    cleared failure, resolves it and sends the resolve to the channels that got the page."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    first = service(store, clock, set())
    await first.start()
    await first.raise_alert(p0())
    await store.close()  # killed: the resolve never reached the store

    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    second = service(store, clock, set())
    await second.start()
    cleared = FailureCleared(
        at=Instant(mono=clock.monotonic(), wall=clock.wall()),
        service="engine",
        incident="inc_1",
        downtime_s=3.0,
        reason="all detectors ok for 1 checks",
    )
    assert (0, 1) == await second.catch_up([], {"inc_1": cleared})
    row = await store.get_alert("inc_1:failure")
    assert row is not None
    assert "resolved" == row.state
    actions = {n.action for n in await store.notifications_for("inc_1:failure")}
    assert {"trigger", "resolve"} <= actions
    await store.close()
