"""The event bus: record first, then fan out.

`publish` appends the event to the durable timeline through a `TimelineWriter` (the store) and only
then hands it to subscribers, so nothing acts on an event that a crash could lose. Subscribers
get their own bounded queue; a slow one loses events from its queue (counted) rather than
stalling everyone, and can catch up from the timeline by `seq`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from paramedic.core.events import Event

__all__ = ["EventBus", "Published", "Subscription", "TimelineWriter"]


class TimelineWriter(Protocol):
    """What the bus needs from the store: appends that return once committed."""

    async def append(self, event: Event) -> int: ...

    async def append_many(self, events: list[Event]) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class Published:
    """An event with its durable position in the timeline."""

    seq: int
    event: Event


@dataclass(eq=False)
class Subscription:
    """A consumer's queue of published events, optionally filtered by kind prefix."""

    name: str
    prefixes: tuple[str, ...]
    queue: asyncio.Queue[Published]
    dropped: int = 0
    _closed: bool = field(default=False, repr=False)

    def wants(self, event: Event) -> bool:
        return not self.prefixes or event.kind.startswith(self.prefixes)

    async def __aiter__(self) -> AsyncIterator[Published]:
        while True:
            yield await self.queue.get()


class EventBus:
    """Publishes events durably, then delivers them to listeners and subscriptions."""

    def __init__(self, recorder: TimelineWriter, *, queue_size: int = 10_000) -> None:
        self._recorder = recorder
        self._queue_size = queue_size
        self._subscriptions: list[Subscription] = []
        self._listeners: list[Callable[[Published], None]] = []
        self.published = 0

    async def publish(self, event: Event) -> Published:
        """Record `event` durably, then fan it out. Raises StoreError if it cannot be recorded."""
        [item] = await self.publish_many([event])
        return item

    async def publish_many(self, events: list[Event]) -> list[Published]:
        """Record events in order in one commit, then fan each out in that order."""
        seqs = await self._recorder.append_many(events)
        items = [Published(seq, event) for seq, event in zip(seqs, events, strict=True)]
        for item in items:
            self._fan_out(item)
        return items

    def fan_out_unrecorded(self, events: list[Event]) -> list[Published]:
        """Hand events to listeners without a durable record (seq 0): only for the store's
        degraded mode, where acting wins over recording (see runtime/recorder.py)."""
        items = [Published(0, event) for event in events]
        for item in items:
            self._fan_out(item)
        return items

    def _fan_out(self, item: Published) -> None:
        self.published += 1
        for listener in tuple(self._listeners):
            listener(item)
        for sub in tuple(self._subscriptions):
            if sub.wants(item.event):
                try:
                    sub.queue.put_nowait(item)
                except asyncio.QueueFull:
                    sub.dropped += 1

    def subscribe(self, name: str, *prefixes: str, queue_size: int | None = None) -> Subscription:
        """A queue of the events whose kind starts with one of `prefixes` (all if none),
        holding at most `queue_size` (default: the bus's) before it drops."""
        sub = Subscription(name, prefixes, asyncio.Queue(queue_size or self._queue_size))
        self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def add_listener(self, listener: Callable[[Published], None]) -> Callable[[], None]:
        """A synchronous callback run in publish order (keep it short); returns its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
