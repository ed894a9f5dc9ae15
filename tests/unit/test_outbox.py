"""The durable outbox: committed before attempted, every attempt recorded, retries honest."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from paramedic.alerting.channels.base import DeliveryResult, Notification
from paramedic.alerting.outbox import OutboxWorker, RetryPolicy, notification_row
from paramedic.core.clock import SystemClock
from paramedic.store.outbox import AlertRow, AttemptRow, NotificationRow, OutboxStore
from paramedic.store.sqlite import SQLiteStore


class Scripted:
    """A channel answering from a script, remembering every idempotency key it was sent."""

    kind = "scripted"

    def __init__(self, name: str, script: list[DeliveryResult]) -> None:
        self.name = name
        self.script = script
        self.keys: list[str] = []

    async def send(self, n: Notification) -> DeliveryResult:
        self.keys.append(n.idempotency_key)
        return self.script.pop(0) if self.script else DeliveryResult("delivered", "ok", status=200)

    async def close(self) -> None:
        return None


def notification(severity: str = "P0", nid: str = "ntf_1") -> Notification:
    return Notification(
        id=nid,
        alert_id="alr_1",
        action="trigger",
        severity=severity,  # type: ignore[arg-type]
        title="[P0] engine crash",
        body="What: engine crashed",
        fields={"what": "engine crashed"},
        labels={"service": "engine"},
        idempotency_key=f"key-{nid}",
        links={},
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "p.db")
    await s.open()
    yield s
    await s.close()


async def run_until(worker: OutboxWorker, done: asyncio.Future[None]) -> None:
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(done, 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_retry_then_delivered_same_key_every_attempt_recorded(store: SQLiteStore) -> None:
    """503 then 429 (Retry-After) then 200: three recorded attempts, one idempotency key."""
    channel = Scripted(
        "hook",
        [
            DeliveryResult("retry", "503 Service Unavailable", status=503),
            DeliveryResult("retry", "429 Too Many Requests", retry_after=0.05, status=429),
        ],
    )
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    clock = SystemClock()

    def on_result(row: object, result: DeliveryResult, number: int) -> None:
        if result.outcome == "delivered":
            done.set_result(None)

    worker = OutboxWorker(
        store,
        {"hook": channel},
        clock,
        policy=RetryPolicy(initial=0.01, max=0.05),
        rng=random.Random(1),
        on_result=on_result,
    )
    row = notification_row(
        notification(), channel="hook", due_wall=clock.wall(), created_wall=clock.wall()
    )
    await worker.submit([row])
    [pending] = await store.pending_notifications()
    assert ("ntf_1", 0) == (pending.id, pending.attempts)  # committed before any attempt
    await run_until(worker, done)
    assert ["key-ntf_1"] * 3 == channel.keys
    attempts = await store.attempts_for("ntf_1")
    assert [("retry", 503), ("retry", 429), ("delivered", 200)] == [
        (a.outcome, a.status) for a in attempts
    ]
    assert attempts[2].started_wall - attempts[1].started_wall >= 0.05  # Retry-After honoured
    [final] = await store.notifications_for("alr_1")
    assert ("delivered", 3) == (final.status, final.attempts)


async def test_permanent_failure_stops_and_is_recorded(store: SQLiteStore) -> None:
    """A 400 is not retried: one attempt, status failed, the detail kept."""
    channel = Scripted("pd", [DeliveryResult("failed", "400 Invalid event", status=400)])
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    clock = SystemClock()
    worker = OutboxWorker(
        store, {"pd": channel}, clock, on_result=lambda *a: done.done() or done.set_result(None)
    )
    await worker.submit(
        [
            notification_row(
                notification(), channel="pd", due_wall=clock.wall(), created_wall=clock.wall()
            )
        ]
    )
    await run_until(worker, done)
    [final] = await store.notifications_for("alr_1")
    assert ("failed", 1, "400 Invalid event") == (final.status, final.attempts, final.last_detail)


async def test_low_severity_gives_up_but_p0_never_does() -> None:
    """P2/P3 stop after max_attempts_low; P0 and P1 are retried without limit."""
    policy = RetryPolicy(max_attempts_low=3)
    assert (False, True) == (policy.gives_up("P2", 2), policy.gives_up("P2", 3))
    assert not any(policy.gives_up(sev, 10_000) for sev in ("P0", "P1"))


def test_default_policy_keeps_a_p2_trying_through_a_ten_minute_outage() -> None:
    """A receiver down for 10 minutes must not lose a P2: with the default policy a P2 is
    still being retried an hour after its first attempt (it gave up after ~4 min before)."""
    policy = RetryPolicy(jitter=0.0)
    rng = random.Random(0)
    attempts, elapsed = 1, 0.0
    while not policy.gives_up("P2", attempts):
        elapsed += policy.delay(attempts, rng, None)
        attempts += 1
    assert elapsed >= 3000.0, f"a P2 gives up {elapsed:.0f} s after its first attempt"


async def test_pending_rows_resume_after_a_restart_at_their_due_time(store: SQLiteStore) -> None:
    """A new worker over the same store finds what was pending and sends it once due."""
    clock = SystemClock()
    first = OutboxWorker(store, {}, clock)
    await first.submit(
        [
            notification_row(
                notification(),
                channel="hook",
                due_wall=clock.wall() + 0.05,
                created_wall=clock.wall(),
            )
        ]
    )
    channel = Scripted("hook", [])
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    second = OutboxWorker(
        store, {"hook": channel}, clock, on_result=lambda *a: done.set_result(None)
    )
    assert 1 == await second.load()
    began = clock.wall()
    await run_until(second, done)
    [attempt] = await store.attempts_for("ntf_1")
    assert attempt.started_wall >= began + 0.04
    assert ["key-ntf_1"] == channel.keys


class Preparing(Scripted):
    """A channel that builds its request ahead (`prepare`), logging what happens when."""

    def __init__(self, name: str, *, broken: bool = False) -> None:
        super().__init__(name, [])
        self.log: list[str] = []
        self.broken = broken

    def prepare(self, n: Notification) -> Callable[[], Awaitable[DeliveryResult]]:
        if self.broken:
            raise ValueError("cannot build the request")
        self.log.append(f"prepared {n.idempotency_key}")

        async def send() -> DeliveryResult:
            self.log.append(f"sent {n.idempotency_key}")
            return DeliveryResult("delivered", "ok", status=200)

        return send

    async def send(self, n: Notification) -> DeliveryResult:
        self.log.append(f"send {n.idempotency_key}")
        return await super().send(n)


class HeldCommit:
    """The real store, with each enqueue's commit held back until the test lets it go."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()

    def enqueue(
        self, rows: list[NotificationRow], *, alert: AlertRow | None = None, starting: Any = ()
    ) -> Any:
        committed = self.store.enqueue(rows, alert=alert, starting=starting)

        async def held() -> None:
            self.waiting.set()
            await self.release.wait()
            await committed

        return held()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_first_attempt_is_built_while_the_commit_syncs_and_sent_only_after(
    store: SQLiteStore,
) -> None:
    clock = SystemClock()
    held = HeldCommit(store)
    channel = Preparing("hook")
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    worker = OutboxWorker(
        cast(OutboxStore, held),
        {"hook": channel},
        clock,
        on_result=lambda *a: done.set_result(None),
    )
    row = notification_row(
        notification(), channel="hook", due_wall=clock.wall(), created_wall=clock.wall()
    )
    submitting = asyncio.create_task(worker.submit([row]))
    await held.waiting.wait()
    assert ["prepared key-ntf_1"] == channel.log  # built, not sent: the commit is pending
    held.release.set()
    await submitting
    await run_until(worker, done)
    assert ["prepared key-ntf_1", "sent key-ntf_1"] == channel.log
    [attempt] = await store.attempts_for("ntf_1")
    assert "delivered" == attempt.outcome


