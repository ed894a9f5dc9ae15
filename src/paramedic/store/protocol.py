"""The Store protocol: what every backend (SQLite now, PostgreSQL later) must offer.

Callers depend on this protocol only. Every method that writes returns after the write is
durable, because the rule of the house is "recorded first, acted on second".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from paramedic.core.events import Event
from paramedic.store.outbox import OutboxStore
from paramedic.store.silences import SilenceStore

__all__ = ["Store", "StoredEvent"]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One timeline row as read back: `seq` is its durable position, strictly increasing."""

    seq: int
    id: str
    kind: str
    mono: float
    wall: float
    service: str | None
    summary: str
    payload: dict[str, Any]


class Store(OutboxStore, SilenceStore, Protocol):
    """Durable state of one paramedic (or, later, of a cluster of them): the timeline here,
    alerts and their notifications in `OutboxStore`."""

    async def open(self) -> None:
        """Create or migrate the schema; raise StoreError with the reason if impossible."""
        ...

    async def close(self) -> None:
        """Flush what is pending and release the backend."""
        ...

    async def append(self, event: Event) -> int:
        """Write one event to the timeline; return its seq once it is durable."""
        ...

    async def append_many(self, events: list[Event]) -> list[int]:
        """Write events in order in one transaction (one fsync); their seqs once durable."""
        ...

    async def append_late(self, events: list[Event], note: dict[str, Any]) -> list[int]:
        """Like `append_many`, for events that could not be written when they happened: each
        payload gains the keys of `note` (decoding ignores them). Their seqs once durable."""
        ...

    async def timeline(
        self,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        service: str | None = None,
        kinds: Sequence[str] = (),
        newest: bool = False,
    ) -> list[StoredEvent]:
        """Events with seq greater than `after_seq`, oldest first; only `kinds` if given.
        With `newest`, the last `limit` of them (still oldest first) instead of the first."""
        ...

    async def ping(self) -> None:
        """Prove the backend answers and accepts writes; raise StoreError otherwise."""
        ...

    @property
    def schema_version(self) -> int:
        """The migration the schema is at, after `open`."""
        ...
