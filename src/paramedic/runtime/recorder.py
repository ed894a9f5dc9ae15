"""The one ordered path from "something happened" to the durable timeline.

Detectors and ServiceHealth run synchronously (they are on the hot path) and hand their
events to `submit`; actors that must not act before an event is durable `await record(...)`.
Both go through one queue, published one after another, so the timeline keeps the order in
which things were decided and an awaited record implies everything submitted before it is
durable too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog

from paramedic.core.bus import EventBus, Published
from paramedic.core.errors import StoreError
from paramedic.core.events import Event

__all__ = ["OrderedRecorder"]

log = structlog.get_logger("paramedic.recorder")

# (event, waiter); an event of None is a flush marker: its waiter settles once everything
# queued before it is durable, and nothing is recorded for it.
_Item = tuple[Event | None, "asyncio.Future[Published | None] | None"]


class OrderedRecorder:
    """Publishes events through the bus strictly in the order they were handed in."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.failed = 0

    def submit(self, events: Iterable[Event]) -> None:
        """Queue events from synchronous code; they are recorded in this order."""
        for event in events:
            self._queue.put_nowait((event, None))

    async def record(self, event: Event) -> Published:
        """Record one event and return once it (and all queued before it) is durable."""
        future: asyncio.Future[Published | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((event, future))
        published = await future
        assert published is not None
        return published

    async def flush(self) -> None:
        """Return once everything submitted so far is durable, recording nothing new: what an
        input acknowledged to a caller (an Alertmanager webhook) waits for before its 2xx."""
        future: asyncio.Future[Published | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((None, future))
        await future

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            # Everything queued goes in one commit: a crash's exit, signal, incident and
            # restart decision cost one fsync before the restart, not four.
            events = [event for event, _ in batch if event is not None]
            try:
                published = await self._bus.publish_many(events) if events else []
            except StoreError as exc:
                self.failed += len(batch)
                waited = [f for _, f in batch if f is not None and not f.done()]
                for waiter in waited:
                    waiter.set_exception(exc)
                if len(waited) < len(batch):
                    log.error("events not recorded", kinds=[e.kind for e in events], error=str(exc))
                    raise
            else:
                results = iter(published)
                for event, future in batch:
                    item = next(results) if event is not None else None
                    if future is not None and not future.done():
                        future.set_result(item)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def drain(self) -> None:
        """Wait until everything handed in so far is recorded (used at shutdown)."""
        await self._queue.join()

    @property
    def pending(self) -> int:
        return self._queue.qsize()
