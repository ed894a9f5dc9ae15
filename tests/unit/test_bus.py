"""Event bus: recorded first, then fanned out; slow subscribers cannot stall it."""

from __future__ import annotations

import pytest

from paramedic.core.bus import EventBus, Published
from paramedic.core.clock import Instant
from paramedic.core.errors import StoreError
from paramedic.core.events import Event, NoteAdded
from paramedic.core.process_events import ProcessSpawned


class ListRecorder:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[Event] = []
        self.fail = fail

    async def append(self, event: Event) -> int:
        [seq] = await self.append_many([event])
        return seq

    async def append_many(self, events: list[Event]) -> list[int]:
        if self.fail:
            msg = "disk full"
            raise StoreError(msg)
        self.events.extend(events)
        return list(range(len(self.events) - len(events) + 1, len(self.events) + 1))


def note(text: str) -> NoteAdded:
    return NoteAdded(at=Instant(1.0, 2.0), author="t", text=text)


async def test_recorded_before_delivered() -> None:
    """A listener sees an event only after the recorder holds it, with its seq."""
    recorder = ListRecorder()
    bus = EventBus(recorder)
    seen: list[tuple[int, bool]] = []
    bus.add_listener(lambda p: seen.append((p.seq, p.event in recorder.events)))
    await bus.publish(note("a"))
    assert [(1, True)] == seen


async def test_unrecordable_event_is_not_delivered() -> None:
    """If the store cannot record it, nobody acts on it and the caller gets the error."""
    bus = EventBus(ListRecorder(fail=True))
    sub = bus.subscribe("s")
    with pytest.raises(StoreError):
        await bus.publish(note("a"))
    assert sub.queue.empty()


async def test_subscription_filters_by_kind_prefix_and_counts_overflow() -> None:
    """Subscribers get only the kinds they asked for; a full queue drops and counts."""
    bus = EventBus(ListRecorder(), queue_size=1)
    notes = bus.subscribe("notes", "note.")
    everything = bus.subscribe("all")
    await bus.publish(note("a"))
    await bus.publish(ProcessSpawned(at=Instant(1.0, 2.0), service="e", pid=1, argv=("x",)))
    first: Published = notes.queue.get_nowait()
    assert "a" == first.event.text  # type: ignore[attr-defined]
    assert notes.queue.empty()
    assert (1, 1) == (everything.queue.qsize(), everything.dropped)


async def test_publish_many_records_in_one_call_then_fans_out_in_order() -> None:
    """A batch is recorded in one store call (one commit) and delivered in order, with seqs."""
    recorder = ListRecorder()
    bus = EventBus(recorder)
    seen: list[tuple[int, str]] = []
    bus.add_listener(lambda p: seen.append((p.seq, p.event.text)))  # type: ignore[attr-defined]
    await bus.publish_many([note("a"), note("b"), note("c")])
    assert [(1, "a"), (2, "b"), (3, "c")] == seen
