"""Held alerts released: the one place that pages what a mute or a duplicate held back.

Something that held alerts back is gone: an inhibiting or depended-on alert resolved, the
alert a duplicate was held for resolved, a silence expired or was deleted, a maintenance
window ended. Every held alert is then judged again as if it were raised now (`Dispatch.
admit`), and every rung a mute withheld from a paged alert is paged under the idempotency
key it would have had. Silences and windows end by the calendar, not by an event: `sweep`
is the look, every second, that notices.

An alert held by another alert (an inhibition, a dependency down) that resolves while still
held is told to the receivers that were paged for that cause (`resolve_targets`): they hear
that the dependent is back too, in a resolve that says it was never paged. A
silence, a window or a duplicate holds its resolve as it held the trigger.
"""

from __future__ import annotations

from paramedic.alerting.book import AlertBook, Hold
from paramedic.alerting.dispatch import Commit, Dispatch
from paramedic.alerting.events import AlertReleased
from paramedic.alerting.model import Alert
from paramedic.alerting.notices import Notices
from paramedic.alerting.outbox import OutboxWorker
from paramedic.alerting.routing import Router
from paramedic.alerting.silences import Muter
from paramedic.alerting.stats import held_reason
from paramedic.core.clock import Clock
from paramedic.core.contracts import Submit
from paramedic.store.outbox import NotificationRow, OutboxStore

__all__ = ["HeldAlerts"]


class HeldAlerts:
    """Judges held alerts and withheld rungs again, and pages those no longer held."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: OutboxStore,
        book: AlertBook,
        router: Router,
        muter: Muter,
        dispatch: Dispatch,
        outbox: OutboxWorker,
        notices: Notices,
        submit: Submit,
    ) -> None:
        self._clock = clock
        self._store = store
        self._book = book
        self._router = router
        self._muter = muter
        self._dispatch = dispatch
        self._outbox = outbox
        self._notices = notices
        self._submit = submit

    async def resolve_targets(self, alert: Alert, hold: Hold) -> list[tuple[str, tuple[str, ...]]]:
        """Who hears that an alert held for everyone resolved: the receivers, on the channels,
        that were paged for the alert that held it (an inhibition, a dependency down): they
        are working the cause and want to know its dependents are back. None when a silence,
        a window or a duplicate held it, or when the cause was itself held (nobody was told
        of either)."""
        cause = self._book.alerts.get(hold.by)
        if cause is None or held_reason(hold.reason) == "dedup":
            return []
        paged: dict[str, list[str]] = {}
        for row in await self._store.notifications_for(cause.id):
            if row.action == "trigger":
                receiver = row.payload["labels"].get("receiver", "")
                paged.setdefault(receiver, []).append(row.channel)
        return [(receiver, tuple(dict.fromkeys(ch))) for receiver, ch in sorted(paged.items())]

    async def sweep(self) -> int:
        """Forget the silences past their end; page what a mute that ended by the clock held
        (alerts held for everyone and rungs withheld from paged ones); nothing is judged again
        while nothing is held. Returns how many alerts were paged."""
        ended = self._muter.drop_ended(self._clock.wall())
        if not (self._book.holding or self._book.withheld):
            return 0
        return await self.reevaluate(f"silence {', '.join(ended)} ended" if ended else "")

    async def reevaluate(self, why: str = "") -> int:
        """Page every held alert that still fires and is no longer held; returns how many.

        Each held alert is judged again as if it were raised now (silences, inhibition,
        dedup, grouping, rate limits); one still held keeps waiting (its new reason recorded
        if the reason changed)."""
        book = self._book
        released = 0
        for alert_id in list(book.holding):
            was = book.holding.get(alert_id)
            alert = book.alerts.get(alert_id)
            if was is None or alert is None or alert.state == "resolved":
                book.holding.pop(alert_id, None)
                continue
            now = self._clock.now()
            deliveries = self._router.route(alert.all_labels())
            commit = Commit()
            still = self._dispatch.admit(alert, deliveries, now, commit)
            if still is not None:
                if still.by != was.by:
                    book.holding[alert_id] = still
                    await book.save(alert)
                    self._submit(commit.timeline)
                continue
            del book.holding[alert_id]
            book.routed[alert.id] = {d.receiver for d in deliveries}
            released_event = AlertReleased(
                at=now,
                service=alert.labels.get("service"),
                alert_id=alert.id,
                was=was.reason,
                receivers=tuple(d.receiver for d in deliveries),
                why=why,
            )
            commit.timeline.insert(0, released_event)
            self._dispatch.start_ladder(alert, commit)
            await self._outbox.submit(commit.rows, alert=book.row(alert))
            self._submit(commit.timeline)
            released += 1
        return released + await self._release_withheld(why)

    async def _release_withheld(self, why: str) -> int:
        """Page the rungs a mute withheld from alerts that were paged, once nothing mutes them:
        each under the idempotency key it would have had. An acknowledged or resolved alert
        is not paged (someone has it). Returns how many alerts were paged."""
        book = self._book
        now = self._clock.now()
        queued = 0
        for alert_id, withheld in list(book.withheld.items()):
            alert = book.alerts.get(alert_id)
            if alert is None or alert.state != "firing":
                del book.withheld[alert_id]
                continue
            if self._muter.check(alert, now.wall).muted:
                continue
            del book.withheld[alert_id]
            rows: list[NotificationRow] = []
            for receiver, channels, level in withheld:
                rows += self._notices.rows(alert, "trigger", receiver, channels, level)
            receivers = tuple(dict.fromkeys(r for r, _, _ in withheld))
            released = AlertReleased(
                at=now,
                service=alert.labels.get("service"),
                alert_id=alert_id,
                was="rungs held while muted",
                receivers=receivers,
                why=why,
            )
            await self._outbox.submit(rows, alert=book.row(alert))
            self._submit([released])
            queued += 1
        return queued
