"""Fewer, better notifications: dedup, grouping, and a per-receiver rate limit (seed 2.6).

Every input gets an explicit decision (send, suppress, hold for a group, summarize later)
with a reason, so the caller records every alert: nothing is dropped silently, and a person
reviewing alert fatigue can see what was held back and why. P0 and P1 are never held back by
grouping nor by the rate limit: a page that arrives late because of a budget is worse than
an extra page. Pure logic: the caller passes monotonic `now` and asks what is due.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from paramedic.alerting.drill import DRILL_LABELS
from paramedic.alerting.model import Alert
from paramedic.config.alerting import AlertingConfig
from paramedic.core.severity import Severity, severity_rank
from paramedic.core.text import duration

__all__ = [
    "Deduplicator",
    "FatigueDecision",
    "FatiguePolicy",
    "GroupSummary",
    "Grouper",
    "RateLimiter",
    "RateSummary",
]

Action = Literal["send", "suppress", "hold", "summarize"]
_NEVER_LIMITED: frozenset[Severity] = frozenset({"P0", "P1"})


@dataclass(frozen=True, slots=True)
class FatigueDecision:
    """`hold`: wait for the group summary; `summarize`: counted into the next rate summary."""

    action: Action
    reason: str
    alert_id: str
    receiver: str | None = None
    by: str = ""  # a suppressed duplicate: the id of the alert it duplicates


class Deduplicator:
    """Same (type, source) within the window is one alert; louder or resolved always passes.

    A duplicate is one of an alert the receivers still see firing: once that alert resolves
    (`forget`), the next one of its kind is a new trigger, whatever the window says.
    Otherwise a service that fails again a second after its resolve went out would fire
    with nobody told: the receivers' last word would be RESOLVED.
    """

    def __init__(self, window: float) -> None:
        self._window = window
        self._seen: dict[tuple[str, str], tuple[float, Severity, str]] = {}

    def check(self, alert: Alert, now: float) -> FatigueDecision:
        if alert.state == "resolved":
            return FatigueDecision("send", "resolves are never deduplicated", alert.id)
        last = self._seen.get(alert.key)
        if last is not None:
            at, severity, first = last
            age = now - at
            if age <= self._window and severity_rank(alert.severity) >= severity_rank(severity):
                reason = (
                    f"duplicate of {alert.type} from {alert.source} sent {duration(age)} ago"
                    f" ({first}, still firing; dedup window {duration(self._window)})"
                )
                return FatigueDecision("suppress", reason, alert.id, by=first)
        self._seen[alert.key] = (now, alert.severity, alert.id)
        return FatigueDecision("send", "first of its kind in the dedup window", alert.id)

    def forget(self, alert: Alert) -> None:
        """`alert` resolved: its kind is no longer firing for the receivers."""
        last = self._seen.get(alert.key)
        if last is not None and last[2] == alert.id:
            del self._seen[alert.key]


@dataclass(slots=True)
class _Group:
    labels: tuple[tuple[str, str], ...]
    pending: list[Alert] = field(default_factory=list)
    first_at: float = 0.0
    last_flush: float | None = None

    def due(self, wait: float, interval: float) -> float:
        if self.last_flush is None:
            return self.first_at + wait
        return max(self.first_at, self.last_flush + interval)


@dataclass(frozen=True, slots=True)
class GroupSummary:
    labels: tuple[tuple[str, str], ...]
    alerts: tuple[Alert, ...]

    @property
    def text(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.labels)
        titles = Counter(a.title for a in self.alerts)
        parts = "; ".join(t if n == 1 else f"{t} (x{n})" for t, n in titles.items())
        return f"{len(self.alerts)} alerts for {where}: {parts}"


class Grouper:
    """Alertmanager's group_wait / group_interval over the low severities only."""

    def __init__(
        self,
        group_by: Sequence[str],
        group_wait: float,
        group_interval: float,
        severities: Iterable[Severity] = ("P2", "P3"),
    ) -> None:
        self._by = tuple(group_by)
        self._wait = group_wait
        self._interval = group_interval
        self._severities = frozenset(severities) - _NEVER_LIMITED
        self._groups: dict[tuple[tuple[str, str], ...], _Group] = {}

    def add(self, alert: Alert, now: float) -> FatigueDecision:
        if alert.severity not in self._severities:
            return FatigueDecision("send", f"{alert.severity} is not grouped", alert.id)
        labels = alert.all_labels()
        key = tuple((k, labels.get(k, "")) for k in self._by)
        # A drill's alerts are a group of their own: its summary goes to the drill's
        # contacts as a DRILL page, never to the real route with real alerts in it.
        key += tuple((k, labels[k]) for k in DRILL_LABELS if k in labels and k not in self._by)
        group = self._groups.setdefault(key, _Group(key))
        if not group.pending:
            group.first_at = now
        group.pending.append(alert)
        wait = group.due(self._wait, self._interval) - now
        reason = f"grouped ({len(group.pending)} pending); summary in {duration(max(0.0, wait))}"
        return FatigueDecision("hold", reason, alert.id)

    def due(self, now: float) -> list[GroupSummary]:
        out: list[GroupSummary] = []
        for group in self._groups.values():
            if group.pending and group.due(self._wait, self._interval) <= now:
                out.append(GroupSummary(group.labels, tuple(group.pending)))
                group.pending.clear()
                group.last_flush = now
        return out