async def test_a_channel_that_cannot_prepare_still_gets_its_attempt(store: SQLiteStore) -> None:
    clock = SystemClock()
    channel = Preparing("hook", broken=True)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    worker = OutboxWorker(
        store, {"hook": channel}, clock, on_result=lambda *a: done.set_result(None)
    )
    row = notification_row(
        notification(), channel="hook", due_wall=clock.wall(), created_wall=clock.wall()
    )
    await worker.submit([row])
    await run_until(worker, done)
    assert ["send key-ntf_1"] == channel.log
    assert ["key-ntf_1"] == channel.keys


class Witness(Scripted):
    """A channel that, at each send, reads what the store says of the attempt being made."""

    def __init__(self, name: str, script: list[DeliveryResult], store: SQLiteStore) -> None:
        super().__init__(name, script)
        self.store = store
        self.seen: list[list[str]] = []

    async def send(self, n: Notification) -> DeliveryResult:
        self.seen.append([a.outcome for a in await self.store.attempts_for(n.id)])
        return await super().send(n)


async def test_each_attempt_is_durably_started_before_its_request_is_sent(
    store: SQLiteStore,
) -> None:
    """When the request goes out, the store already holds its attempt as `started`: the first
    (recorded in the row's own commit) and the retry (its own commit). Each ends replaced by
    its outcome, so a finished attempt is never left looking interrupted."""
    channel = Witness("hook", [DeliveryResult("retry", "503", status=503)], store)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    clock = SystemClock()
    worker = OutboxWorker(
        store,
        {"hook": channel},
        clock,
        policy=RetryPolicy(initial=0.01, max=0.02),
        on_result=lambda _r, result, _n: result.outcome == "delivered" and done.set_result(None),
    )
    row = notification_row(
        notification(), channel="hook", due_wall=clock.wall(), created_wall=clock.wall()
    )
    await worker.submit([row])
    await run_until(worker, done)
    assert [["started"], ["retry", "started"]] == channel.seen
    assert ["retry", "delivered"] == [a.outcome for a in await store.attempts_for("ntf_1")]


