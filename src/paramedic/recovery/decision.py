"""Which recovery method, and why: the seed's 6.2 logic and 6.4 flowchart as one pure function.

Like Patroni's HA loop, every decision carries one plain sentence (`warm restart: checkpoint
41 s old; standby not synced (lag 3.2 s)`) that is logged, stored on the incident timeline and
shown on the dashboard, so nobody has to reverse-engineer why paramedic did what it did.

One deliberate departure from the seed's code order: data corruption and repeated failures are
checked *before* the hot and warm branches. The seed's own criteria (6.1) ask for "all data
intact" before any automated recovery and send "multiple failures" to a human; checked last, a
synced standby would happily take over replicated corruption, and a fourth automatic attempt
would follow three failed ones. Volatility keeps the seed's place: it only vetoes a cold restart
(a slow rebuild from nothing), not a fast switch to a synced standby or a recent checkpoint.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from paramedic.config.recovery_policy import ApprovalRequire, DecisionThresholds, Method
from paramedic.core.failures import FAILURE_KINDS
from paramedic.core.text import duration
from paramedic.recovery.approval import needs_approval

__all__ = ["METHOD_ORDER", "Decision", "DecisionInput", "decide", "fallback_chain"]

METHOD_ORDER: tuple[Method, ...] = ("hot", "warm", "cold", "manual")
"""Fastest and least disruptive first; a fallback only ever moves right."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionInput:
    """What the decision looks at, gathered by the caller at one instant.

    `checkpoint_age_s` is None when there is no checkpoint; volatility figures are None when
    no market data is wired in (then volatility cannot veto anything); `volatility_unknown`
    says a configured volatility check could not be read, which vetoes a cold restart as a
    hot market would. `methods` lists the
    automatic methods this service has configured; manual is always possible.
    `recent_failures` counts the failures of the service in the window, this one included,
    whether their recoveries worked or not (seed 6.1: "multiple failures" go to a human).
    """

    failure_kind: str
    backup_available: bool = False
    backup_synced: bool = False
    backup_lag_s: float | None = None
    checkpoint_age_s: float | None = None
    data_corruption: bool = False
    recent_failures: int = 0
    volatility_current: float | None = None
    volatility_average: float | None = None
    volatility_unknown: bool = False
    market_open: bool = True
    methods: frozenset[Method] = frozenset({"hot", "warm", "cold"})
    service: str = "the service"


@dataclass(frozen=True, slots=True)
class Decision:
    """The chosen method, whether a human must approve it, the sentence, and what comes next."""

    method: Method
    requires_approval: bool
    sentence: str
    fallback_chain: tuple[Method, ...]


def decide(
    inp: DecisionInput, thresholds: DecisionThresholds, require: ApprovalRequire
) -> Decision:
    """Choose a method for one incident; the same inputs always give the same decision."""
    method, sentence = _choose(inp, thresholds)
    return Decision(
        method=method,
        requires_approval=needs_approval(method, inp.market_open, require),
        sentence=sentence,
        fallback_chain=fallback_chain(method, inp.methods),
    )


def fallback_chain(method: Method, configured: Collection[Method]) -> tuple[Method, ...]:
    """The chosen method and every configured slower one after it, ending with manual."""
    start = METHOD_ORDER.index(method)
    chain = [m for m in METHOD_ORDER[start:] if m == "manual" or m in configured]
    return tuple(chain)


def _choose(inp: DecisionInput, t: DecisionThresholds) -> tuple[Method, str]:
    if inp.failure_kind not in FAILURE_KINDS:
        return "manual", f"manual: unknown failure cause ({inp.failure_kind or 'none given'})"
    if inp.data_corruption:
        return "manual", "manual: data corruption detected"
    if inp.recent_failures >= t.failures_limit:
        window = duration(t.failures_window)
        return "manual", f"manual: {inp.recent_failures} failures of {inp.service} in {window}"

    standby = _standby(inp)
    if inp.backup_available and inp.backup_synced and "hot" in inp.methods:
        return "hot", f"hot restart: {standby}"
    why_not_hot = standby if "hot" in inp.methods else "hot restart not configured"

    checkpoint = _checkpoint(inp.checkpoint_age_s, t.checkpoint_max_age)
    recent = inp.checkpoint_age_s is not None and inp.checkpoint_age_s < t.checkpoint_max_age
    if recent and "warm" in inp.methods:
        return "warm", f"warm restart: {checkpoint}; {why_not_hot}"
    why_not_warm = checkpoint if "warm" in inp.methods else "warm restart not configured"

    ratio = _volatility_ratio(inp)
    if ratio is not None and ratio > t.volatility_ratio:
        return "manual", f"manual: volatility {ratio:.1f}x average (limit {t.volatility_ratio:g}x)"
    if inp.volatility_unknown and "cold" in inp.methods:
        return (
            "manual",
            f"manual: volatility unknown, a cold restart waits for a human; {why_not_warm}",
        )
    if "cold" in inp.methods:
        return "cold", f"cold restart: {why_not_warm}; {why_not_hot}"
    return "manual", f"manual: no automatic method applies ({why_not_warm}; {why_not_hot})"


def _standby(inp: DecisionInput) -> str:
    if not inp.backup_available:
        return "no standby available"
    lag = "" if inp.backup_lag_s is None else f" (lag {duration(inp.backup_lag_s)})"
    return f"standby synced{lag}" if inp.backup_synced else f"standby not synced{lag}"


def _checkpoint(age: float | None, limit: float) -> str:
    if age is None:
        return "no checkpoint"
    if age < limit:
        return f"checkpoint {duration(age)} old"
    return f"checkpoint {duration(age)} old (limit {duration(limit)})"


def _volatility_ratio(inp: DecisionInput) -> float | None:
    if inp.volatility_current is None or not inp.volatility_average:
        return None  # no data, or a zero average that would make every tick "infinitely" volatile
    return inp.volatility_current / inp.volatility_average
