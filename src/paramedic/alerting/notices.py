"""Notification rows: what one receiver gets on each channel about one alert.

Every stage that tells someone something (a trigger, a rung, a summary, a test page, an
ack's or a resolve's follow-up) builds its rows here, so the idempotency key is spelt one
way: `<alert>:<action>:<receiver>:<channel>:<level>[:<repeat>]`. A retry, or a restart
building the same row again, carries the same key, and the provider drops the second page.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from paramedic.alerting.channels.base import Channel, Notification
from paramedic.alerting.model import Alert
from paramedic.alerting.outbox import notification_row
from paramedic.alerting.templates import AlertRenderer, TemplateKind
from paramedic.core.clock import Clock
from paramedic.core.ids import new_id
from paramedic.store.outbox import NotificationRow

__all__ = ["Notices"]

log = structlog.get_logger("paramedic.alerting")


class Notices:
    """Renders an alert once per template and builds one row per channel; a channel the
    config does not define goes to the log (said once, not on every page)."""

    def __init__(
        self, channels: Mapping[str, Channel], renderer: AlertRenderer, clock: Clock
    ) -> None:
        self._channels = channels
        self._renderer = renderer
        self._clock = clock
        self._missing: set[str] = set()

    def rows(
        self,
        alert: Alert,
        action: str,
        receiver: str,
        channels: tuple[str, ...],
        level: int,
        rendered: dict[TemplateKind, str] | None = None,
        *,
        repeat: str = "",
        thread: str = "",
        reference: str = "",
    ) -> list[NotificationRow]:
        """`rendered` is shared by the caller across receivers of the same alert; `thread`
        is the idempotency key of the message this one follows (a status update's trigger),
        for channels that thread replies (email's In-Reply-To); `reference` what the provider
        called that message (Slack's `ts`, for chat.update)."""
        now = self._clock.now()
        cache = {} if rendered is None else rendered

        def render(kind: TemplateKind) -> str:
            if kind not in cache:
                cache[kind] = self._renderer.render(alert, kind)
            return cache[kind]

        fields = _fields(alert)
        labels = {**alert.labels, "receiver": receiver, "severity": alert.severity}
        links = {k: v for k, v in (("runbook", alert.runbook), ("dashboard", alert.dashboard)) if v}
        rows = []
        for channel in channels:
            target = channel if channel in self._channels else "log"
            if target != channel and channel not in self._missing:
                self._missing.add(channel)
                log.warning("channel not configured; its pages go to the log", channel=channel)
            kind = getattr(self._channels.get(target), "kind", "log")
            notification = Notification(
                id=new_id("ntf_"),
                alert_id=alert.id,
                action=action,  # type: ignore[arg-type]
                severity=alert.severity,
                title=render("email_subject").strip(),
                body=render("slack" if kind in ("slack", "slack_bot") else "text"),
                fields=fields,
                labels=labels,
                idempotency_key=f"{alert.id}:{action}:{receiver}:{channel}:{level}"
                + (f":{repeat}" if repeat else ""),
                links=links,
                thread=thread,
                reference=reference,
            )
            rows.append(
                notification_row(
                    notification, channel=target, due_wall=now.wall, created_wall=now.wall
                )
            )
        return rows


def _fields(alert: Alert) -> dict[str, str]:
    return {
        "what": alert.what,
        "impact": alert.impact,
        "status": alert.status,
        "actions": "; ".join(alert.actions),
        "eta": alert.eta,
        "runbook": alert.runbook,
        "dashboard": alert.dashboard,
        "on_call": ", ".join(alert.on_call),
        "service": alert.labels.get("service", ""),
        "kind": alert.type,
    }
