"""Answers to an alert: an acknowledgement pauses its ladder, a resolve ends it.

A person's ack or resolve comes through the API, whose audit row is durable before the call
reaches here (`api/audit_trail.py`); paramedic's own resolve comes from the intake (the
failure cleared) or a summary whose alerts are all over. Either way every channel that got
(or was getting) the trigger gets the follow-up under the same key, and pending triggers
are cancelled. A resolve lets go of everything kept for the alert, and may release what it
held back (inhibition, a dependency, a duplicate) or close a summary. An alert held back by
another one (a dependency down) was never paged: its resolve goes to those paged for that
cause, saying so (`HeldAlerts.resolve_targets`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from paramedic.alerting.book import AlertBook
from paramedic.alerting.dispatch import Dispatch
from paramedic.alerting.escalation import EscalationEngine
from paramedic.alerting.events import AlertAcknowledged, AlertResolved
from paramedic.alerting.fatigue import FatiguePolicy
from paramedic.alerting.held import HeldAlerts
from paramedic.alerting.model import Alert
from paramedic.alerting.notices import Notices
from paramedic.alerting.outbox import OutboxWorker
from paramedic.alerting.silences import Muter
from paramedic.alerting.summaries import Summaries
from paramedic.core.clock import Clock
from paramedic.core.contracts import Submit
from paramedic.core.errors import AlertingError
from paramedic.store.outbox import NotificationRow, OutboxStore

__all__ = ["Answers", "SilencesEnded"]

SilencesEnded = Callable[[list[str], Alert], None]  # until-resolved silences a resolve ended


class Answers:
    """Acknowledges and resolves open alerts, and tells where the trigger went."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: OutboxStore,
        book: AlertBook,
        escalation: EscalationEngine,
        muter: Muter,
        fatigue: FatiguePolicy,
        dispatch: Dispatch,
        held: HeldAlerts,
        summaries: Summaries,
        outbox: OutboxWorker,
        notices: Notices,
        channels: Collection[str],
        submit: Submit,
        silences_ended: SilencesEnded,
    ) -> None:
        self._clock = clock
        self._store = store
        self._book = book
        self._escalation = escalation
        self._muter = muter
        self._fatigue = fatigue
        self._dispatch = dispatch
        self._held = held
        self._summaries = summaries
        self._outbox = outbox
        self._notices = notices
        self._channels = channels
        self._submit = submit
        self._silences_ended = silences_ended

    async def acknowledge(
        self, alert_id: str, *, by: str, why: str, ttl: float | None = None
    ) -> Alert:
        alert = self._book.get(alert_id)
        if alert.state == "resolved":
            msg = f"alert {alert_id} is already resolved"
            raise AlertingError(msg)
        now = self._clock.now()
        if alert_id in self._escalation.levels():
            acked, fired = self._escalation.acknowledge(alert_id, by, why, ttl)
            if acked.ack is not None:  # the ladder's copy is the alert as it started
                acked = alert.acknowledge(acked.ack)  # keep its live status
            self._dispatch.escalated(fired)
        else:  # held (nobody paged yet) or a severity without a ladder: nothing to pause
            acked = alert.acknowledge(self._escalation.new_ack(by, why, ttl))
        self._book.expired_acks.pop(alert_id, None)
        self._book.alerts[alert_id] = acked
        await self._book.save(acked)
        self._submit(
            [
                AlertAcknowledged(
                    at=now, service=acked.labels.get("service"), alert_id=alert_id, by=by, why=why
                )
            ]
        )
        await self._outbox.cancel(alert_id, action="trigger", reason=f"acknowledged by {by}")
        await self._follow_up(acked, "acknowledge")
        return acked

    async def resolve(self, alert_id: str, *, by: str, why: str) -> Alert | None:
        book = self._book
        alert = book.alerts.get(alert_id)
        if alert is None or alert.state == "resolved":
            return None
        now = self._clock.now()
        if alert_id in self._escalation.levels():
            self._escalation.resolve(alert_id)
        status = f"resolved by {by}: {why}"
        hold = book.holding.get(alert_id)
        unpaged = await self._held.resolve_targets(alert, hold) if hold is not None else []
        if unpaged and hold is not None:
            status += f"; it was not paged while held: {hold.reason}"
        resolved = alert.resolve(status)
        book.alerts[alert_id] = resolved
        ended = self._muter.resolved(resolved)
        book.withheld.pop(alert_id, None)
        if ended:
            self._silences_ended(ended, resolved)
        self._fatigue.dedup.forget(resolved)
        book.holding.pop(alert_id, None)
        book.expired_acks.pop(alert_id, None)
        await self._outbox.cancel(alert_id, action="trigger", reason=f"resolved by {by}")
        await self._outbox.cancel(alert_id, action="update", reason=f"resolved by {by}")
        # The resolved row with its follow-ups, one commit: a crash before it leaves the alert
        # firing in the store, and a restart resolves it again (`Intake.catch_up`).
        await self._follow_up(resolved, "resolve", save=True, also=unpaged)
        self._submit(
            [
                AlertResolved(
                    at=now,
                    service=resolved.labels.get("service"),
                    alert_id=alert_id,
                    by=by,
                    why=why,
                )
            ]
        )
        # Ids are a sender's choice (an Alertmanager webhook): nothing per alert outlives it.
        book.forget(alert_id, (*self._channels, "log"))
        if book.holding:  # it may have held others back (inhibition, dependency, duplicate)
            await self._held.reevaluate()
        if book.summaries:
            await self._summaries.member_resolved(alert_id, self._resolve_summary)
        return resolved

    async def _resolve_summary(self, summary_id: str, by: str, why: str) -> Alert | None:
        return await self.resolve(summary_id, by=by, why=why)

    async def _follow_up(
        self,
        alert: Alert,
        action: str,
        *,
        save: bool = False,
        also: Sequence[tuple[str, tuple[str, ...]]] = (),
    ) -> None:
        """Send the ack/resolve to every channel that got (or was getting) the trigger, and
        to `also` (receiver, channels): where a held alert's resolve goes."""
        sent = await self._store.notifications_for(alert.id)
        targets = sorted(
            {
                (n.payload["labels"].get("receiver", ""), n.channel)
                for n in sent
                if n.action == "trigger"
            }
            | {(receiver, channel) for receiver, channels in also for channel in channels}
        )
        rows: list[NotificationRow] = []
        for receiver, channel in targets:
            rows += self._notices.rows(alert, action, receiver, (channel,), 0)
        await self._outbox.submit(rows, alert=self._book.row(alert) if save else None)
