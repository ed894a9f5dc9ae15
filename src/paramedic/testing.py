"""Helpers for tests of paramedic and of code built on it (shipped, like structlog's)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from paramedic.alerting.channels.base import DeliveryResult, Notification
from paramedic.core.clock import Instant

__all__ = ["CapturingChannel", "FakeClock"]


@dataclass(order=True)
class _Timer:
    due: float
    order: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A `Clock` that moves only when told to.

    `advance(seconds)` fires every timer that falls due in that span, in due order (ties in
    the order they were set), each with the clock reading exactly its due time, including
    timers that callbacks set along the way. Wall time moves with monotonic time unless
    `step_wall` jumps it, which never fires or cancels anything: that is the point.
    """

    def __init__(self, *, mono: float = 1000.0, wall: float = 1_767_225_600.0) -> None:
        self._mono = mono
        self._wall_offset = wall - mono
        self._timers: list[_Timer] = []
        self._order = itertools.count()
        self._boot = uuid.uuid4().hex  # a new FakeClock is a reboot: its monotonic restarts

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> float:
        return self._mono + self._wall_offset

    def now(self) -> Instant:
        return Instant(mono=self._mono, wall=self.wall())

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(self._mono + max(0.0, delay), next(self._order), callback)
        heapq.heappush(self._timers, timer)
        return timer

    async def sleep(self, delay: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        self.call_later(delay, wake)
        await fut

    def advance(self, seconds: float) -> int:
        """Move time forward, firing due timers in order; return how many fired."""
        if seconds < 0:
            msg = "a monotonic clock cannot go backwards"
            raise ValueError(msg)
        target = self._mono + seconds
        fired = 0
        while self._timers and self._timers[0].due <= target:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._mono = max(self._mono, timer.due)
            timer.callback()
            fired += 1
        self._mono = target
        return fired

    def step_wall(self, seconds: float) -> None:
        """Jump the wall clock (NTP step, operator error) without touching monotonic time."""
        self._wall_offset += seconds

    def boot_id(self) -> str:
        return self._boot

    def next_due(self) -> float | None:
        """When the earliest live timer falls due (None: none set), to advance to it."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].due if self._timers else None

    @property
    def pending(self) -> int:
        """Timers set and not yet fired or cancelled."""
        return sum(1 for t in self._timers if not t.cancelled)


class CapturingChannel:
    """A channel (named and of kind `log` by default) that keeps every notification it is
    sent, in order, and answers "delivered": for tests of routing and escalation that need no
    wire. `arrived` lets a test await the next one instead of polling."""

    def __init__(self, name: str = "log", kind: str = "log") -> None:
        self.name = name
        self.kind = kind
        self.sent: list[Notification] = []
        self.arrived: asyncio.Queue[Notification] = asyncio.Queue()

    async def send(self, notification: Notification) -> DeliveryResult:
        self.sent.append(notification)
        self.arrived.put_nowait(notification)
        return DeliveryResult("delivered", "ok")

    async def close(self) -> None:
        return None
