"""When to restart a process that ended: policy, backoff, and when to give up (seed Mech. 3-4).

Pure and synchronous, times passed in. The first restart after a stable run is immediate:
in trading every millisecond of downtime costs, and one crash is not a pattern. Repeated
failures back off exponentially (capped, with jitter so a fleet does not restart in
lockstep); a run longer than `stable_after` resets the count. More than `burst` restarts in
`window` means restarting is not helping: give up and call a human (the seed: 5 in 300 s).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Literal

from paramedic.core.backoff import jittered_backoff
from paramedic.core.errors import DetectionError
from paramedic.core.text import duration
from paramedic.process.managed import ExitStatus

__all__ = ["Backoff", "RestartDecision", "RestartPlanner", "RestartPolicyName"]

RestartPolicyName = Literal["always", "on-failure", "never"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before restart n (n >= 2): min(max, initial * factor^(n-2)) +/- jitter."""

    initial: float = 0.1
    max: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2
    stable_after: float = 60.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.max < self.initial:
            msg = f"backoff needs 0 <= initial <= max; got initial {self.initial}, max {self.max}"
            raise DetectionError(msg)
        if self.factor < 1:
            msg = f"backoff factor must be >= 1; got {self.factor}"
            raise DetectionError(msg)
        if not 0 <= self.jitter < 1:
            msg = f"backoff jitter must be in [0, 1); got {self.jitter}"
            raise DetectionError(msg)


@dataclass(frozen=True, slots=True)
class RestartDecision:
    """What to do about one exit, and the sentence that says why."""

    action: Literal["restart", "leave", "give_up"]
    reason: str
    delay: float = 0.0
    attempt: int = 0


class RestartPlanner:
    """Remembers recent restarts of one process and decides about the next exit."""

    def __init__(
        self,
        policy: RestartPolicyName = "on-failure",
        backoff: Backoff | None = None,
        *,
        burst: int = 5,
        window: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        if burst < 1:
            msg = f"restart burst must be >= 1; got {burst}"
            raise DetectionError(msg)
        self.policy = policy
        self.backoff = backoff or Backoff()
        self.burst = burst
        self.window = window
        self._rng = rng or random.Random()  # jitter, not security
        self._restarts: deque[float] = deque()
        self.consecutive = 0

    def decide(self, status: ExitStatus, now: float, *, forced: bool = False) -> RestartDecision:
        """Decide about an exit at monotonic `now`. `forced`: paramedic killed it as hung."""
        how = f"killed by {status.signal}" if status.signal else f"exit code {status.returncode}"
        if status.unknown:  # a re-adopted process: counted as a failure, never a clean exit
            how = status.unknown
        if status.expected and not forced:
            return RestartDecision("leave", f"stopped by paramedic ({how})")
        failed = forced or status.signal is not None or status.returncode != 0
        if self.policy == "never":
            return RestartDecision("leave", f"restart policy is never ({how})")
        if self.policy == "on-failure" and not failed:
            return RestartDecision("leave", "exited cleanly (code 0) and policy is on-failure")
        if status.runtime >= self.backoff.stable_after:
            self.consecutive = 0
        while self._restarts and now - self._restarts[0] > self.window:
            self._restarts.popleft()
        if len(self._restarts) >= self.burst:
            return RestartDecision(
                "give_up",
                f"{len(self._restarts)} restarts in the last {duration(self.window)}"
                f" (limit {self.burst}); giving up, a human must look",
            )
        self.consecutive += 1
        self._restarts.append(now)
        delay = self._delay(self.consecutive)
        return RestartDecision(
            "restart",
            f"{how} after {duration(status.runtime)}; restart {len(self._restarts)}/{self.burst}"
            f" in {duration(self.window)}",
            delay=delay,
            attempt=self.consecutive,
        )

    @property
    def recent_restarts(self) -> int:
        """Restarts counted in the current window (as of the last decision)."""
        return len(self._restarts)

    def _delay(self, attempt: int) -> float:
        if attempt <= 1:
            return 0.0
        b = self.backoff
        delay = jittered_backoff(
            attempt - 2,
            initial=b.initial,
            factor=b.factor,
            cap=b.max,
            jitter=b.jitter,
            rng=self._rng,
        )
        return min(b.max, delay)
