"""Dispatch: an alert to the people it must reach, through route, mute, fatigue and outbox.

`raise_alert` routes the alert, asks the muter (silences, inhibition, maintenance, a
dependency down) and the fatigue policy (dedup, grouping, rate limits) who may be told now,
starts the escalation ladder and commits the alert row with its first notifications: one
fsync before the first page. Whatever held a receiver back is recorded (`alert.held`),
never silently dropped; an alert held for everyone waits in the book for `held.py` to page
it once the reason has gone.

The ladder's pages arrive here too (`escalated`): those due as the ladder starts are folded
into the alert's own commit, those due later (on the ladder's timer, an ack's lapse, a
failing channel) are recorded and committed on their own. A mute holds every rung, not only
the first page: a withheld rung is kept in the alert's row for `held.py` to page later.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from paramedic.alerting.approval_page import APPROVAL_TYPE
from paramedic.alerting.book import AlertBook, Hold, ack_data
from paramedic.alerting.drill import drill_alert, drill_deliveries, drill_rung
from paramedic.alerting.escalation import EscalationEngine
from paramedic.alerting.escalation_levels import ESCALATION_TYPE
from paramedic.alerting.events import AlertAckExpired, AlertEscalated, AlertHeld, AlertRaised
from paramedic.alerting.fatigue import FatiguePolicy
from paramedic.alerting.ladder import AckLapsed, Due, EscalationStep
from paramedic.alerting.model import Alert
from paramedic.alerting.notices import Notices
from paramedic.alerting.outbox import OutboxWorker
from paramedic.alerting.routing import Delivery, Router
from paramedic.alerting.silences import Muter
from paramedic.alerting.stats import AlertStats, held_reason
from paramedic.alerting.templates import TemplateKind
from paramedic.config.alerting import ContactConfig
from paramedic.core.clock import Clock, Instant
from paramedic.core.contracts import Job, Submit
from paramedic.store.outbox import NotificationRow

__all__ = ["Commit", "Dispatch"]

log = structlog.get_logger("paramedic.alerting")


@dataclass(slots=True)
class Commit:
    """What goes out with an alert's row in one commit: its notification rows, and the
    timeline entries recorded once that commit returns."""

    rows: list[NotificationRow] = field(default_factory=list)
    timeline: list[Any] = field(default_factory=list)


class Dispatch:
    """Routes, mutes, de-noises and commits; starts the ladder and sends what it fires."""

    def __init__(
        self,
        *,
        clock: Clock,
        book: AlertBook,
        router: Router,
        muter: Muter,
        fatigue: FatiguePolicy,
        escalation: EscalationEngine,
        outbox: OutboxWorker,
        notices: Notices,
        contacts: Mapping[str, ContactConfig],
        stats: AlertStats,
        submit: Submit,
        job: Job,
    ) -> None:
        self._clock = clock
        self._book = book
        self._router = router
        self._muter = muter
        self._fatigue = fatigue
        self._escalation = escalation
        self._outbox = outbox
        self._notices = notices
        self._contacts = contacts
        self._stats = stats
        self._submit = submit
        self._job = job
        self.alerts_total: dict[str, int] = defaultdict(int)  # raised, by severity

    async def raise_alert(self, alert: Alert) -> Alert:
        """Record the alert, notify its receivers (fatigue and silences permitting), escalate."""
        now = self._clock.now()
        alert = drill_alert(alert)
        book = self._book
        book.alerts[alert.id] = alert
        book.started_wall[alert.id] = now.wall
        self.alerts_total[alert.severity] += 1
        routed = self._router.route(alert.all_labels())
        deliveries = drill_deliveries(alert, routed, self._contacts)
        book.routed[alert.id] = {d.receiver for d in deliveries}
        commit = Commit()  # its timeline follows AlertRaised, which is built after the commit
        held = self.admit(alert, deliveries, now, commit)
        self._muter.opened(alert)
        if held is None:
            self.start_ladder(alert, commit)
        else:
            # Held for everyone: nobody is paged, so nobody is escalated to either, until
            # `reevaluate_held` finds the reason gone.
            book.holding[alert.id] = held
        await self._outbox.submit(commit.rows, alert=book.row(alert))
        # The timeline's account follows the commit, so the page does not queue behind it.
        raised = AlertRaised(
            at=now,
            service=alert.labels.get("service"),
            alert_id=alert.id,
            severity=alert.severity,
            title=alert.title,
            severity_reason=alert.severity_reason,
            receivers=tuple(d.receiver for d in deliveries),
        )
        self._submit([raised, *commit.timeline])
        return alert

    def admit(
        self, alert: Alert, deliveries: list[Delivery], now: Instant, commit: Commit
    ) -> Hold | None:
        """The trigger rows for the receivers that may be told now (onto `commit.rows`), the
        reasons for the others (onto its timeline); returns why, if the alert is held for
        everyone by something whose end `reevaluate_held` must notice (mute, or the alert
        it duplicates)."""
        muted = self._muter.check(alert, now.wall)
        if muted.muted:
            commit.timeline.append(self.held(alert, "everyone", muted.reason))
            return Hold(muted.by or muted.reason, muted.reason)
        verdicts = self._fatigue.admit(alert, [x.receiver for x in deliveries], now.mono)
        # A verdict without a receiver (deduplicated, held for its group) is for everyone.
        everyone = next((d for d in verdicts if d.receiver is None), None)
        decisions = {d.receiver: d for d in verdicts if d.receiver is not None}
        rendered: dict[TemplateKind, str] = {}
        for delivery in deliveries:
            verdict = everyone or decisions.get(delivery.receiver)
            if verdict is not None and verdict.action != "send":
                commit.timeline.append(self.held(alert, delivery.receiver, verdict.reason))
                continue
            commit.rows += self._notices.rows(
                alert, "trigger", delivery.receiver, delivery.channels, 0, rendered
            )
        # A group's or a rate limit's hold ends in a summary; a duplicate's only when the
        # alert it duplicates resolves.
        if everyone is not None and everyone.action == "suppress":
            return Hold(everyone.by or everyone.reason, everyone.reason)
        return None

    def start_ladder(self, alert: Alert, commit: Commit) -> None:
        """The ladder starts before the commit so that its state, and the rows of any +0 rung
        naming people the route did not, go in the same commit as the alert: one fsync
        before the first page, and no rung marked fired whose pages a crash could lose."""
        if alert.type in (APPROVAL_TYPE, ESCALATION_TYPE):
            return  # its timeout, or the outage ladder that chose it, is its escalation
        if self._escalation.covers(alert.severity) and alert.id not in self._escalation.levels():
            self.escalated(self._escalation.start(alert), commit)

    def escalated(self, fired: Iterable[Due], commit: Commit | None = None) -> None:
        """Send what the ladder made due, in order: into `commit` as the ladder starts,
        else on its own (the ladder's timer, an ack, a failing channel, a restart)."""
        for due in fired:
            if isinstance(due, AckLapsed):
                try:
                    self._ack_lapsed(due, commit)
                except Exception:  # the page that follows matters more than the bookkeeping
                    log.exception("ack expiry hook failed", alert=due.alert.id)
                continue
            try:
                # The ladder holds the alert as it started; a rung pages what is true now
                # (the live status of a recovering incident).
                self._page(self._book.alerts.get(due.alert.id, due.alert), due.step, commit)
            except Exception:  # a failing page must not stop the next rung
                log.exception("escalation notify failed", alert=due.alert.id, step=due.step.name)

    def _page(self, alert: Alert, step: EscalationStep, commit: Commit | None) -> None:
        """A rung fired: page its contacts, recording it first."""
        contacts = drill_rung(alert, step.contacts)
        if not contacts and step.contacts:
            return  # a drill's alert: it names none of this rung's people
        if step.after == 0 and commit is not None:
            # The first rung and the route usually name the same people: page them once.
            # (Only as the ladder starts: a +0 rung paged again, when an ack lapsed or on a
            # backup channel, is meant for those same people.)
            contacts = tuple(c for c in contacts if c not in self._book.routed.get(alert.id, ()))
            if not contacts:
                return
        muted = self._muter.check(alert, self._clock.wall())
        if muted.muted:  # a mute holds every rung, not only the first page
            self._hold_rung(alert, step, contacts, muted.reason, commit)
            return
        self._stats.escalations[step.level] += 1
        escalated = AlertEscalated(
            at=self._clock.now(),
            service=alert.labels.get("service"),
            alert_id=alert.id,
            level=step.level,
            step=step.name,
            contacts=contacts,
            reason=step.reason,
        )
        rows: list[NotificationRow] = []
        for contact in contacts:
            channels = step.channels or tuple(self._contacts[contact].channels)
            rows += self._notices.rows(
                alert, "trigger", contact, channels, step.level, repeat=step.repeat
            )
        if commit is not None:  # the +0 rung of the alert being raised: its commit
            commit.rows.extend(rows)
            commit.timeline.append(escalated)
            return
        self._submit([escalated])
        self._job(self._submit_escalation(alert, rows))

    def _hold_rung(
        self,
        alert: Alert,
        step: EscalationStep,
        contacts: tuple[str, ...],
        reason: str,
        commit: Commit | None,
    ) -> None:
        withheld = self._book.withheld.setdefault(alert.id, [])
        for contact in contacts:
            channels = step.channels or tuple(self._contacts[contact].channels)
            withheld.append((contact, channels, step.level))
        held = [self.held(alert, contact, reason) for contact in contacts]
        if commit is not None:
            commit.timeline.extend(held)
            return
        self._submit(held)
        if alert.id in self._book.alerts:
            self._job(self._book.save(self._book.alerts[alert.id]))

    def _ack_lapsed(self, lapsed: AckLapsed, commit: Commit | None) -> None:
        """An ack lapsed and the ladder escalates again: the alert is firing again for
        everyone who reads it, and the timeline says whose ack ran out when."""
        alert, ack = lapsed
        current = self._book.alerts.get(alert.id)
        if current is None:
            return
        now = self._clock.now()
        self._book.alerts[alert.id] = current.unacknowledge()
        self._book.expired_acks[alert.id] = ack_data(ack)
        expired_wall = ack.expires_wall if ack.expires_wall is not None else now.wall
        event = AlertAckExpired(
            at=now,
            service=alert.labels.get("service"),
            alert_id=alert.id,
            by=ack.by,
            expired_wall=expired_wall,
        )
        self._submit([event])
        if commit is None:  # else the alert's own commit carries it
            self._job(self._book.save(self._book.alerts[alert.id]))

    async def _submit_escalation(self, alert: Alert, rows: list[NotificationRow]) -> None:
        # The rung's rows and the ladder saying it fired: one commit, so that a crash cannot
        # leave rows sent whose rung fires again after the restart (a second page).
        current = self._book.alerts.get(alert.id)
        await self._outbox.submit(
            rows, alert=self._book.row(current) if current is not None else None
        )

    def held(self, alert: Alert, receiver: str, reason: str) -> AlertHeld:
        """Why a notification was not sent: recorded, never silently dropped."""
        self._stats.held[held_reason(reason)] += 1
        return AlertHeld(
            at=self._clock.now(),
            service=alert.labels.get("service"),
            alert_id=alert.id,
            receiver=receiver,
            reason=reason,
        )