@dataclass(frozen=True, slots=True)
class RateSummary:
    receiver: str
    alerts: tuple[Alert, ...]
    window: float

    @property
    def text(self) -> str:
        span = "hour" if self.window == 3600 else duration(self.window)
        titles = Counter(f"[{a.severity}] {a.title}" for a in self.alerts)
        parts = "; ".join(t if n == 1 else f"{t} (x{n})" for t, n in titles.items())
        return f"{len(self.alerts)} more P2/P3 alerts suppressed in the last {span}: {parts}"


class RateLimiter:
    """N per receiver in a sliding window; P2/P3 over budget wait for one summary."""

    def __init__(self, max_per_receiver: int, window: float) -> None:
        self._max = max_per_receiver
        self._window = window
        self._sent: dict[str, deque[float]] = {}
        self._held: dict[str, list[Alert]] = {}

    def _recent(self, receiver: str, now: float) -> deque[float]:
        sent = self._sent.get(receiver)
        if sent is None:  # not setdefault: that builds a deque on every call to throw away
            sent = self._sent[receiver] = deque()
        while sent and sent[0] <= now - self._window:
            sent.popleft()
        return sent

    def check(self, receiver: str, alert: Alert, now: float) -> FatigueDecision:
        sent = self._recent(receiver, now)
        if alert.severity in _NEVER_LIMITED or alert.state == "resolved" or len(sent) < self._max:
            sent.append(now)
            why = "within the rate limit"
            if len(sent) > self._max:
                why = f"{alert.severity} is never rate limited"
            return FatigueDecision("send", why, alert.id, receiver)
        self._held.setdefault(receiver, []).append(alert)
        reason = f"rate limit {self._max} per {duration(self._window)} reached for {receiver}"
        return FatigueDecision("summarize", reason, alert.id, receiver)

    def summaries(self, now: float) -> list[RateSummary]:
        """One summary per receiver with held alerts, once its budget has a slot again."""
        out: list[RateSummary] = []
        for receiver, held in self._held.items():
            sent = self._recent(receiver, now)
            if held and len(sent) < self._max:
                sent.append(now)
                out.append(RateSummary(receiver, tuple(held), self._window))
                held.clear()
        return out

    def held(self, receiver: str) -> int:
        return len(self._held.get(receiver, ()))


class FatiguePolicy:
    """Dedup, then grouping, then the rate limit per receiver, as configured."""

    def __init__(self, dedup: Deduplicator, grouper: Grouper, limiter: RateLimiter) -> None:
        self.dedup = dedup
        self.grouper = grouper
        self.limiter = limiter

    @classmethod
    def from_config(cls, cfg: AlertingConfig) -> FatiguePolicy:
        g, r = cfg.grouping, cfg.rate_limit
        return cls(
            Deduplicator(cfg.dedup_window),
            Grouper(g.group_by, g.group_wait, g.group_interval, g.severities),
            RateLimiter(r.max_per_receiver, r.window),
        )

    def admit(self, alert: Alert, receivers: Iterable[str], now: float) -> list[FatigueDecision]:
        """Decisions for one alert: a single suppress/hold, or one per receiver."""
        first = self.dedup.check(alert, now)
        if first.action != "send":
            return [first]
        if alert.state != "resolved":
            grouped = self.grouper.add(alert, now)
            if grouped.action != "send":
                return [grouped]
        return [self.limiter.check(r, alert, now) for r in receivers]
