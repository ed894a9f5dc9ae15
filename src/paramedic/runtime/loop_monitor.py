"""paramedic watching itself: how late its own event loop runs.

A tick that wakes far later than asked means paramedic itself was stalled (GC, swap, a
SIGSTOP). Detectors read `stalled_since` to convict no one for silence that was ours
(Cassandra's rule), and /livez fails when the last tick is too old (Patroni's rule).
"""

from __future__ import annotations

from collections.abc import Callable

from paramedic.core.clock import Clock
from paramedic.core.text import duration

__all__ = ["LoopMonitor"]


class LoopMonitor:
    """Ticks every `period` seconds and records the loop's lag."""

    def __init__(self, clock: Clock, *, period: float = 0.1, stale_after: float = 5.0) -> None:
        self._clock = clock
        self.period = period
        self.stale_after = stale_after
        self.last_tick = clock.monotonic()
        self.lag = 0.0
        self.max_lag = 0.0
        self.ticks = 0
        self.listeners: list[Callable[[float, float], None]] = []

    async def run(self) -> None:
        while True:
            expected = self._clock.monotonic() + self.period
            await self._clock.sleep(self.period)
            now = self._clock.monotonic()
            self.lag = max(0.0, now - expected)
            self.max_lag = max(self.max_lag, self.lag)
            self.last_tick = now
            self.ticks += 1
            for listener in self.listeners:
                listener(self.lag, now)

    def tick_age(self) -> float:
        """Seconds since the loop last ran a tick."""
        return self._clock.monotonic() - self.last_tick

    def alive(self) -> tuple[bool, str]:
        age = self.tick_age()
        if age > self.stale_after:
            return (
                False,
                f"event loop last ticked {duration(age)} ago (bound {duration(self.stale_after)})",
            )
        return True, "ok"
