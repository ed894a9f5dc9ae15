"""The durable outbox: a notification is a committed row before it is attempted.

Every attempt is recorded with its outcome. Retries back off exponentially with jitter and
never come sooner than a channel's `Retry-After`; every retry carries the same idempotency
key, so a receiver that saw an attempt whose outcome paramedic never learnt (a crash mid-
send) can drop the repeat. Due times are stored as wall time and turned back into monotonic
deadlines on load: after a crash, pending notifications resume at their original due times.
P0 and P1 notifications are retried until delivered or cancelled; they are never dropped.

An attempt is recorded as `started` before its request is written: a first attempt in the
commit of its row (no extra fsync on the first page), a retry in a commit of its own (one
per loop tick, whatever the number of retries). After a crash, `load` turns each attempt
still `started` into `unknown`: those, and only those, may have reached the receiver, and
their resend is the only duplicate a crash can cause (at-least-once). A notification whose
delivery was recorded is never sent again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

from paramedic.alerting.channels.base import (
    Channel,
    DeliveryResult,
    Notification,
    PreparedSend,
)
from paramedic.core.backoff import jittered_backoff
from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.slots import Slots
from paramedic.store.outbox import (
    AlertRow,
    AttemptRow,
    NotificationRow,
    NotificationStatus,
    OutboxStore,
)

__all__ = ["OutboxWorker", "RetryPolicy", "notification_row"]

log = structlog.get_logger("paramedic.outbox")

INTERRUPTED = (
    "paramedic stopped during this attempt: outcome unknown (the receiver may have it);"
    " sent again under the same idempotency key"
)

ResultHook = Callable[[NotificationRow, DeliveryResult, int], None]

_T = TypeVar("_T")


class _TickBatch(Generic[_T]):
    """Items handed in during one loop tick go to the store as one job, durable when `add`
    returns: a burst of attempts is one write, not one per notification."""

    __slots__ = ("_items", "_task", "_write")

    def __init__(self, write: Callable[[list[_T]], Awaitable[None]]) -> None:
        self._write = write
        self._items: list[_T] = []
        self._task: asyncio.Task[None] | None = None

    async def add(self, item: _T) -> None:
        self._items.append(item)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush())
        # shielded: a cancelled attempt (shutdown) must not cancel the others' write
        await asyncio.shield(self._task)

    async def _flush(self) -> None:
        # The task first runs on the loop's next pass, after every callback of the pass that
        # created it: all the items handed in during that pass are in the batch by then.
        batch, self._items, self._task = self._items, [], None
        await self._write(batch)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff between attempts: min(max, initial * factor^(n-1)) +/- jitter, >= Retry-After."""

    initial: float = 1.0
    max: float = 300.0
    factor: float = 2.0
    jitter: float = 0.2
    # P2 and P3 give up after this many (P0 and P1 never do): 20 is about an hour of trying
    # (the backoff reaches its 5 min cap at the 10th), so a receiver down for minutes loses
    # nothing; 8 gave up after ~4 min.
    max_attempts_low: int = 20

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        delay = jittered_backoff(
            attempt - 1,
            initial=self.initial,
            factor=self.factor,
            cap=self.max,
            jitter=self.jitter,
            rng=rng,
        )
        return delay if retry_after is None else max(delay, retry_after)

    def gives_up(self, severity: str, attempts: int) -> bool:
        return severity in ("P2", "P3") and attempts >= self.max_attempts_low


def notification_row(
    n: Notification, *, channel: str, due_wall: float, created_wall: float
) -> NotificationRow:
    """The committed form of a notification for one channel."""
    return NotificationRow(
        id=n.id,
        alert_id=n.alert_id,
        channel=channel,
        action=n.action,
        severity=n.severity,
        idempotency_key=n.idempotency_key,
        status="pending",
        attempts=0,
        due_wall=due_wall,
        created_wall=created_wall,
        last_detail="",
        payload=n.as_data(),
    )


