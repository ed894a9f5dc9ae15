"""Store trouble: the store's disk is full or read-only, and paramedic goes on supervising.

A supervisor that stops when it cannot write its journal takes the engines down with it for a
bookkeeping problem. So a store write failure never stops paramedic nor a child: paramedic
enters a "store degraded" state instead, and in that state acting wins over recording. The
watchdog still restarts a crashed child, recoveries still run; what could not be recorded is
kept, in order, in a bounded in-memory backlog (the recorder's), and written, marked late,
once the store accepts writes again. What the backlog could not hold is counted as dropped.

This module holds the state and says it loudly: one error log line per change of state and
a reminder every `remind_every` with the count of events not recorded, the sentence /readyz
shows, the metrics, and the probe that finds the store writable again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import structlog

from paramedic.core.clock import Clock
from paramedic.core.errors import StoreError
from paramedic.core.events import Event, register_event
from paramedic.core.text import duration

__all__ = ["EmergencyPageSent", "StoreDegraded", "StoreRecovered", "StoreTrouble"]

log = structlog.get_logger("paramedic.store")


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class StoreDegraded(Event):
    """The store refused a write: from here on events are held in memory (written late)."""

    kind: ClassVar[str] = "store.degraded"
    reason: str

    def summary(self) -> str:
        return (
            f"store degraded: {self.reason}; detection and restarts go on, events are kept"
            " in memory and written when the store accepts writes again"
        )


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class StoreRecovered(Event):
    """The store accepts writes again; the backlog was written before this event."""

    kind: ClassVar[str] = "store.recovered"
    degraded_for_s: float
    written_late: int
    dropped: int
    reason: str

    def summary(self) -> str:
        lost = f", {self.dropped} dropped (backlog full)" if self.dropped else ""
        return (
            f"store writable again after {duration(self.degraded_for_s)} degraded ({self.reason}):"
            f" {self.written_late} events written late{lost}"
        )


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class EmergencyPageSent(Event):
    """A page sent straight through a channel, without an outbox row, while degraded."""

    kind: ClassVar[str] = "store.emergency_page"
    channel: str
    title: str
    delivered: bool
    attempts: int
    detail: str

    def summary(self) -> str:
        how = "delivered" if self.delivered else "NOT delivered"
        return (
            f"emergency page on {self.channel} {how} after {self.attempts} attempt(s)"
            f" while the store was degraded: {self.title} ({self.detail})"
        )


def cause(exc: BaseException) -> str:
    """The part of a StoreError an operator needs: "disk full (SQLITE_FULL)", not the verb."""
    text = str(exc)
    for prefix in ("store commit failed: ", "store write failed: "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


class StoreTrouble:
    """Whether the store is degraded, why, since when, and how much went unrecorded."""

    def __init__(
        self,
        where: str,
        clock: Clock,
        *,
        probe_every: float = 2.0,
        remind_every: float = 60.0,
    ) -> None:
        self.where = where  # "store /var/lib/paramedic/p.db"
        self._clock = clock
        self.probe_every = probe_every
        self.remind_every = remind_every
        self.degraded = False
        self.reason = ""
        self.since_wall = 0.0
        self.since_mono = 0.0
        self.unrecorded = 0  # timeline events not written since this degradation began
        self.write_failures = 0  # every write refused (events and other rows), never reset
        self.events_not_recorded = 0  # timeline events held or dropped, never reset
        self.dropped = 0  # events the full backlog could not hold, never reset
        self.degradations = 0
        self._last_reminder = 0.0
        self._entered = asyncio.Event()
        self.on_degraded: list[Callable[[str], None]] = []
        self.on_recovered: list[Callable[[], None]] = []

    def failed(self, exc: BaseException, events: int = 0) -> Event | None:
        """A write was refused (`events` timeline events among it). Enters the degraded state
        if not in it; returns the StoreDegraded event to record late, if it just began."""
        self.write_failures += max(events, 1)
        self.events_not_recorded += events
        self.unrecorded += events
        why = cause(exc)
        if self.degraded:
            if why != self.reason:
                log.error("store still degraded, for another reason", store=self.where, error=why)
                self.reason = why
            return None
        self.degraded = True
        self.degradations += 1
        self.reason = why
        self.since_wall = self._clock.wall()
        self.since_mono = self._last_reminder = self._clock.monotonic()
        self._entered.set()
        log.error(
            "store degraded: cannot record; supervision goes on, events are kept in memory",
            store=self.where,
            error=why,
        )
        for callback in tuple(self.on_degraded):
            callback(self.sentence())
        return StoreDegraded(at=self._clock.now(), reason=why)

    def held(self, events: int) -> None:
        """`events` more timeline events went to the backlog while degraded."""
        self.unrecorded += events
        self.events_not_recorded += events

    def recovered(self, written_late: int, dropped: int) -> StoreRecovered:
        """The backlog is written: leave the degraded state; the event says what it cost."""
        event = StoreRecovered(
            at=self._clock.now(),
            degraded_for_s=round(self._clock.monotonic() - self.since_mono, 3),
            written_late=written_late,
            dropped=dropped,
            reason=self.reason,
        )
        log.warning(
            "store writable again: backlog written, marked late",
            store=self.where,
            degraded_for_s=event.degraded_for_s,
            written_late=written_late,
            dropped=dropped,
        )
        self.degraded = False
        self.unrecorded = 0
        self._entered.clear()
        for callback in tuple(self.on_recovered):
            callback()
        return event

    def wall(self) -> float:
        return self._clock.wall()

    def sentence(self) -> str:
        """What /readyz says: where, why, how much, since when."""
        since = datetime.fromtimestamp(self.since_wall, UTC).strftime("%H:%M:%S UTC")
        return f"{self.where}: {self.reason}: {self.unrecorded} events not recorded since {since}"

    def readiness(self) -> tuple[bool, str]:
        return (False, self.sentence()) if self.degraded else (True, "ok")

    def _remind(self) -> None:
        now = self._clock.monotonic()
        if now - self._last_reminder >= self.remind_every:
            self._last_reminder = now
            log.error(
                "store still degraded",
                store=self.where,
                error=self.reason,
                not_recorded=self.unrecorded,
                degraded_for_s=round(now - self.since_mono, 1),
            )

    async def watch(
        self, ping: Callable[[], Awaitable[None]], retry: Callable[[], Awaitable[bool]]
    ) -> None:
        """While degraded: every `probe_every`, prove the store takes a write, then have the
        recorder write its backlog (which ends the degraded state if it all goes in)."""
        while True:
            await self._entered.wait()
            while self.degraded:
                await self._clock.sleep(self.probe_every)
                self._remind()
                try:
                    await ping()
                except StoreError as exc:
                    self.failed(exc)  # counted; logged only if the reason changed
                    continue
                await retry()
