"""Summaries: what grouping and rate limits held back goes out as one page per group/receiver.

Held and rate-limited P2/P3 alerts are never dropped. A summary is itself an alert, firing
while any alert it names still fires: its receivers get a trigger (never a "RESOLVED" for
alerts that fire), then its resolve, under the same key, once the last of them has resolved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from paramedic.alerting.book import AlertBook
from paramedic.alerting.drill import drill_alert, drill_deliveries, drill_labels
from paramedic.alerting.events import AlertRaised
from paramedic.alerting.fatigue import FatiguePolicy
from paramedic.alerting.model import Alert
from paramedic.alerting.notices import Notices
from paramedic.alerting.outbox import OutboxWorker
from paramedic.alerting.routing import Router
from paramedic.config.alerting import ContactConfig
from paramedic.core.clock import Clock
from paramedic.core.contracts import Submit
from paramedic.core.ids import new_id
from paramedic.core.severity import severity_rank
from paramedic.store.outbox import NotificationRow

__all__ = ["Resolve", "Summaries"]

Resolve = Callable[[str, str, str], Awaitable[object]]  # alert id, by, why
_ALL_RESOLVED = "every alert it summarises has resolved"


class Summaries:
    """Sends the summaries that are due; resolves each once none of its alerts fires."""

    def __init__(
        self,
        *,
        clock: Clock,
        book: AlertBook,
        router: Router,
        fatigue: FatiguePolicy,
        contacts: Mapping[str, ContactConfig],
        outbox: OutboxWorker,
        notices: Notices,
        submit: Submit,
    ) -> None:
        self._clock = clock
        self._book = book
        self._router = router
        self._fatigue = fatigue
        self._contacts = contacts
        self._outbox = outbox
        self._notices = notices
        self._submit = submit

    async def flush(self) -> int:
        """Send what grouping and rate limits held back as one summary per group/receiver."""
        now = self._clock.now()
        sent = 0
        for group in self._fatigue.grouper.due(now.mono):
            first = group.alerts[0]
            routed = drill_deliveries(first, self._router.route(first.all_labels()), self._contacts)
            deliveries = [(d.receiver, d.channels) for d in routed]
            sent += await self._send(group.alerts, group.text, deliveries)
        for rate in self._fatigue.limiter.summaries(now.mono):
            known = self._contacts.get(rate.receiver)  # a contact (`Delivery.receiver`)
            channels = tuple(known.channels if known else ("log",))
            sent += await self._send(rate.alerts, rate.text, [(rate.receiver, channels)])
        return sent

    async def _send(
        self, alerts: tuple[Alert, ...], text: str, deliveries: list[tuple[str, tuple[str, ...]]]
    ) -> int:
        now = self._clock.now()
        book = self._book
        worst = min(alerts, key=lambda a: severity_rank(a.severity)).severity
        members = {a.id for a in alerts if a.id in book.alerts}
        summary = Alert(  # a drill's summary reads DRILL like the pages it stands for
            id=f"summary:{new_id()}",
            type="summary",
            source="paramedic",
            severity=worst,
            title=text if len(text) <= 120 else text[:117] + "...",
            labels={"summary": "true", **drill_labels(alerts)},
            what=text,
            when_wall=now.wall,
            status="summary of alerts held back to avoid noise",
            severity_reason="summary",
        )
        summary = drill_alert(summary)
        rows: list[NotificationRow] = []
        for receiver, channels in deliveries:
            rows += self._notices.rows(summary, "trigger", receiver, channels, 0)
        self._submit(
            [
                AlertRaised(
                    at=now,
                    service=_one_service(alerts),
                    alert_id=summary.id,
                    severity=worst,
                    title=summary.title,
                    severity_reason="summary",
                    receivers=tuple(r for r, _ in deliveries),
                )
            ]
        )
        if members:
            book.alerts[summary.id] = summary
            book.summaries[summary.id] = members
            stored = summary
        else:  # all over already: resolved where it arrives once it has arrived
            stored = summary.resolve(_ALL_RESOLVED)
        await self._outbox.submit(rows, alert=book.row(stored))
        return len(rows)

    async def member_resolved(self, alert_id: str, resolve: Resolve) -> None:
        """`alert_id` resolved: resolve (through `resolve`) each summary none of whose
        alerts fires any more."""
        summaries = self._book.summaries
        done = []
        for summary_id, members in summaries.items():
            members.discard(alert_id)
            if not members & self._book.alerts.keys():
                done.append(summary_id)
        for summary_id in done:
            # A summary's own resolve comes back here and may end another one of `done`.
            if summaries.pop(summary_id, None) is not None:
                await resolve(summary_id, "paramedic", _ALL_RESOLVED)


def _one_service(alerts: tuple[Alert, ...]) -> str | None:
    """The service a summary is about when all its alerts are one service's (it then shows
    on that service's timeline, and in the report of a drill of it), else None."""
    services = {a.labels.get("service") for a in alerts}
    return services.pop() if len(services) == 1 else None
