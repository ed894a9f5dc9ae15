"""Escalation ladders: who is called next, and when, while nobody fixes it.

Two ladders run together per alert. `until: ack` steps (seed 2.5) pause while someone holds
an acknowledgement; the time spent acknowledged is added to their due times, so when an ack
expires the ladder resumes where it stood rather than dumping every overdue rung at once.
`until: resolve` steps (seed 7.2) count outage length and fire even when acknowledged: an
ack means "I'm on it", not "the CTO need not know we've been down an hour". `ack_bound`
covers the gap between: acknowledged but unresolved too long fires the next `ack` rung.

Each alert holds ONE timer, at its next due time on the monotonic clock (a wall-clock step
can neither fire nor cancel a page). All state is plain data (`snapshot`), with due times
relative to the alert's start, so after a crash `restore` puts every rung back at its
ORIGINAL time: rungs already fired stay fired, rungs that fell due while we were down fire
once, on restore.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import structlog

from paramedic.alerting.model import Ack, Alert
from paramedic.config.alerting import EscalationConfig, EscalationPolicyConfig
from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.errors import AlertingError
from paramedic.core.severity import Severity

__all__ = ["EscalationEngine", "EscalationPolicy", "EscalationStep", "Notify"]

log = structlog.get_logger("paramedic.escalation")
_EPS = 1e-9  # due times are recomputed with the same arithmetic; this only absorbs rounding


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationStep:
    """One rung; `reason` is filled in with why it fired when it is handed to `notify`."""

    name: str
    after: float
    contacts: tuple[str, ...]
    level: int
    channels: tuple[str, ...] = ()
    until: Literal["ack", "resolve"] = "ack"
    reason: str = ""
    repeat: str = ""  # set when a rung that fired is paged again (an ack lapsed): a new page


Notify = Callable[[Alert, EscalationStep], None]
AckExpired = Callable[[Alert, Ack], None]


def _reason(step: EscalationStep, late: float = 0.0) -> str:
    """Why a rung fired, for the page and the timeline."""
    reason = f"+{step.after / 60:g} min, " + (
        "still unresolved" if step.until == "resolve" else "no acknowledgement"
    )
    if late > 1.0:
        reason += f" (fired {late:.0f} s late, after a restart)"
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
class _State:
    alert: Alert
    policy: EscalationPolicy
    started: float
    fired: set[str] = field(default_factory=set)
    level: int = 0
    paused: float = 0.0
    bound_fired: bool = False
    escalated_channels: dict[str, int] = field(default_factory=dict)
    timer: TimerHandle | None = None

    def due(self, step: EscalationStep) -> float | None:
        """Monotonic due time, or None while an acknowledgement pauses this rung."""
        if step.until == "resolve":
            return self.started + step.after
        if self.alert.ack is not None:
            return None
        return self.started + step.after + self.paused

    def pending(self) -> list[EscalationStep]:
        return [s for s in self.policy.steps if s.name not in self.fired]


class EscalationEngine:
    """Runs the ladders of every open alert on an injected clock; `notify` does the sending."""

    def __init__(
        self,
        clock: Clock,
        notify: Notify,
        policies: Mapping[Severity, EscalationPolicy],
        *,
        ack_ttl: float = 1800.0,
        channel_failures: int = 3,
        backup_channels: Mapping[str, str] | None = None,
    ) -> None:
        self._clock = clock
        self._notify = notify
        self._policies = dict(policies)
        self._ack_ttl = ack_ttl
        self._channel_failures = channel_failures
        self._backup = dict(backup_channels or {})
        self._alerts: dict[str, _State] = {}
        # Told (alert now unacknowledged, the ack that lapsed) before the ladder pages again,
        # so the owner's copy of the alert, and what clients read, follow the ladder's state.
        self.on_ack_expired: AckExpired | None = None

    @classmethod
    def from_config(cls, clock: Clock, notify: Notify, cfg: EscalationConfig) -> EscalationEngine:
        policies = {sev: EscalationPolicy.from_config(p) for sev, p in cfg.policies.items()}
        return cls(
            clock,
            notify,
            policies,
            ack_ttl=cfg.ack_ttl,
            channel_failures=cfg.channel_failures,
            backup_channels=cfg.backup_channels,
        )

    # -- inputs ---------------------------------------------------------------------------

    def covers(self, severity: Severity) -> bool:
        """Whether alerts of this severity escalate at all (a config may leave one out)."""
        return severity in self._policies

    def start(self, alert: Alert) -> None:
        """Begin escalating now; rungs due at +0 are notified before this returns."""
        now = self._clock.monotonic()
        if alert.ack is not None:
            self.restore(alert, started_mono=now, level=0, fired=())
            return
        state = self._new_state(alert, now)
        # A fresh ladder (nothing fired, no ack, nothing paused) has each rung due at
        # start + after, and the steps are sorted by `after`: fire the +0 rungs in order and
        # set the one timer, without `_run`'s general reckoning (this is on the alert path).
        for step in state.policy.steps:
            if step.after > _EPS:
                break
            self._fire(state, step, _reason(step))
        self._schedule(state, now)

    def restore(
        self,
        alert: Alert,
        *,
        started_mono: float,
        level: int,
        fired: Iterable[str],
        paused_s: float = 0.0,
        bound_fired: bool = False,
        escalated_channels: Mapping[str, int] | None = None,
    ) -> None:
        """Rebuild one alert's ladder (after a crash) at its original due times.

        The acknowledgement, if any, travels on `alert.ack` (its `at_mono`/`expires_mono`
        on this clock). Rungs in `fired` never fire again; overdue rungs fire once, now.
        """
        state = self._new_state(alert, started_mono)
        state.fired.update(fired)
        state.level = level
        state.paused = paused_s
        state.bound_fired = bound_fired
        state.escalated_channels.update(escalated_channels or {})
        self._run(state)

    def _new_state(self, alert: Alert, started_mono: float) -> _State:
        if alert.id in self._alerts:
            msg = f"alert {alert.id} is already escalating"
            raise AlertingError(msg)
        policy = self._policies.get(alert.severity)
        if policy is None:
            msg = f"no escalation policy for severity {alert.severity}"
            raise AlertingError(msg)
        state = self._alerts[alert.id] = _State(alert=alert, policy=policy, started=started_mono)
        return state

    def restore_snapshot(self, alert: Alert, data: Mapping[str, Any]) -> None:
        """`restore` from one dict of `snapshot()`, with the alert as the store kept it."""
        started = float(data["started_mono"])
        ack = data.get("ack")
        if ack is not None:
            expires = ack["expires_rel"]
            alert = alert.acknowledge(
                Ack(
                    by=ack["by"],
                    why=ack["why"],
                    at_wall=ack["at_wall"],
                    at_mono=started + ack["since_rel"],
                    expires_mono=None if expires is None else started + expires,
                    expires_wall=ack.get("expires_wall"),
                )
            )
        self.restore(
            alert,
            started_mono=started,
            level=int(data["level"]),
            fired=data["fired"],
            paused_s=float(data["paused_s"]),
            bound_fired=bool(data["bound_fired"]),
            escalated_channels=data.get("escalated_channels"),
        )

    def acknowledge(self, alert_id: str, by: str, why: str, ttl: float | None = None) -> Alert:
        """Pause the `ack` rungs until resolved or until the ack expires (`ttl`, else ack_ttl)."""
        state = self._get(alert_id)
        self._lift_ack(state, self._clock.monotonic())
        state.alert = state.alert.acknowledge(self.new_ack(by, why, ttl))
        state.bound_fired = False
        self._run(state)
        return state.alert

    def new_ack(self, by: str, why: str, ttl: float | None = None) -> Ack:
        """An acknowledgement taken now, lapsing after `ttl` (else the configured ack_ttl)."""
        now = self._clock.now()
        ttl = self._ack_ttl if ttl is None else ttl
        return Ack(
            by=by,
            why=why,
            at_wall=now.wall,
            at_mono=now.mono,
            expires_mono=now.mono + ttl,
            expires_wall=now.wall + ttl,
        )

    def resolve(self, alert_id: str) -> Alert:
        """Stop escalating and forget the alert; returns it resolved."""
        state = self._get(alert_id)
        if state.timer is not None:
            state.timer.cancel()
        del self._alerts[alert_id]
        return state.alert.resolve()

    def channel_failed(self, alert_id: str, channel: str, consecutive_failures: int) -> str:
        """A channel keeps failing: first try its backup channel, then the next level.

        Acts at each multiple of `channel_failures`, so a caller may report every failure.
        Returns the sentence for the timeline.
        """
        state = self._get(alert_id)
        limit = self._channel_failures
        if consecutive_failures < limit or consecutive_failures % limit:
            return f"{channel}: {consecutive_failures} consecutive failures (acting at {limit})"
        rounds = state.escalated_channels.get(channel, 0)
        state.escalated_channels[channel] = rounds + 1
        why = f"{channel} failed {consecutive_failures} times in a row"
        backup = self._backup.get(channel)
        last = self._last_step_using(state, channel)
        if rounds == 0 and backup and backup != channel and last is not None:
            step = replace(last, channels=(backup,), reason=f"{why}: retrying via {backup}")
            self._send(state, step)
            return step.reason
        pending = state.pending()
        if not pending:
            return f"{why}: no higher level left to escalate to"
        nxt = min(pending, key=lambda s: (s.until != "ack", s.after))
        self._fire(state, nxt, f"{why}: escalating early to {nxt.name}")
        self._run(state)
        return f"{why}: escalated early to {nxt.name} (level {nxt.level})"

    # -- state for gauges and for crash recovery -------------------------------------------

    def level(self, alert_id: str) -> int:
        """Highest level notified so far (0 before the first rung), for a gauge."""
        return self._get(alert_id).level

    def next_rung(self, alert_id: str) -> tuple[EscalationStep, float] | None:
        """The next rung to fire and its monotonic due time (None: nothing left, or every
        rung left waits for an acknowledgement to lapse: see the ack's own expiry)."""
        state = self._alerts.get(alert_id)
        if state is None:
            return None
        dues = [(d, s) for s in state.pending() if (d := state.due(s)) is not None]
        if not dues:
            return None
        due, step = min(dues, key=lambda t: t[0])
        return step, due

    def levels(self) -> dict[str, int]:
        return {aid: s.level for aid, s in self._alerts.items()}

    def alert(self, alert_id: str) -> Alert:
        return self._get(alert_id).alert

    def snapshot(self) -> list[dict[str, Any]]:
        """Plain, JSON-ready state; times relative to each alert's start."""
        return [self._snapshot(aid, s) for aid, s in self._alerts.items()]

    def snapshot_of(self, alert_id: str) -> dict[str, Any] | None:
        """One alert's state (saving one alert must not serialise all of them)."""
        state = self._alerts.get(alert_id)
        return None if state is None else self._snapshot(alert_id, state)

    def _snapshot(self, aid: str, s: _State) -> dict[str, Any]:
        ack = s.alert.ack
        pending = [
            {"step": st.name, "due_rel": None if (d := s.due(st)) is None else d - s.started}
            for st in s.pending()
        ]
        return {
            "alert_id": aid,
            "severity": s.alert.severity,
            "started_mono": s.started,
            "level": s.level,
            "fired": sorted(s.fired),
            "paused_s": s.paused,
            "bound_fired": s.bound_fired,
            "escalated_channels": dict(s.escalated_channels),
            "ack": None
            if ack is None
            else {
                "by": ack.by,
                "why": ack.why,
                "at_wall": ack.at_wall,
                "since_rel": ack.at_mono - s.started,
                "expires_rel": None if ack.expires_mono is None else ack.expires_mono - s.started,
                "expires_wall": ack.expires_wall,
            },
            "pending": pending,
        }

    # -- the one timer ----------------------------------------------------------------------

    def _get(self, alert_id: str) -> _State:
        try:
            return self._alerts[alert_id]
        except KeyError:
            msg = f"alert {alert_id} is not escalating (resolved, or never started)"
            raise AlertingError(msg) from None

    def _run(self, state: _State) -> None:
        """Do everything due now, then set the single timer for the next due time."""
        now = self._clock.monotonic()
        ack = state.alert.ack
        if ack is not None and ack.expires_mono is not None and ack.expires_mono <= now + _EPS:
            self._lift_ack(state, ack.expires_mono)
            if self.on_ack_expired is not None:
                try:
                    self.on_ack_expired(state.alert, ack)
                except Exception:  # the page below matters more than the bookkeeping
                    log.exception("ack expiry hook failed", alert=state.alert.id)
            last = max(
                (s for s in state.policy.steps if s.name in state.fired and s.until == "ack"),
                key=lambda s: s.after,
                default=None,
            )
            if last is not None:
                # the same lapse gives the same tag, so a restart repeating it is a duplicate
                tag = f"ack-expired-{ack.expires_mono - state.started:.0f}"
                why = f"acknowledgement by {ack.by} expired"
                self._send(state, replace(last, reason=why, repeat=tag))
        ack = state.alert.ack
        bound = state.policy.ack_bound
        if (
            ack is not None
            and bound is not None
            and not state.bound_fired
            and ack.at_mono + bound <= now + _EPS
        ):
            state.bound_fired = True
            nxt = next((s for s in state.pending() if s.until == "ack"), None)
            if nxt is not None:
                reason = f"acknowledged by {ack.by} {bound / 60:g} min ago but not resolved"
                self._fire(state, nxt, reason)
        due_now = sorted(
            (
                (d, i, s)
                for i, s in enumerate(state.policy.steps)
                if s.name not in state.fired and (d := state.due(s)) is not None and d <= now + _EPS
            ),
            key=lambda t: (t[0], t[1]),
        )
        for due, _, step in due_now:
            self._fire(state, step, _reason(step, late=now - due))
        self._schedule(state, now)

    def _schedule(self, state: _State, now: float) -> None:
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        times = [d for s in state.pending() if (d := state.due(s)) is not None]
        ack = state.alert.ack
        if ack is not None:
            if ack.expires_mono is not None:
                times.append(ack.expires_mono)
            if state.policy.ack_bound is not None and not state.bound_fired:
                times.append(ack.at_mono + state.policy.ack_bound)
        if times:
            aid = state.alert.id
            state.timer = self._clock.call_later(max(0.0, min(times) - now), lambda: self._due(aid))

    def _due(self, alert_id: str) -> None:
        state = self._alerts.get(alert_id)
        if state is None:
            return
        state.timer = None
        try:
            self._run(state)
        except Exception:  # the edge of a timer tick: log and keep the ladder alive
            log.exception("escalation tick failed", alert=alert_id)

    def _lift_ack(self, state: _State, until: float) -> None:
        ack = state.alert.ack
        if ack is not None:
            state.paused += max(0.0, until - ack.at_mono)
            state.alert = state.alert.unacknowledge()

    def _fire(self, state: _State, step: EscalationStep, reason: str) -> None:
        state.fired.add(step.name)
        state.level = max(state.level, step.level)
        self._send(state, replace(step, reason=reason))

    def _send(self, state: _State, step: EscalationStep) -> None:
        try:
            self._notify(state.alert, step)
        except Exception:  # a failing sender must not stop the next rung
            log.exception("escalation notify failed", alert=state.alert.id, step=step.name)

    @staticmethod
    def _last_step_using(state: _State, channel: str) -> EscalationStep | None:
        fired = [s for s in state.policy.steps if s.name in state.fired]
        using = [s for s in fired if not s.channels or channel in s.channels]
        return using[-1] if using else (fired[-1] if fired else None)
