"""Delivery feedback: what the outbox's attempts mean for the alert they were about.

Counted for the metrics (by channel and outcome; latency to delivery); a channel that
keeps failing for an open alert is the ladder's business (`EscalationEngine.
channel_failed`: its backup channel first, then the next level), and its pages are sent at
once. A test page, or a summary of alerts all over already, is resolved in paramedic as it
is sent; where its trigger arrived it is resolved too, under the same dedup key, only once
the trigger was delivered: a resolve overtaking its trigger would be dropped by the provider
(a PagerDuty incident, an Alertmanager alert) and leave the incident open there.
"""

from __future__ import annotations

from collections import defaultdict

import structlog

from paramedic.alerting.book import AlertBook
from paramedic.alerting.channels.base import DeliveryResult
from paramedic.alerting.codec import alert_from_data
from paramedic.alerting.dispatch import Dispatch
from paramedic.alerting.escalation import EscalationEngine
from paramedic.alerting.notices import Notices
from paramedic.alerting.outbox import OutboxWorker
from paramedic.alerting.stats import AlertStats
from paramedic.core.clock import Clock
from paramedic.core.contracts import Job
from paramedic.store.outbox import NotificationRow, OutboxStore

__all__ = ["DeliveryFeedback"]

log = structlog.get_logger("paramedic.alerting")


class DeliveryFeedback:
    """The outbox's `on_result`: counts each attempt and acts on what it means."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: OutboxStore,
        book: AlertBook,
        escalation: EscalationEngine,
        dispatch: Dispatch,
        outbox: OutboxWorker,
        notices: Notices,
        stats: AlertStats,
        job: Job,
    ) -> None:
        self._clock = clock
        self._store = store
        self._book = book
        self._escalation = escalation
        self._dispatch = dispatch
        self._outbox = outbox
        self._notices = notices
        self._stats = stats
        self._job = job
        self.notifications_total: dict[tuple[str, str], int] = defaultdict(int)

    def delivered(self, row: NotificationRow, result: DeliveryResult, attempt: int) -> None:
        self.notifications_total[(row.channel, result.outcome)] += 1
        key = (row.alert_id, row.channel)
        book = self._book
        if result.outcome == "delivered":
            self._stats.delivered(row.channel, self._clock.wall() - row.created_wall)
            book.failures.pop(key, None)
            closed = row.alert_id.startswith(("test:", "summary:")) and (
                row.alert_id not in book.alerts
            )
            if row.action == "trigger" and closed:
                self._job(self._resolve_where_delivered(row))
            return
        if row.alert_id not in book.alerts:
            return  # closed (resolved, a test page): nothing left to escalate or count for
        book.failures[key] += 1
        if row.action == "trigger" and row.alert_id in self._escalation.levels():
            sentence, fired = self._escalation.channel_failed(
                row.alert_id, row.channel, book.failures[key]
            )
            self._dispatch.escalated(fired)
            if sentence:
                log.warning(
                    "channel failing", alert=row.alert_id, channel=row.channel, why=sentence
                )

    async def _resolve_where_delivered(self, trigger: NotificationRow) -> None:
        row = await self._store.get_alert(trigger.alert_id)
        if row is None or row.state != "resolved":
            return
        alert = alert_from_data(row.data["alert"])
        receiver = trigger.payload.get("labels", {}).get("receiver", "test")
        await self._outbox.submit(
            self._notices.rows(alert, "resolve", receiver, (trigger.channel,), 0)
        )
