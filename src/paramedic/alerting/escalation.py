"""Escalation: who is called next, and when, while nobody fixes it; the ladders' one timer.

The rungs themselves are plain data (`ladder.py`). This holds every open alert's ladder and
ONE timer per alert, at its next due time on the monotonic clock (a wall-clock step can
neither fire nor cancel a page). A call that makes rungs due now (`start`, `restore`,
`acknowledge`, `channel_failed`) returns them to its caller, who sends them in its own
commit; only what falls due on the timer is handed to `on_due`. So the alert path never
re-enters its caller, and what a rung pages is in the store with the ladder that says it
fired. After a crash `restore` puts every rung back at its ORIGINAL time: rungs already
fired stay fired, rungs that fell due while we were down fire once, on restore.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import structlog

from paramedic.alerting.ladder import (
    Due,
    EscalationPolicy,
    EscalationStep,
    Ladder,
    Page,
    acked_from_snapshot,
)
from paramedic.alerting.model import Ack, Alert
from paramedic.config.alerting import EscalationConfig
from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.errors import AlertingError
from paramedic.core.severity import Severity

__all__ = ["EscalationEngine", "OnDue"]

log = structlog.get_logger("paramedic.escalation")

OnDue = Callable[[list[Due]], None]


class EscalationEngine:
    """Runs the ladders of every open alert on an injected clock; `on_due` is told what the
    timer made due (pages, lapsed acks), in order."""

    def __init__(
        self,
        clock: Clock,
        on_due: OnDue,
        policies: Mapping[Severity, EscalationPolicy],
        *,
        ack_ttl: float = 1800.0,
        channel_failures: int = 3,
        backup_channels: Mapping[str, str] | None = None,
    ) -> None:
        self._clock = clock
        self._on_due = on_due
        self._policies = dict(policies)
        self._ack_ttl = ack_ttl
        self._channel_failures = channel_failures
        self._backup = dict(backup_channels or {})
        self._ladders: dict[str, Ladder] = {}
        self._timers: dict[str, TimerHandle] = {}

    @classmethod
    def from_config(cls, clock: Clock, on_due: OnDue, cfg: EscalationConfig) -> EscalationEngine:
        policies = {sev: EscalationPolicy.from_config(p) for sev, p in cfg.policies.items()}
        return cls(
            clock,
            on_due,
            policies,
            ack_ttl=cfg.ack_ttl,
            channel_failures=cfg.channel_failures,
            backup_channels=cfg.backup_channels,
        )

    # -- inputs ---------------------------------------------------------------------------

    def covers(self, severity: Severity) -> bool:
        """Whether alerts of this severity escalate at all (a config may leave one out)."""
        return severity in self._policies

    def start(self, alert: Alert) -> list[Due]:
        """Begin escalating now; returns the rungs due at +0, for the caller to send."""
        now = self._clock.monotonic()
        if alert.ack is not None:
            return self.restore(alert, started_mono=now, level=0, fired=())
        ladder = self._new_ladder(alert, now)
        fired = ladder.start()
        self._schedule(ladder, now)
        return fired

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
    ) -> list[Due]:
        """Rebuild one alert's ladder (after a crash) at its original due times.

        The acknowledgement, if any, travels on `alert.ack` (its `at_mono`/`expires_mono`
        on this clock). Rungs in `fired` never fire again; overdue rungs are returned, to be
        sent once, now.
        """
        ladder = self._new_ladder(alert, started_mono)
        ladder.fired.update(fired)
        ladder.level = level
        ladder.paused = paused_s
        ladder.bound_fired = bound_fired
        ladder.escalated_channels.update(escalated_channels or {})
        return self._run(ladder)

    def _new_ladder(self, alert: Alert, started_mono: float) -> Ladder:
        if alert.id in self._ladders:
            msg = f"alert {alert.id} is already escalating"
            raise AlertingError(msg)
        policy = self._policies.get(alert.severity)
        if policy is None:
            msg = f"no escalation policy for severity {alert.severity}"
            raise AlertingError(msg)
        ladder = self._ladders[alert.id] = Ladder(alert=alert, policy=policy, started=started_mono)
        return ladder

    def restore_snapshot(self, alert: Alert, data: Mapping[str, Any]) -> list[Due]:
        """`restore` from one dict of `snapshot()`, with the alert as the store kept it."""
        return self.restore(
            acked_from_snapshot(alert, data),
            started_mono=float(data["started_mono"]),
            level=int(data["level"]),
            fired=data["fired"],
            paused_s=float(data["paused_s"]),
            bound_fired=bool(data["bound_fired"]),
            escalated_channels=data.get("escalated_channels"),
        )

    def acknowledge(
        self, alert_id: str, by: str, why: str, ttl: float | None = None
    ) -> tuple[Alert, list[Due]]:
        """Pause the `ack` rungs until resolved or until the ack expires (`ttl`, else ack_ttl).
        Returns the alert as the ladder now holds it, and anything due at once."""
        ladder = self._get(alert_id)
        ladder.lift_ack(self._clock.monotonic())
        ladder.alert = ladder.alert.acknowledge(self.new_ack(by, why, ttl))
        ladder.bound_fired = False
        fired = self._run(ladder)
        return ladder.alert, fired

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
        ladder = self._get(alert_id)
        timer = self._timers.pop(alert_id, None)
        if timer is not None:
            timer.cancel()
        del self._ladders[alert_id]
        return ladder.alert.resolve()

    def channel_failed(
        self, alert_id: str, channel: str, consecutive_failures: int
    ) -> tuple[str, list[Due]]:
        """A channel keeps failing: first try its backup channel, then the next level.

        Acts at each multiple of `channel_failures`, so a caller may report every failure.
        Returns the sentence for the timeline and the pages to send now.
        """
        ladder = self._get(alert_id)
        limit = self._channel_failures
        if consecutive_failures < limit or consecutive_failures % limit:
            sentence = f"{channel}: {consecutive_failures} consecutive failures (acting at {limit})"
            return sentence, []
        rounds = ladder.escalated_channels.get(channel, 0)
        ladder.escalated_channels[channel] = rounds + 1
        why = f"{channel} failed {consecutive_failures} times in a row"
        backup = self._backup.get(channel)
        last = ladder.last_step_using(channel)
        if rounds == 0 and backup and backup != channel and last is not None:
            step = replace(last, channels=(backup,), reason=f"{why}: retrying via {backup}")
            return step.reason, [Page(ladder.alert, step)]  # a resend: nothing newly fired
        pending = ladder.pending()
        if not pending:
            return f"{why}: no higher level left to escalate to", []
        nxt = min(pending, key=lambda s: (s.until != "ack", s.after))
        fired: list[Due] = [ladder.fire(nxt, f"{why}: escalating early to {nxt.name}")]
        fired += self._run(ladder)
        return f"{why}: escalated early to {nxt.name} (level {nxt.level})", fired

    # -- state for gauges and for crash recovery -------------------------------------------

    def level(self, alert_id: str) -> int:
        """Highest level notified so far (0 before the first rung), for a gauge."""
        return self._get(alert_id).level

    def next_rung(self, alert_id: str) -> tuple[EscalationStep, float] | None:
        """The next rung to fire and its monotonic due time (None: nothing left, or every
        rung left waits for an acknowledgement to lapse: see the ack's own expiry)."""
        ladder = self._ladders.get(alert_id)
        return None if ladder is None else ladder.next_rung()

    def levels(self) -> dict[str, int]:
        return {aid: ladder.level for aid, ladder in self._ladders.items()}

    def alert(self, alert_id: str) -> Alert:
        return self._get(alert_id).alert

    def snapshot(self) -> list[dict[str, Any]]:
        """Plain, JSON-ready state; times relative to each alert's start."""
        return [ladder.snapshot() for ladder in self._ladders.values()]

    def snapshot_of(self, alert_id: str) -> dict[str, Any] | None:
        """One alert's state (saving one alert must not serialise all of them)."""
        ladder = self._ladders.get(alert_id)
        return None if ladder is None else ladder.snapshot()

    # -- the one timer ----------------------------------------------------------------------

    def _get(self, alert_id: str) -> Ladder:
        try:
            return self._ladders[alert_id]
        except KeyError:
            msg = f"alert {alert_id} is not escalating (resolved, or never started)"
            raise AlertingError(msg) from None

    def _run(self, ladder: Ladder) -> list[Due]:
        """Take everything due now, then set the single timer for the next due time."""
        now = self._clock.monotonic()
        fired = ladder.run(now)
        self._schedule(ladder, now)
        return fired

    def _schedule(self, ladder: Ladder, now: float) -> None:
        aid = ladder.alert.id
        timer = self._timers.pop(aid, None)
        if timer is not None:
            timer.cancel()
        wake = ladder.wake_at()
        if wake is not None:
            self._timers[aid] = self._clock.call_later(max(0.0, wake - now), lambda: self._due(aid))

    def _due(self, alert_id: str) -> None:
        ladder = self._ladders.get(alert_id)
        if ladder is None:
            return
        self._timers.pop(alert_id, None)
        try:
            self._on_due(self._run(ladder))
        except Exception:  # the edge of a timer tick: log and keep the ladder alive
            log.exception("escalation tick failed", alert=alert_id)
