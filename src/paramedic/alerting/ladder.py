"""One alert's escalation ladder as plain data: which rungs are due, and what firing them pages.

Two ladders run together per alert. `until: ack` steps (seed 2.5) pause while someone holds
an acknowledgement; the time spent acknowledged is added to their due times, so when an ack
expires the ladder resumes where it stood rather than dumping every overdue rung at once.
`until: resolve` steps (seed 7.2) count outage length and fire even when acknowledged: an
ack means "I'm on it", not "the CTO need not know we've been down an hour". `ack_bound`
covers the gap between: acknowledged but unresolved too long fires the next `ack` rung.

Nothing here sets a timer or sends anything: `Ladder.run(now)` returns what is due (`Page`s
to send, an `AckLapsed` to record) and `wake_at()` the next time to look, so the timer
(`escalation.py`) and whoever sends the pages decide when and how. Due times are relative
to the alert's start, so a ladder rebuilt after a crash keeps its ORIGINAL times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

from paramedic.alerting.model import Ack, Alert
from paramedic.config.alerting import EscalationPolicyConfig
from paramedic.core.text import duration

__all__ = [
    "AckLapsed",
    "Due",
    "EscalationPolicy",
    "EscalationStep",
    "Ladder",
    "Page",
    "acked_from_snapshot",
    "step_reason",
]

_EPS = 1e-9  # due times are recomputed with the same arithmetic; this only absorbs rounding


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationStep:
    """One rung; `reason` is filled in with why it fired when it is handed out in a `Page`."""

    name: str
    after: float
    contacts: tuple[str, ...]
    level: int
    channels: tuple[str, ...] = ()
    until: Literal["ack", "resolve"] = "ack"
    reason: str = ""
    repeat: str = ""  # set when a rung that fired is paged again (an ack lapsed): a new page


class Page(NamedTuple):
    """A rung that fired: page its contacts about `alert` now."""

    alert: Alert
    step: EscalationStep


class AckLapsed(NamedTuple):
    """An acknowledgement ran out (`alert` is now unacknowledged): the owner's copy of the
    alert, and what clients read, must follow before the ladder pages again."""

    alert: Alert
    ack: Ack


Due = Page | AckLapsed


def step_reason(step: EscalationStep, late: float = 0.0) -> str:
    """Why a rung fired, for the page and the timeline."""
    reason = f"+{duration(step.after)}, " + (
        "still unresolved" if step.until == "resolve" else "no acknowledgement"
    )
    if late > 1.0:
        reason += f" (fired {duration(late)} late, after a restart)"
    return reason


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    steps: tuple[EscalationStep, ...]
    ack_bound: float | None = None

    @classmethod
    def from_config(cls, cfg: EscalationPolicyConfig) -> EscalationPolicy:
        steps = tuple(
            EscalationStep(
                name=s.name,
                after=s.after,
                contacts=tuple(s.contacts),
                level=s.level,
                channels=tuple(s.channels),
                until=s.until,
            )
            for s in cfg.steps
        )
        return cls(tuple(sorted(steps, key=lambda s: s.after)), cfg.ack_bound)


@dataclass(slots=True)
class Ladder:
    """One alert's rungs, what fired, and the time an acknowledgement paused them; all times
    on the monotonic clock, so a wall-clock step can neither fire nor cancel a page."""

    alert: Alert
    policy: EscalationPolicy
    started: float
    fired: set[str] = field(default_factory=set)
    level: int = 0
    paused: float = 0.0
    bound_fired: bool = False
    escalated_channels: dict[str, int] = field(default_factory=dict)

    def due(self, step: EscalationStep) -> float | None:
        """Monotonic due time, or None while an acknowledgement pauses this rung."""
        if step.until == "resolve":
            return self.started + step.after
        if self.alert.ack is not None:
            return None
        return self.started + step.after + self.paused

    def pending(self) -> list[EscalationStep]:
        return [s for s in self.policy.steps if s.name not in self.fired]

    def start(self) -> list[Due]:
        """A fresh ladder (nothing fired, no ack, nothing paused) has each rung due at
        start + after, and the steps are sorted by `after`: the +0 rungs, in order, without
        `run`'s general reckoning (this is on the alert path)."""
        pages: list[Due] = []
        for step in self.policy.steps:
            if step.after > _EPS:
                break
            pages.append(self.fire(step, step_reason(step)))
        return pages

    def run(self, now: float) -> list[Due]:
        """Everything due at `now`, in the order it happened: a lapsed ack (and the rung it
        pages again), the ack bound, then the rungs by due time."""
        out: list[Due] = []
        ack = self.alert.ack
        if ack is not None and ack.expires_mono is not None and ack.expires_mono <= now + _EPS:
            self.lift_ack(ack.expires_mono)
            out.append(AckLapsed(self.alert, ack))
            last = max(
                (s for s in self.policy.steps if s.name in self.fired and s.until == "ack"),
                key=lambda s: s.after,
                default=None,
            )
            if last is not None:
                # the same lapse gives the same tag, so a restart repeating it is a duplicate
                tag = f"ack-expired-{ack.expires_mono - self.started:.0f}"
                why = f"acknowledgement by {ack.by} expired"
                out.append(Page(self.alert, replace(last, reason=why, repeat=tag)))
        ack = self.alert.ack
        bound = self.policy.ack_bound
        if (
            ack is not None
            and bound is not None
            and not self.bound_fired
            and ack.at_mono + bound <= now + _EPS
        ):
            self.bound_fired = True
            nxt = next((s for s in self.pending() if s.until == "ack"), None)
            if nxt is not None:
                reason = f"acknowledged by {ack.by} {duration(bound)} ago but not resolved"
                out.append(self.fire(nxt, reason))
        due_now = sorted(
            (
                (d, i, s)
                for i, s in enumerate(self.policy.steps)
                if s.name not in self.fired and (d := self.due(s)) is not None and d <= now + _EPS
            ),
            key=lambda t: (t[0], t[1]),
        )
        for due, _, step in due_now:
            out.append(self.fire(step, step_reason(step, late=now - due)))
        return out

    def wake_at(self) -> float | None:
        """When `run` next has something to do (a rung, an ack's expiry or bound)."""
        times = [d for s in self.pending() if (d := self.due(s)) is not None]
        ack = self.alert.ack
        if ack is not None:
            if ack.expires_mono is not None:
                times.append(ack.expires_mono)
            if self.policy.ack_bound is not None and not self.bound_fired:
                times.append(ack.at_mono + self.policy.ack_bound)
        return min(times) if times else None

    def next_rung(self) -> tuple[EscalationStep, float] | None:
        """The next rung to fire and its monotonic due time (None: nothing left, or every
        rung left waits for an acknowledgement to lapse: see the ack's own expiry)."""
        dues = [(d, s) for s in self.pending() if (d := self.due(s)) is not None]
        if not dues:
            return None
        due, step = min(dues, key=lambda t: t[0])
        return step, due

    def lift_ack(self, until: float) -> None:
        ack = self.alert.ack
        if ack is not None:
            self.paused += max(0.0, until - ack.at_mono)
            self.alert = self.alert.unacknowledge()

    def fire(self, step: EscalationStep, reason: str) -> Page:
        self.fired.add(step.name)
        self.level = max(self.level, step.level)
        return Page(self.alert, replace(step, reason=reason))

    def last_step_using(self, channel: str) -> EscalationStep | None:
        fired = [s for s in self.policy.steps if s.name in self.fired]
        using = [s for s in fired if not s.channels or channel in s.channels]
        return using[-1] if using else (fired[-1] if fired else None)

    def snapshot(self) -> dict[str, Any]:
        """Plain, JSON-ready state; times relative to the alert's start."""
        ack = self.alert.ack
        pending = [
            {"step": st.name, "due_rel": None if (d := self.due(st)) is None else d - self.started}
            for st in self.pending()
        ]
        return {
            "alert_id": self.alert.id,
            "severity": self.alert.severity,
            "started_mono": self.started,
            "level": self.level,
            "fired": sorted(self.fired),
            "paused_s": self.paused,
            "bound_fired": self.bound_fired,
            "escalated_channels": dict(self.escalated_channels),
            "ack": None
            if ack is None
            else {
                "by": ack.by,
                "why": ack.why,
                "at_wall": ack.at_wall,
                "since_rel": ack.at_mono - self.started,
                "expires_rel": None
                if ack.expires_mono is None
                else ack.expires_mono - self.started,
                "expires_wall": ack.expires_wall,
            },
            "pending": pending,
        }


def acked_from_snapshot(alert: Alert, data: Mapping[str, Any]) -> Alert:
    """The alert with the acknowledgement a `snapshot` kept (its times on this clock)."""
    ack = data.get("ack")
    if ack is None:
        return alert
    started = float(data["started_mono"])
    expires = ack["expires_rel"]
    return alert.acknowledge(
        Ack(
            by=ack["by"],
            why=ack["why"],
            at_wall=ack["at_wall"],
            at_mono=started + ack["since_rel"],
            expires_mono=None if expires is None else started + expires,
            expires_wall=ack.get("expires_wall"),
        )
    )
