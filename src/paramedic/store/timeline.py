"""The timeline read back as typed events: paged from the store and decoded here, once.

Readers (the API's incident and recovery screens, the runtime's rebuild after a restart)
work on the event dataclasses, never on payload dicts, so a field renamed in an event is a
type error in every reader instead of a `KeyError` in one of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from paramedic.core.events import Event, event_from_record
from paramedic.store.protocol import Store, StoredEvent

__all__ = ["decode", "read_events", "read_rows"]


async def read_rows(
    store: Store,
    *,
    service: str | None = None,
    kinds: Sequence[str] = (),
    after: int = 0,
    page: int = 1000,
) -> list[StoredEvent]:
    """Every stored row (of `service`, of `kinds`) after seq `after`, oldest first."""
    rows: list[StoredEvent] = []
    while True:
        got = await store.timeline(after_seq=after, limit=page, service=service, kinds=kinds)
        rows += got
        if len(got) < page:
            return rows
        after = got[-1].seq


def decode(rows: Sequence[StoredEvent]) -> list[Event]:
    """Stored rows back to events; kinds this build does not know (or rows that no longer
    fit their type) are skipped, not fatal: an old timeline must not stop a start."""
    events: list[Event] = []
    for row in rows:
        try:
            event = event_from_record(
                row.kind,
                id=row.id,
                mono=row.mono,
                wall=row.wall,
                service=row.service,
                payload=row.payload,
            )
        except (KeyError, TypeError):
            continue
        events.append(event)
    return events


async def read_events(
    store: Store, *, service: str | None = None, kinds: Sequence[str] = ()
) -> list[Event]:
    """`read_rows`, decoded."""
    return decode(await read_rows(store, service=service, kinds=kinds))
