"""Counters the alerting dashboard reads, kept as plain data (no prometheus import here).

Every key is from a set the config bounds (severity, channel name, escalation level) or a
fixed vocabulary (the held reasons below), never an alert id or a label value a sender
chose: the number of series must not grow with the number of alerts.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["HELD_REASONS", "LATENCY_BUCKETS", "AlertStats", "Histogram", "held_reason"]

# Enqueue -> delivered, seconds: a loopback webhook takes ~1 ms, a retried SaaS minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# The sentence of an `alert.held` record begins with one of these (silences.py, fatigue.py).
_PREFIXES = (
    ("silenced", "silence"),
    ("inhibited", "inhibition"),
    ("maintenance window", "maintenance"),
    ("duplicate", "dedup"),
    ("grouped", "grouping"),
    ("rate limit", "rate_limit"),
)
# A dependency's hold names the service first (silences.InhibitRule.dependency).
_DEPENDENCY = ", which is down"
HELD_REASONS = (*(label for _, label in _PREFIXES), "dependency", "other")


def held_reason(sentence: str) -> str:
    """The bounded label for why a notification was held."""
    for prefix, label in _PREFIXES:
        if sentence.startswith(prefix):
            return label
    head = sentence.partition(":")[0]
    if " depends on " in head and head.endswith(_DEPENDENCY):
        return "dependency"
    return "other"


@dataclass(slots=True)
class Histogram:
    """Cumulative-bucket histogram in the Prometheus shape."""

    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*map(str, self.buckets), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, float(running)))
        return out


@dataclass(slots=True)
class AlertStats:
    escalations: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    held: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency: dict[str, Histogram] = field(default_factory=dict)

    def delivered(self, channel: str, seconds: float) -> None:
        histogram = self.latency.get(channel)
        if histogram is None:
            histogram = self.latency[channel] = Histogram()
        histogram.observe(max(0.0, seconds))
