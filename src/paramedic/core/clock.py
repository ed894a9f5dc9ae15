"""Time, injected.

Deadlines are always taken on the monotonic clock so that a wall-clock step can neither fire
nor cancel one; wall time is only stamped on records and shown to people. Every component gets
a `Clock` from its owner, so tests can drive hours of escalation on a `FakeClock` in
milliseconds (see `paramedic.testing`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "Instant", "SystemClock", "TimerHandle"]


@dataclass(frozen=True, slots=True)
class Instant:
    """One moment on both clocks: `mono` for arithmetic, `wall` (Unix seconds) for people."""

    mono: float
    wall: float


@runtime_checkable
class TimerHandle(Protocol):
    """What `Clock.call_later` returns: something that can be cancelled."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """The time source every component receives instead of reading `time` directly."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences mean anything."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch, for display and records only."""
        ...

    def now(self) -> Instant:
        """Both clocks read together, for stamping an event."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback` once after `delay` seconds of monotonic time."""
        ...

    async def sleep(self, delay: float) -> None:
        """Suspend the caller for `delay` seconds of monotonic time."""
        ...

    def boot_id(self) -> str:
        """Names the span over which `monotonic` readings compare: the machine's boot, not
        the process (CLOCK_MONOTONIC survives a restart of paramedic). "" when unknown."""
        ...


class SystemClock:
    """The real clock, with timers on the running asyncio loop (itself monotonic)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def now(self) -> Instant:
        return Instant(mono=time.monotonic(), wall=time.time())

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))

    def boot_id(self) -> str:
        return _boot_id()


@functools.cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""  # not Linux: every restart rebases on wall time, as a reboot does
