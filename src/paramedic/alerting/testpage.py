"""Test pages (seed 8.2: test pages regularly): proof that a page reaches the phone.

A test page goes where a real alert of that severity goes (or to one channel), never
escalates, and is resolved at once so nothing stays open. Where its trigger arrived (a
PagerDuty incident) it is resolved too, once delivered (`feedback.py`). A scheduled test page
that must be acknowledged (`test_pages.ack_within`) stays open instead, like any alert, until
someone acknowledges it through the API or CLI; its scheduler resolves it then.
"""

from __future__ import annotations

from collections.abc import Collection

from paramedic.alerting.book import AlertBook
from paramedic.alerting.events import AlertRaised
from paramedic.alerting.model import Alert
from paramedic.alerting.notices import Notices
from paramedic.alerting.outbox import OutboxWorker
from paramedic.alerting.routing import Router
from paramedic.core.clock import Clock
from paramedic.core.contracts import Submit
from paramedic.core.errors import AlertingError
from paramedic.core.ids import new_id
from paramedic.store.outbox import NotificationRow

__all__ = ["TestPager"]


class TestPager:
    """Sends one test page and stores it resolved."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(
        self,
        *,
        clock: Clock,
        book: AlertBook,
        router: Router,
        outbox: OutboxWorker,
        notices: Notices,
        channels: Collection[str],
        submit: Submit,
    ) -> None:
        self._clock = clock
        self._book = book
        self._router = router
        self._outbox = outbox
        self._notices = notices
        self._channels = channels
        self._submit = submit

    async def send(
        self,
        severity: str,
        *,
        channel: str | None,
        by: str,
        alert_id: str | None = None,
        keep_open: bool = False,
    ) -> Alert:
        """`alert_id`: a caller's id, so a retry after a crash finds the page it sent;
        `keep_open`: stays firing, in the book of open alerts, to be acknowledged."""
        if channel is not None and channel not in self._channels:
            msg = f"no channel named {channel!r}; configured: {', '.join(sorted(self._channels))}"
            raise AlertingError(msg)
        now = self._clock.now()
        answer = "Acknowledge it to prove you can answer." if keep_open else "No action needed."
        alert = Alert(
            id=alert_id or f"test:{new_id()}",
            type="test",
            source="paramedic",
            severity=severity,  # type: ignore[arg-type]
            title=f"[TEST] paramedic test page ({severity})",
            labels={"service": "paramedic", "test": "true"},
            what=f"A test page requested by {by}. {answer}",
            when_wall=now.wall,
            status="test",
            severity_reason="test page",
        )
        self._book.started_wall[alert.id] = now.wall
        if not keep_open:
            await self._book.save(alert)
        deliveries: list[tuple[str, tuple[str, ...]]]
        if channel is not None:
            deliveries = [("test", (channel,))]
        else:
            deliveries = [(d.receiver, d.channels) for d in self._router.route(alert.all_labels())]
        rows: list[NotificationRow] = []
        for receiver, channels in deliveries:
            rows += self._notices.rows(alert, "trigger", receiver, channels, 0)
        raised = AlertRaised(
            at=now,
            service="paramedic",
            alert_id=alert.id,
            severity=severity,
            title=alert.title,
            severity_reason="test page",
            receivers=tuple(r for r, _ in deliveries),
        )
        if keep_open:  # the open row and its pages in one commit: a crash keeps both or none
            self._book.alerts[alert.id] = alert
            await self._outbox.submit(rows, alert=self._book.row(alert))
            self._submit([raised])
            return alert
        self._submit([raised])
        await self._outbox.submit(rows)
        resolved = alert.resolve("test page sent")
        await self._book.save(resolved)
        del self._book.started_wall[alert.id]
        return resolved