async def test_after_a_crash_only_attempts_whose_outcome_is_unknown_are_resent(
    store: SQLiteStore,
) -> None:
    """The store a kill -9 leaves: one page delivered and recorded, one in flight (started,
    no outcome), one never attempted (due later). On load the in-flight attempt becomes
    `unknown` and is resent under its key; the delivered page is not sent again; the third is
    a first send. Exactly one resend is counted."""
    clock = SystemClock()
    now = clock.wall()
    rows = [
        notification_row(notification(nid=nid), channel="hook", due_wall=due, created_wall=now)
        for nid, due in (("ntf_done", now), ("ntf_flight", now), ("ntf_later", now + 0.05))
    ]
    await store.enqueue(rows, starting={"ntf_done", "ntf_flight"})
    delivered = AttemptRow("ntf_done", 1, now, 0.001, "delivered", 200, "200 OK")
    await store.record_attempts([(delivered, "delivered", now)])

    channel = Scripted("hook", [])
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    worker = OutboxWorker(
        store,
        {"hook": channel},
        clock,
        on_result=lambda *a: len(channel.keys) == 2 and done.set_result(None),
    )
    assert 2 == await worker.load()
    assert 1 == worker.unknown_at_start
    await run_until(worker, done)
    assert ["key-ntf_flight", "key-ntf_later"] == channel.keys
    flight = [(a.number, a.outcome) for a in await store.attempts_for("ntf_flight")]
    assert [(1, "unknown"), (2, "delivered")] == flight
    assert [(1, "delivered")] == [
        (a.number, a.outcome) for a in await store.attempts_for("ntf_later")
    ]
    assert ["delivered"] == [a.outcome for a in await store.attempts_for("ntf_done")]


async def test_deliveries_reads_every_alerts_notifications_and_attempts_at_once(
    store: SQLiteStore,
) -> None:
    """`deliveries` answers for a list of alerts what `notifications_for` and `attempts_for`
    answer one at a time, in the same order: each alert's notifications oldest first, each
    with its attempts by number; an alert with no notification has an empty list, a repeated
    id is answered once. 1,200 alerts (more than one statement's bound variables) included."""
    now = SystemClock().wall()
    rows = [
        dataclasses.replace(
            notification_row(
                notification(nid=f"ntf_{i}"), channel="hook", due_wall=now, created_wall=now + i
            ),
            alert_id=f"alr_{i % 1200}",
        )
        for i in range(2400)
    ]
    await store.enqueue(rows, starting={"ntf_0", "ntf_1200"})
    await store.record_attempts(
        [
            (AttemptRow(nid, number, now, 0.001, outcome, status, detail), outcome, now)
            for nid, number, outcome, status, detail in (
                ("ntf_1200", 1, "retry", 503, "503"),
                ("ntf_1200", 2, "delivered", 200, "200 OK"),
                ("ntf_0", 1, "delivered", 200, "200 OK"),
            )
        ]
    )
    ids = [f"alr_{i}" for i in range(1200)] + ["alr_0", "alr_none"]
    found = await store.deliveries(ids)

    assert [*dict.fromkeys(ids)] == list(found)
    assert [] == found["alr_none"]
    for alert_id in ("alr_0", "alr_7", "alr_1199"):
        one_by_one = [
            (n, await store.attempts_for(n.id)) for n in await store.notifications_for(alert_id)
        ]
        assert one_by_one == found[alert_id]
    assert [["ntf_0", "ntf_1200"], [1], [1, 2]] == [
        [n.id for n, _ in found["alr_0"]],
        *[[a.number for a in attempts] for _, attempts in found["alr_0"]],
    ]