class OutboxWorker:
    """Sends due notifications through their channels, recording every attempt first-class."""

    def __init__(
        self,
        store: OutboxStore,
        channels: Mapping[str, Channel],
        clock: Clock,
        *,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        on_result: ResultHook | None = None,
        concurrency: int = 64,
    ) -> None:
        self._store = store
        self._channels = channels
        self._clock = clock
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.Random()  # jitter, not security
        self._on_result = on_result
        self._slots = Slots(concurrency)
        self._queue: list[tuple[float, int, str]] = []
        self._rows: dict[str, NotificationRow] = {}
        self._inflight: set[str] = set()
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._timer: TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.attempted = 0
        # An attempt is recorded as started before its request is written (retries here; a
        # first attempt in its row's commit), and with its outcome once it ends.
        self._starting: _TickBatch[tuple[str, int, float]] = _TickBatch(store.start_attempts)
        self._finished: _TickBatch[tuple[AttemptRow, NotificationStatus, float]] = _TickBatch(
            store.record_attempts
        )
        self.unknown_at_start = 0  # attempts a crash left without an outcome (resent)

    # -- input ---------------------------------------------------------------------------------

    async def load(self) -> int:
        """Schedule everything the store still holds as pending (after a start or a crash);
        attempts a crash cut off are recorded as of unknown outcome first."""
        unknown = await self._store.settle_interrupted(INTERRUPTED)
        self.unknown_at_start = len(unknown)
        if unknown:
            log.warning(
                "resending notifications whose attempt a stop of paramedic cut off",
                count=len(unknown),
            )
        rows = await self._store.pending_notifications()
        for row in rows:
            self._schedule(row)
        return len(rows)

    async def submit(self, rows: list[NotificationRow], *, alert: AlertRow | None = None) -> None:
        """Commit, then send: nothing is attempted that a crash could forget.

        Rows already due start their first attempt as soon as the commit returns, without a
        trip through the schedule (the first page of an alert is the latency that matters).
        """
        if not rows and alert is None:
            return
        now_wall = self._clock.wall()
        due = [row for row in rows if row.due_wall <= now_wall]
        # The first attempts of the rows due now are recorded as started in the rows' own
        # commit: durable before the send, at no extra fsync.
        committed = self._store.enqueue(rows, alert=alert, starting={row.id for row in due})
        sends: list[PreparedSend | None] = []
        if due:
            # The disk is syncing the rows: build their requests meanwhile, so that when the
            # commit returns each first page is one write away. Nothing is sent before it.
            sends = [self._prepare(row) for row in due]
        await committed
        for row, send in zip(due, sends, strict=True):
            self._rows[row.id] = row
            self._start(row, send, marked=True)
        for row in rows:
            if row.due_wall > now_wall:
                self._schedule(row)

    def _prepare(self, row: NotificationRow) -> PreparedSend | None:
        """The row's first attempt built ahead (see `Channel`), or None to build it then."""
        prepare = getattr(self._channels.get(row.channel), "prepare", None)
        if prepare is None:
            return None
        try:
            send: PreparedSend = prepare(Notification(**row.payload))
        except Exception:  # the attempt builds it again and records the failure
            return None
        return send

    async def cancel(self, alert_id: str, *, action: str, reason: str) -> int:
        """Cancel pending notifications of `action` for an alert (a trigger after the ack)."""
        for key, row in list(self._rows.items()):
            if row.alert_id == alert_id and row.action == action and key not in self._inflight:
                del self._rows[key]
        return await self._store.cancel_notifications(alert_id, action=action, reason=reason)

    @property
    def pending(self) -> int:
        return len(self._rows)

    # -- the loop ------------------------------------------------------------------------------

    def _schedule(self, row: NotificationRow) -> None:
        self._rows[row.id] = row
        due_mono = self._clock.monotonic() + (row.due_wall - self._clock.wall())
        heapq.heappush(self._queue, (due_mono, next(self._order), row.id))
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                now = self._clock.monotonic()
                while self._queue and self._queue[0][0] <= now:
                    _due, _n, key = heapq.heappop(self._queue)
                    row = self._rows.get(key)
                    if row is None or key in self._inflight:
                        continue  # cancelled, or rescheduled while an attempt runs
                    self._start(row)
                if self._queue:
                    delay = self._queue[0][0] - now
                    self._timer = self._clock.call_later(delay, self._wake.set)
                await self._wake.wait()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
        finally:
            for task in list(self._tasks):
                task.cancel(msg="outbox stopping")

    def _start(
        self, row: NotificationRow, send: PreparedSend | None = None, *, marked: bool = False
    ) -> None:
        self._inflight.add(row.id)
        task = asyncio.get_running_loop().create_task(self._attempt(row, send, marked))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, row: NotificationRow, send: PreparedSend | None, marked: bool) -> None:
        number = row.attempts + 1
        try:
            if not marked:
                await self._starting.add((row.id, number, self._clock.wall()))
            async with self._slots:
                result, took = await self._send(row, send)
            started_wall = self._clock.wall()
            status: NotificationStatus
            if result.outcome == "delivered":
                status, due = "delivered", started_wall
            elif result.outcome == "failed" or self.policy.gives_up(row.severity, number):
                status, due = "failed", started_wall
            else:
                status = "pending"
                due = started_wall + self.policy.delay(number, self._rng, result.retry_after)
            attempt = AttemptRow(
                notification_id=row.id,
                number=number,
                started_wall=started_wall,
                duration_s=round(took, 6),
                outcome=result.outcome,
                status=result.status,
                detail=result.detail,
            )
            await self._finished.add((attempt, status, due))
            self.attempted += 1
            if status == "pending" and row.id in self._rows:
                self._inflight.discard(row.id)
                self._schedule(dataclasses.replace(row, attempts=number, due_wall=due))
            else:
                self._rows.pop(row.id, None)
            if self._on_result is not None:
                self._on_result(row, result, number)
        finally:
            self._inflight.discard(row.id)

    async def _send(
        self, row: NotificationRow, send: PreparedSend | None
    ) -> tuple[DeliveryResult, float]:
        """One attempt through the row's channel (`send` if it was built ahead), and how
        long it took."""
        channel = self._channels.get(row.channel)
        began = self._clock.monotonic()
        if channel is None:
            result = DeliveryResult("failed", f"no channel named {row.channel!r} is configured")
        else:
            try:
                if send is not None:
                    result = await send()
                else:
                    result = await channel.send(Notification(**row.payload))
            except Exception as exc:  # a channel bug is a failed attempt, not a dead worker
                log.exception("channel raised", channel=row.channel)
                result = DeliveryResult("retry", f"channel raised {type(exc).__name__}: {exc}")
        return result, self._clock.monotonic() - began
