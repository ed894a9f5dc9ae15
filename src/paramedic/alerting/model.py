"""The alert, and the label matchers every alerting rule is written in.

An alert is a value: each change (acknowledge, resolve, new status) makes a new one, so a
notification can carry exactly what was true when it was sent, and the store can keep that.
Matchers follow Alertmanager's syntax (`a=b`, `a!=b`, `a=~re`, `a!~re`, regexes anchored, a
missing label reads as "") because that is what on-call people already know.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from paramedic.detect.events import FailureDetected

__all__ = [
    "SEVERITIES",
    "Ack",
    "Alert",
    "AlertState",
    "MatchOp",
    "Matcher",
    "Severity",
    "alert_from_failure",
    "alert_id",
    "matches_all",
    "severity_rank",
]

Severity = Literal["P0", "P1", "P2", "P3"]
SEVERITIES: tuple[Severity, ...] = ("P0", "P1", "P2", "P3")
AlertState = Literal["firing", "acknowledged", "resolved"]
MatchOp = Literal["=", "!=", "=~", "!~"]

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


def severity_rank(severity: Severity) -> int:
    """0 for P0 (loudest) to 3 for P3, so `min` picks the more urgent of two."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label condition; regexes are anchored so `venue=~X` cannot match `XY` by accident."""

    label: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_regex", re.compile(self.value))
            except re.error as exc:
                msg = f"bad regex in matcher {self}: {exc}"
                raise ValueError(msg) from None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """`service=engine-1`, `kind!=crash`, `venue=~"NYSE|CME"`; ValueError says what's wrong."""
        found = _MATCHER.match(text)
        if found is None:
            msg = (
                f"{text!r} is not a matcher;"
                " write label=value, label!=value, label=~regex or label!~regex"
            )
            raise ValueError(msg)
        label, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        return cls(label, op, value)  # type: ignore[arg-type]

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        hit = self._regex.fullmatch(actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.label}{self.op}{self.value}"


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher holds; no matchers means "everything", as in Alertmanager."""
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """Who took the alert and why; `expires_mono` lets an ack lapse if nobody follows up.

    The ladder acts on the monotonic times; the wall times are what people and clients read
    (a monotonic reading means nothing outside this process)."""

    by: str
    why: str
    at_wall: float
    at_mono: float
    expires_mono: float | None = None
    expires_wall: float | None = None


def alert_id(incident: str, trigger: str) -> str:
    """Stable across restarts and retries, so channels can dedup (PagerDuty's dedup_key)."""
    return f"{incident}:{trigger}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert: its identity, its loudness, and the seed's eight things a person must read."""

    id: str
    type: str
    source: str
    severity: Severity
    title: str
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    what: str = ""
    when_wall: float = 0.0
    impact: str = ""
    status: str = ""
    actions: tuple[str, ...] = ()
    eta: str = ""
    runbook: str = ""
    dashboard: str = ""
    on_call: tuple[str, ...] = ()
    state: AlertState = "firing"
    ack: Ack | None = None
    severity_reason: str = ""
    incident: str | None = None

    def __post_init__(self) -> None:
        # a frozen alert must not share a mutable dict with its creator
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))

    @property
    def key(self) -> tuple[str, str]:
        """The dedup key of the seed's 2.6: same type from the same source is the same alert."""
        return (self.type, self.source)

    def all_labels(self) -> dict[str, str]:
        """Labels plus severity, type, source and state, for matchers and routing."""
        return {
            **self.labels,
            "severity": self.severity,
            "type": self.type,
            "source": self.source,
            "state": self.state,
        }

    def acknowledge(self, ack: Ack) -> Alert:
        return replace(self, state="acknowledged", ack=ack)

    def unacknowledge(self) -> Alert:
        return replace(self, state="firing", ack=None)

    def resolve(self, status: str = "") -> Alert:
        return replace(self, state="resolved", status=status or self.status)


def alert_from_failure(
    event: FailureDetected,
    severity: Severity,
    severity_reason: str,
    *,
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
    impact: str = "",
    runbook: str = "",
    dashboard: str = "",
    on_call: tuple[str, ...] = (),
) -> Alert:
    """The alert an incident opens with: the detector's sentence is the "What"."""
    service = event.service or event.source
    merged = {"service": service, "kind": event.failure_kind, **(labels or {})}
    return Alert(
        id=alert_id(event.incident, "failure"),
        type=event.failure_kind,
        source=service,
        severity=severity,
        title=title or f"{service} {event.failure_kind}",
        labels=merged,
        what=event.reason,
        when_wall=event.at.wall,
        impact=impact,
        status="human action needed" if event.needs_human else "recovery starting",
        runbook=runbook,
        dashboard=dashboard,
        on_call=on_call,
        severity_reason=severity_reason,
        incident=event.incident,
    )
