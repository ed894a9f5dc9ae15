"""The one ordered path from "something happened" to the durable timeline.

Detectors and ServiceHealth run synchronously (they are on the hot path) and hand their
events to `submit`; actors that must not act before an event is durable `await record(...)`.
Both go through one queue, published one after another, so the timeline keeps the order in
which things were decided and an awaited record implies everything submitted before it is
durable too.

When the store refuses a write (disk full, read-only: see `runtime/store_trouble.py`), acting
wins over recording: the batch and everything after it are fanned out unrecorded (seq 0), so
the watchdog still restarts and recoveries still run, and are kept in a bounded backlog that
is written, in order and marked late, once the store takes writes again. Only `flush` (what
an acknowledgement to a caller waits for) fails while degraded: a 2xx still means durable.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any, Protocol

import structlog

from paramedic.core.bus import EventBus, Published
from paramedic.core.errors import StoreError
from paramedic.core.events import Event
from paramedic.runtime.store_trouble import StoreTrouble

__all__ = ["OrderedRecorder"]

log = structlog.get_logger("paramedic.recorder")

# (event, waiter); an event of None is a flush marker: its waiter settles once everything
# queued before it is durable, and nothing is recorded for it.
_Item = tuple[Event | None, "asyncio.Future[Published | None] | None"]


class LateWriter(Protocol):
    """What the recorder needs from the store to write its backlog."""

    async def append_late(self, events: list[Event], note: dict[str, Any]) -> list[int]: ...


_CHUNK = 500  # backlog events per late commit


class OrderedRecorder:
    """Publishes events through the bus strictly in the order they were handed in."""

    def __init__(
        self,
        bus: EventBus,
        store: LateWriter,
        trouble: StoreTrouble,
        *,
        backlog_limit: int = 10_000,
    ) -> None:
        self._bus = bus
        self._store = store
        self._trouble = trouble
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._backlog: deque[Event] = deque()
        self.backlog_limit = backlog_limit
        self._written_late = 0
        self._dropped = 0  # in this degradation
        self._retry = False

    def submit(self, events: Iterable[Event]) -> None:
        """Queue events from synchronous code; they are recorded in this order."""
        for event in events:
            self._queue.put_nowait((event, None))

    async def record(self, event: Event) -> Published:
        """Record one event and return once it (and all queued before it) is durable; while
        the store is degraded, once it is fanned out and held for a late write (seq 0)."""
        future: asyncio.Future[Published | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((event, future))
        published = await future
        assert published is not None
        return published

    async def flush(self) -> None:
        """Return once everything submitted so far is durable, recording nothing new: what an
        input acknowledged to a caller (an Alertmanager webhook) waits for before its 2xx.
        Raises StoreError while the store is degraded."""
        future: asyncio.Future[Published | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((None, future))
        await future

    async def retry(self) -> bool:
        """Try to write the backlog now (the store answered a probe); True if it all went
        in and the degraded state is over."""
        self._retry = True
        future: asyncio.Future[Published | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((None, future))
        try:
            await future
        except StoreError:
            return False
        return not self._trouble.degraded

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._record(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _record(self, batch: list[_Item]) -> None:
        # Everything queued goes in one commit: a crash's exit, signal, incident and
        # restart decision cost one fsync before the restart, not four.
        events = [event for event, _ in batch if event is not None]
        if self._trouble.degraded and self._retry:
            self._retry = False
            recovered = await self._write_backlog()
            if recovered is not None:
                events.insert(0, recovered)
        if self._trouble.degraded:
            self._trouble.held(self._hold(events))
            self._settle_unrecorded(batch, events)
            return
        try:
            published = await self._bus.publish_many(events) if events else []
        except StoreError as exc:
            began = self._trouble.failed(exc, len(events))
            self._hold(events)
            self._settle_unrecorded(batch, events)
            if began is not None:  # after the batch whose failure it reports
                self._trouble.held(self._hold([began]))
                self._bus.fan_out_unrecorded([began])
            return
        results = iter(published)
        for event, future in batch:
            item = next(results) if event is not None else None
            if future is not None and not future.done():
                future.set_result(item)

    def _hold(self, events: list[Event]) -> int:
        """Keep events for the late write, oldest first: when the backlog is full the newest
        are dropped (counted), so the start of the trouble (its cause) is never lost."""
        room = max(self.backlog_limit - len(self._backlog), 0)
        self._backlog.extend(events[:room])
        dropped = len(events) - min(room, len(events))
        if dropped:
            if not self._dropped:
                log.error(
                    "store backlog full: events are dropped from now on",
                    limit=self.backlog_limit,
                )
            self._dropped += dropped
            self._trouble.dropped += dropped
        return len(events)

    def _settle_unrecorded(self, batch: list[_Item], events: list[Event]) -> None:
        """Acting wins over recording: listeners get the events (seq 0: not yet recorded),
        `record` callers go on; `flush` callers are told the store is degraded."""
        items = {item.event.id: item for item in self._bus.fan_out_unrecorded(events)}
        refused = StoreError(self._trouble.sentence())
        for event, future in batch:
            if future is None or future.done():
                continue
            if event is None:
                future.set_exception(refused)
            else:
                future.set_result(items[event.id])

    async def _write_backlog(self) -> Event | None:
        """Write the backlog in order, chunk by chunk; the StoreRecovered event once it is all
        in, else None (still degraded, the rest kept)."""
        note = {
            "recorded_late": {
                "degraded_since_wall": self._trouble.since_wall,
                "written_wall": self._trouble.wall(),
                "reason": self._trouble.reason,
            }
        }
        while self._backlog:
            chunk = list(islice(self._backlog, _CHUNK))
            try:
                await self._store.append_late(chunk, note)
            except StoreError as exc:
                self._trouble.failed(exc)
                return None
            for _ in chunk:
                self._backlog.popleft()
            self._written_late += len(chunk)
        event = self._trouble.recovered(self._written_late, self._dropped)
        self._written_late = self._dropped = 0
        return event

    async def drain(self) -> None:
        """Wait until everything handed in so far is recorded (used at shutdown)."""
        await self._queue.join()
        if self._backlog:
            log.error(
                "stopping with events never recorded (the store is degraded)",
                lost=len(self._backlog) + self._dropped,
            )

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    @property
    def backlog(self) -> int:
        """Events held for a late write."""
        return len(self._backlog)
