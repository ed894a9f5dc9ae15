"""The receiver is down, then back: nothing is lost, nothing changes its key, the backup pages.

(a) FakeClock: an AlertingService with real webhook channels to a loopback receiver that
refuses connections (its port closed) or answers 503 for 10 simulated minutes while a P0
with a ladder, a P1 and a P2 are raised and escalate. After it returns every notification is
delivered, each under the one idempotency key it was created with; the backup channel hears
of each alert exactly when `channel_failures` consecutive failures have passed, never before.

(b) real: `tests/torture/test_receiver_down_real.py`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from paramedic.alerting.channels.loopback import LoopbackReceiver, Recorded
from paramedic.alerting.channels.webhook import WebhookChannel
from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.checks import HttpPool
from paramedic.config.alerting import AlertingConfig
from paramedic.store.outbox import AttemptRow, NotificationRow
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock
from tests.torture import long_run

pytestmark = pytest.mark.integration

FAILURES = 3  # escalation.channel_failures
OUTAGE = 600.0 if long_run() else 180.0  # simulated seconds the receiver is down


def config() -> AlertingConfig:
    return AlertingConfig.model_validate(
        {
            "contacts": {
                name: {"channels": ["hook"]}
                for name in ("oncall", "backup-oncall", "team-lead", "team")
            },
            "routes": {"receivers": []},  # the ladders page: the +0 rungs are the first pages
            "grouping": {"severities": []},
            "escalation": {
                "channel_failures": FAILURES,
                "backup_channels": {"hook": "pager"},
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
                            {
                                "name": "team-lead",
                                "after": "5m",
                                "contacts": ["team-lead"],
                                "level": 3,
                            },
                        ]
                    },
                    "P1": {
                        "steps": [
                            {"name": "oncall", "after": "0s", "contacts": ["oncall"], "level": 1}
                        ]
                    },
                    "P2": {
                        "steps": [{"name": "team", "after": "0s", "contacts": ["team"], "level": 1}]
                    },
                },
            },
            "replace_defaults": True,
        }
    )


def alert(severity: str, n: int) -> Alert:
    return Alert(
        id=f"eng-{n}:failure",
        type="crash",
        source=f"eng-{n}",
        severity=severity,  # type: ignore[arg-type]
        title=f"eng-{n} crashed",
        labels={"service": f"eng-{n}", "kind": "crash"},
        what=f"eng-{n} exited with signal 9",
    )


@dataclass
class Figures:
    notifications: int
    attempts: int
    failed_attempts: int
    max_backoff_s: float
    last_delivery_after_return_s: float

    def line(self) -> str:
        return (
            f"receiver down {OUTAGE:.0f} s (FakeClock): {self.notifications} notifications,"
            f" {self.attempts} attempts ({self.failed_attempts} failed), max backoff"
            f" {self.max_backoff_s:.0f} s, all delivered {self.last_delivery_after_return_s:.0f} s"
            " after the receiver returned"
        )


class Harness:
    """The service on a FakeClock, moved from one due timer to the next, each step run until
    every attempt and job it started has finished (real HTTP on loopback in between)."""

    def __init__(self, service: AlertingService, clock: FakeClock) -> None:
        self.service = service
        self.clock = clock
        self.jobs: set[asyncio.Task[Any]] = set()

    def job(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.jobs.add(asyncio.ensure_future(coro))

    async def settle(self) -> None:
        """Run until nothing is in flight: attempts, and the jobs their results started."""
        while True:
            for _ in range(5):  # the outbox loop wakes and starts what fell due
                await asyncio.sleep(0)
            busy = [t for t in (*self.jobs, *self.service.outbox._tasks) if not t.done()]
            if not busy:
                return
            await asyncio.wait(busy, timeout=10)

    async def run_until(self, until: float) -> None:
        """Fire every timer due up to monotonic `until`, one due time at a time."""
        while (due := self.clock.next_due()) is not None and due <= until:
            self.clock.advance(due - self.clock.monotonic())
            await self.settle()
        self.clock.advance(max(0.0, until - self.clock.monotonic()))
        await self.settle()


@pytest.mark.parametrize("down", ["refused", "503"])
async def test_receiver_down_then_back_delivers_everything_under_first_keys(
    tmp_path: Path, http: HttpPool, down: str
) -> None:
    """A P0 (ladder oncall +0, backup-oncall +2 min, team-lead +5 min), a P1 and a P2 are
    raised while the receiver is down; it stays down for the outage (10 simulated minutes in
    the long run). Each alert's backup channel is paged right after its FAILURES-th
    consecutive failed attempt on the primary, and not before; the P0's later rungs fire
    (early, on more failures, or at their time) and fail too. The receiver returns: within
    one maximal backoff every notification is delivered exactly once, under the key it was
    created with, every attempt of one notification carrying that same key."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    async with LoopbackReceiver() as hook, LoopbackReceiver() as pager:
        if down == "refused":
            await hook.close()  # its port now refuses connections; start() reopens it
        else:
            hook.status = 503
        channels = {
            "hook": WebhookChannel("hook", http, url=hook.url, secret=SecretStr("s" * 20)),
            "pager": WebhookChannel("pager", http, url=pager.url, secret=SecretStr("s" * 20)),
        }
        harness: Harness
        pager_seen: list[tuple[str, int]] = []  # (alert, hook failures for it at that moment)
        hook_failures: defaultdict[str, int] = defaultdict(int)
        service = AlertingService(
            config(),
            clock=clock,
            store=store,
            channels=channels,
            submit=lambda events: None,
            job=lambda coro: harness.job(coro),
        )
        harness = Harness(service, clock)
        original = service.outbox._on_result
        assert original is not None

        def on_result(row: NotificationRow, result: Any, number: int) -> None:
            # Counted before the service reacts, so a backup page it starts sees the count.
            if row.channel == "hook" and result.outcome != "delivered":
                hook_failures[row.alert_id] += 1
            if row.channel == "pager":
                pager_seen.append((row.alert_id, hook_failures[row.alert_id]))
            original(row, result, number)

        service.outbox._on_result = on_result
        outbox = asyncio.create_task(service.outbox.run())
        try:
            ids = []
            for n, severity in enumerate(("P0", "P1", "P2")):
                ids.append((await service.raise_alert(alert(severity, n))).id)
            await harness.settle()
            start = clock.monotonic()
            await harness.run_until(start + OUTAGE)

            # While down: each alert's backup page went out once, after exactly FAILURES.
            backup_by_alert = {a: n for a, n in pager_seen}
            assert set(ids) == set(backup_by_alert), pager_seen
            assert all(FAILURES == n for n in backup_by_alert.values()), pager_seen
            assert len(ids) == len(pager_seen)

            if down == "refused":
                await hook.start()
            else:
                hook.status = 200
            returned = clock.monotonic()
            policy = service.outbox.policy
            await harness.run_until(returned + policy.max * (1 + policy.jitter) + 1)

            figures = await check_everything_delivered(
                store, ids, hook.requests + pager.requests, returned, clock
            )
            print(f"\n[{down}] {figures.line()}")
            # The P0's whole ladder fired during the outage (failures escalate early).
            p0_rows = await store.notifications_for(ids[0])
            assert {"oncall", "backup-oncall", "team-lead"} <= {
                r.payload["labels"]["receiver"] for r in p0_rows
            }
        finally:
            outbox.cancel()
            await asyncio.gather(outbox, *harness.jobs, return_exceptions=True)
            await store.close()


