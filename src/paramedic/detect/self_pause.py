"""Convict no one for a silence that was paramedic's own (Cassandra's rule).

When paramedic itself stops (GC, swap, a SIGSTOP, a noisy neighbour), every service looks
silent at once, and the heartbeats that did arrive sit unread in the socket buffer. Cassandra's
``FailureDetector.interpret`` skips judging when the local pause exceeds ``MAX_LOCAL_PAUSE``;
we do the same, and keep holding for one ``grace`` after the pause so the buffered datagrams
are drained and a live sender's next beat lands before anyone is convicted.
"""

from __future__ import annotations

import math

from paramedic.core.errors import DetectionError
from paramedic.core.text import duration

__all__ = ["SelfPauseGuard"]


class SelfPauseGuard:
    """Remembers paramedic's last stall past ``bound`` and holds verdicts until ``grace`` ends.

    ``note_lag`` is fed by whatever measures paramedic's own lateness: the loop monitor's tick
    and the heartbeat monitor's own timers (a timer firing late is the same evidence). Lags
    within ``bound`` are ordinary scheduling noise and hold nothing.
    """

    __slots__ = ("_lag", "_until", "bound", "grace", "pauses")

    def __init__(self, bound: float, *, grace: float = 0.2) -> None:
        if not bound > 0 or math.isinf(bound):
            msg = f"self-pause bound must be in (0, inf) seconds, got {bound!r}"
            raise DetectionError(msg)
        # Two 100 ms heartbeat intervals: one to drain the buffer, one for a fresh beat.
        if not grace > 0 or math.isinf(grace):
            msg = f"self-pause grace must be in (0, inf) seconds, got {grace!r}"
            raise DetectionError(msg)
        self.bound = bound
        self.grace = grace
        self.pauses = 0
        self._lag = 0.0
        self._until = -math.inf

    @property
    def until(self) -> float:
        """Monotonic time the current hold ends (in the past when nothing is held)."""
        return self._until

    def note_lag(self, lag: float, now: float) -> None:
        """paramedic ran ``lag`` seconds late, noticed at monotonic ``now``."""
        if lag <= self.bound:
            return
        if now >= self._until:
            self.pauses += 1
            self._lag = lag
        elif lag > self._lag:
            # Two stalls inside one hold are reported as the worse of them.
            self._lag = lag
        self._until = max(self._until, now + self.grace)

    def hold(self, now: float) -> str | None:
        """Why verdicts are held at ``now``, or None when paramedic's own clock is trusted."""
        if now >= self._until:
            return None
        return (
            f"paramedic itself was stalled {duration(self._lag)} "
            f"(bound {duration(self.bound)}); convicting no one this tick"
        )
