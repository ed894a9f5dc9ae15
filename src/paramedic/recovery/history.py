"""Finished recoveries counted for the recovery-history histogram (no prometheus import here).

Every key is from a bounded set: the method names a plan may have (plus "manual"), the shared
failure kinds (anything else is "other") and the outcome. A thousand recoveries are a
thousand observations, never a thousand series.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from paramedic.core.failures import FAILURE_KINDS

__all__ = ["RTO_BUCKETS", "RtoBuckets", "RtoHistory"]

# Seconds: a hot failover takes under a second, a cold restart tens, a manual repair hours.
RTO_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
_METHODS = ("hot", "warm", "cold", "manual")


@dataclass(slots=True)
class RtoBuckets:
    """One label set's observations in Prometheus's cumulative-bucket shape."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(RTO_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(RTO_BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*map(str, RTO_BUCKETS), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, float(running)))
        return out


class RtoHistory:
    """RTO of every recovery finished by this run, by (method, failure kind, outcome)."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, str, str], RtoBuckets] = {}

    def observe(self, method: str, failure_kind: str, ok: bool, seconds: float) -> None:
        key = (
            method if method in _METHODS else "other",
            failure_kind if failure_kind in FAILURE_KINDS else "other",
            "recovered" if ok else "failed",
        )
        self.series.setdefault(key, RtoBuckets()).observe(max(0.0, seconds))
