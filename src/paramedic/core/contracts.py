"""The small contracts the rooms are handed, declared once (structlog keeps its Protocols and
aliases in one module the same way).

One word, one meaning:

- **record**: the event is on the durable timeline when the call returns (an actor that must
  not act on something a crash could lose awaits it). The one exception is the store's
  degraded mode (disk full, read-only), where acting wins over recording: the event comes
  back with seq 0, fanned out and held for a late write (see runtime/recorder.py).
- **submit**: queue events from synchronous code; they are recorded later, in the order
  handed in, and an awaited `record` after them implies they are durable too.
- **job**: run a coroutine as a background task the runtime owns (cancelled and awaited at
  stop, its exception logged).

The rooms take the bound methods (`record=recorder.record`), which keeps their fakes in tests
one-line functions; the Protocols name the object that provides them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol

from paramedic.core.bus import Published
from paramedic.core.events import Event

__all__ = ["Job", "Record", "Recorder", "Submit", "Submitter"]


class Recorder(Protocol):
    """Records events durably, in the order handed in."""

    async def record(self, event: Event) -> Published:
        """Return once `event` (and everything submitted before it) is durable."""
        ...


class Submitter(Protocol):
    """Takes events from synchronous code (the hot path) to be recorded in order."""

    def submit(self, events: Iterable[Event]) -> None:
        """Queue `events`; not durable on return."""
        ...


Record = Callable[[Event], Awaitable[Published]]
"""A `Recorder.record`: durable on return."""

Submit = Callable[[Iterable[Event]], None]
"""A `Submitter.submit`: queued on return, durable later, in order."""

Job = Callable[[Coroutine[Any, Any, Any]], None]
"""Run a coroutine as a background task the runtime owns."""
