"""The levels of escalation during recovery: the P0 policy's outage ladder as data.

One table says who is called at which outage length: the P0 escalation policy's +0 rung
(the on-call, paged by every trigger) and its `until: resolve` rungs (team lead at 15 min,
manager at 30, CTO at 60, CEO at 120 by default). Each level's page is routed to that
level's contacts alone, by a route put in front of the user's tree. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from paramedic.config.alerting import EscalationPolicyConfig, RouteConfig
from paramedic.core.severity import Severity, severity_rank

__all__ = [
    "ESCALATION_TYPE",
    "LEVEL_LABEL",
    "Level",
    "Levels",
    "escalation_route",
    "louder",
    "page_floor",
    "rule_kind",
]

ESCALATION_TYPE = "recovery_escalation"
"""The alert type of an escalation page: routed to its level's contacts, no ladder of its own
(the outage ladder is what chooses its levels)."""

LEVEL_LABEL = "escalation_level"
_P0_TRIGGERS = frozenset({"recovery_failed", "data_corruption", "validation_failed"})
# The severity rules name 3+ failed attempts by the failure kind they share with detection.
_RULE_KIND = {"repeated_failures": "repeated_recovery_failures"}


@dataclass(frozen=True, slots=True)
class Level:
    """One level of the outage ladder: reached at `after` seconds of outage."""

    name: str
    after: float
    number: int
    receivers: tuple[str, ...]

    def describe(self) -> str:
        return f"level {self.number} ({', '.join(self.receivers)})"


@dataclass(frozen=True, slots=True)
class Levels:
    """The on-call (paged by every trigger) and the levels above, by outage length."""

    on_call: Level | None = None
    ladder: tuple[Level, ...] = ()

    @classmethod
    def from_policy(cls, policy: EscalationPolicyConfig | None) -> Levels:
        """The P0 policy's +0 rungs (the on-call) and its `until: resolve` rungs."""
        if policy is None:
            return cls()
        first = [s for s in policy.steps if s.after <= 0]
        on_call = None
        if first:
            receivers = [r for s in first for r in _receivers(s.contacts, s.channels)]
            on_call = Level(first[0].name, 0.0, min(s.level for s in first), tuple(receivers))
        ladder = sorted(
            (s for s in policy.steps if s.until == "resolve" and s.after > 0),
            key=lambda s: s.after,
        )
        return cls(
            on_call,
            tuple(
                Level(s.name, s.after, s.level, tuple(_receivers(s.contacts, s.channels)))
                for s in ladder
            ),
        )

    def reached(self, elapsed: float) -> list[Level]:
        return [lv for lv in self.ladder if lv.after <= elapsed + 1e-9]

    def next_after(self, elapsed: float) -> Level | None:
        return next((lv for lv in self.ladder if lv.after > elapsed + 1e-9), None)


def _receivers(contacts: Iterable[str], channels: Iterable[str]) -> list[str]:
    chans = list(channels)
    return [f"{c}:{ch}" for c in contacts for ch in chans] if chans else list(contacts)


def escalation_route(root: RouteConfig, levels: Levels) -> RouteConfig:
    """The route tree with one route per level first: a level's page goes to its contacts
    alone; every other alert walks `root` as before. No levels: `root` unchanged."""
    every = [lv for lv in (levels.on_call, *levels.ladder) if lv is not None]
    if not every:
        return root
    pages = [
        RouteConfig(
            matchers=[f"type={ESCALATION_TYPE}", f"{LEVEL_LABEL}={lv.name}"],
            receivers=list(lv.receivers),
        )
        for lv in every
    ]
    return RouteConfig(routes=[*pages, root])


def page_floor(trigger: str, manual: bool) -> Severity:
    """The least severity a trigger pages at: P0 when the recovery failed, data is corrupt,
    a critical check failed or the recovery ended in manual recovery; P1 otherwise."""
    return "P0" if manual or trigger in _P0_TRIGGERS else "P1"


def rule_kind(trigger: str) -> str:
    """The kind the severity rules know a trigger by."""
    return _RULE_KIND.get(trigger, trigger)


def louder(a: Severity, b: Severity) -> Severity:
    return a if severity_rank(a) <= severity_rank(b) else b
