"""How loud: failure kind, incident state, service tier and labels -> P0..P3, with a reason.

First match wins, like a firewall: the rules read top to bottom as the policy, and the order
is the tie-break, so there is never a question of which of two rules applied. Every decision
carries one sentence naming the rule, for the timeline and the dashboard (Patroni's habit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from paramedic.config.alerting import SeverityRuleConfig
from paramedic.core.labels import Matcher, matches_all
from paramedic.core.severity import Severity

__all__ = ["SeverityDecision", "SeverityFacts", "SeverityPolicy", "SeverityRule"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SeverityFacts:
    """What is known when an alert is raised; `kind` is a failure kind or a trigger name."""

    kind: str
    service: str = ""
    state: str = ""
    tier: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    needs_human: bool = False
    upstream_down: int = 0


@dataclass(frozen=True, slots=True)
class SeverityDecision:
    severity: Severity
    reason: str
    rule: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SeverityRule:
    """Empty collections mean "any"; all given conditions must hold."""

    severity: Severity
    reason: str
    kinds: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()
    tiers: frozenset[int] = frozenset()
    matchers: tuple[Matcher, ...] = ()
    needs_human: bool | None = None
    min_upstream_down: int = 0

    @classmethod
    def from_config(cls, rule: SeverityRuleConfig) -> SeverityRule:
        return cls(
            severity=rule.severity,
            reason=rule.reason,
            kinds=frozenset(rule.kinds),
            states=frozenset(rule.states),
            tiers=frozenset(rule.tiers),
            matchers=tuple(Matcher.parse(m) for m in rule.labels),
            needs_human=rule.needs_human,
            min_upstream_down=rule.min_upstream_down,
        )

    def matches(self, facts: SeverityFacts) -> bool:
        if self.kinds and facts.kind not in self.kinds:
            return False
        if self.states and facts.state not in self.states:
            return False
        if self.tiers and facts.tier not in self.tiers:
            return False
        if self.needs_human is not None and facts.needs_human != self.needs_human:
            return False
        if facts.upstream_down < self.min_upstream_down:
            return False
        return matches_all(self.matchers, facts.labels)


class SeverityPolicy:
    """The ordered rules; with no match the alert is P3, never silently dropped."""

    def __init__(self, rules: Iterable[SeverityRule]) -> None:
        self._rules = tuple(rules)

    @classmethod
    def from_config(cls, rules: Iterable[SeverityRuleConfig]) -> SeverityPolicy:
        return cls(SeverityRule.from_config(r) for r in rules)

    def decide(self, facts: SeverityFacts) -> SeverityDecision:
        where = f"{facts.kind} on {facts.service}" if facts.service else facts.kind
        if facts.tier is not None:
            where += f" (tier {facts.tier})"
        for i, rule in enumerate(self._rules):
            if rule.matches(facts):
                return SeverityDecision(
                    rule.severity, f"{rule.severity}: {rule.reason}: {where}", i
                )
        return SeverityDecision("P3", f"P3: no severity rule matched: {where}", -1)
