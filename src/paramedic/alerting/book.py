"""The book of open alerts: what the pipeline keeps per alert, and the row it stores.

Each stage (intake, dispatch, summaries, answers, restart) reads and writes these tables;
keeping them in one place is what lets `forget` drop everything about an alert when it
resolves. Alert ids are a sender's choice (an Alertmanager webhook), so nothing kept per
alert may outlive it. `row` is the one shape an alert is stored in, so that whatever a
restart reloads (`restart.py`) is what each stage wrote.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from paramedic.alerting.codec import alert_to_data
from paramedic.alerting.model import Ack, Alert
from paramedic.core.clock import Clock
from paramedic.core.errors import AlertingError
from paramedic.store.outbox import AlertRow, OutboxStore

__all__ = ["AlertBook", "Hold", "Withheld", "ack_data"]

Withheld = tuple[str, tuple[str, ...], int]  # receiver, channels, escalation level
Snapshot = Callable[[str], dict[str, Any] | None]  # an alert's ladder, as stored


class Hold(NamedTuple):
    """What holds an alert back for everyone (a silence id, an inhibiting alert's id, a
    window's name, the alert it duplicates) and the sentence saying so. Judged again by
    `by` alone: a sentence that only says how long ago something happened is no news."""

    by: str
    reason: str


@dataclass(slots=True)
class AlertBook:
    """Every open alert and what is known about each one beyond the alert itself."""

    clock: Clock
    store: OutboxStore
    ladder_of: Snapshot
    alerts: dict[str, Alert] = field(default_factory=dict)
    # Wall time the alert was raised: a ladder reloaded on another boot is rebased on it.
    started_wall: dict[str, float] = field(default_factory=dict)
    # The receivers the route named, so the ladder's +0 rung does not page them twice.
    routed: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # Consecutive failed attempts per (alert, channel): the ladder acts on a failing channel.
    failures: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    # Open alerts nobody was paged for, and why: muted (silence, inhibition, maintenance,
    # a dependency down) or a duplicate of an alert still firing. `reevaluate_held` pages
    # each one whose reason has gone while it still fires.
    holding: dict[str, Hold] = field(default_factory=dict)
    # Rungs a mute (a silence added after the first page, a window) withheld from an alert
    # that was paged: paged by `reevaluate_held` once nothing mutes it (kept in its row).
    withheld: dict[str, list[Withheld]] = field(default_factory=dict)
    # Open summary -> the alerts it names: it resolves when the last of them has.
    summaries: dict[str, set[str]] = field(default_factory=dict)
    # The lapsed ack, in wall time (as stored in the alert's row and shown by the API),
    # until the next ack or the resolve.
    expired_acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Open alerts whose failure cleared while their incident's recovery is still open, and
    # the sentence why they still fire (kept in the row): they resolve with the incident.
    kept: dict[str, str] = field(default_factory=dict)

    def get(self, alert_id: str) -> Alert:
        alert = self.alerts.get(alert_id)
        if alert is None:
            msg = f"no open alert {alert_id!r}"
            raise AlertingError(msg)
        return alert

    def forget(self, alert_id: str, channels: Iterable[str]) -> None:
        """A resolved alert: drop what was kept for it (holds and acks are dropped as the
        resolve begins, its follow-ups still need the rest)."""
        del self.alerts[alert_id]
        self.started_wall.pop(alert_id, None)
        self.routed.pop(alert_id, None)
        self.kept.pop(alert_id, None)
        for channel in channels:
            self.failures.pop((alert_id, channel), None)

    async def save(self, alert: Alert) -> None:
        await self.store.put_alert(self.row(alert))

    def row(self, alert: Alert) -> AlertRow:
        now = self.clock.wall()
        return AlertRow(
            id=alert.id,
            incident=alert.incident,
            service=alert.labels.get("service"),
            severity=alert.severity,
            state=alert.state,
            opened_wall=alert.when_wall or now,
            updated_wall=now,
            data={
                "alert": alert_to_data(alert),
                "escalation": self.ladder_of(alert.id),
                "started_wall": self.started_wall.get(alert.id, now),
                "boot_id": self.clock.boot_id(),  # whether `escalation`'s mono is ours
                "withheld": [[r, list(c), lv] for r, c, lv in self.withheld.get(alert.id, ())],
                "held": hold.reason if (hold := self.holding.get(alert.id)) else None,
                "held_by": hold.by if hold else None,
                "ack_expired": self.expired_acks.get(alert.id),
                "members": sorted(self.summaries.get(alert.id, ())),
                "kept": self.kept.get(alert.id),
            },
        )


def ack_data(ack: Ack) -> dict[str, Any]:
    """An acknowledgement in wall time only (what a client can read)."""
    return {"by": ack.by, "why": ack.why, "at_wall": ack.at_wall, "expires_wall": ack.expires_wall}