async def check_everything_delivered(
    store: SQLiteStore, ids: list[str], seen: list[Recorded], returned: float, clock: FakeClock
) -> Figures:
    """Every notification row is delivered; the receivers saw each one delivered exactly once
    and every request of one notification under its row's key."""
    rows: list[NotificationRow] = []
    for alert_id in ids:
        rows += await store.notifications_for(alert_id)
    assert rows
    assert [] == [(r.id, r.channel, r.status) for r in rows if r.status != "delivered"]
    keys_by_id: defaultdict[str, set[str]] = defaultdict(set)
    for request in seen:
        keys_by_id[request.json()["id"]].add(request.headers["Idempotency-Key"])
    assert {r.id: {r.idempotency_key} for r in rows} == dict(keys_by_id)
    attempts: list[AttemptRow] = []
    max_gap = 0.0
    last = 0.0
    for row in rows:
        tried = await store.attempts_for(row.id)
        attempts += tried
        assert 1 == sum(a.outcome == "delivered" for a in tried)
        assert "delivered" == tried[-1].outcome
        starts = [a.started_wall for a in tried]
        max_gap = max([max_gap, *(b - a for a, b in pairwise(starts))])
        last = max(last, tried[-1].started_wall)
    returned_wall = returned + (clock.wall() - clock.monotonic())
    return Figures(
        notifications=len(rows),
        attempts=len(attempts),
        failed_attempts=sum(a.outcome != "delivered" for a in attempts),
        max_backoff_s=max_gap,
        last_delivery_after_return_s=last - returned_wall,
    )
