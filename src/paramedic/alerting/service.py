"""The alert pipeline: event -> alert -> route -> fatigue/silence -> outbox -> escalation.

Every step is recorded before it acts: the alert row before its first notification, a
notification row before its first attempt; a person's ack or resolve comes through the API,
whose audit row is durable before the call reaches this service (`api/audit_trail.py`).
After a crash `start()` reloads pending notifications (they resume at their original due
times) and the open alerts' escalation ladders (overdue rungs fire once).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import structlog

from paramedic.alerting.channels.base import Channel, DeliveryResult, Notification
from paramedic.alerting.codec import alert_from_data, alert_to_data
from paramedic.alerting.escalation import EscalationEngine, EscalationStep
from paramedic.alerting.events import (
    AlertAckExpired,
    AlertAcknowledged,
    AlertEscalated,
    AlertHeld,
    AlertRaised,
    AlertReleased,
    AlertResolved,
)
from paramedic.alerting.fatigue import FatiguePolicy
from paramedic.alerting.model import Ack, Alert, alert_from_failure
from paramedic.alerting.model import alert_id as failure_alert_id
from paramedic.alerting.outbox import OutboxWorker, notification_row
from paramedic.alerting.routing import Delivery, Router
from paramedic.alerting.severity import SeverityDecision, SeverityFacts, SeverityPolicy
from paramedic.alerting.silences import Muter
from paramedic.alerting.stats import AlertStats, held_reason
from paramedic.alerting.templates import AlertRenderer, TemplateKind
from paramedic.config.alerting import AlertingConfig
from paramedic.core.bus import Published
from paramedic.core.clock import Clock, Instant
from paramedic.core.contracts import Job, Submit
from paramedic.core.errors import AlertingError
from paramedic.core.failure_events import FailureCleared, FailureDetected
from paramedic.core.ids import new_id
from paramedic.core.severity import SEVERITIES, severity_rank
from paramedic.store.outbox import AlertRow, NotificationRow, OutboxStore

__all__ = ["AlertingService", "ServiceFacts"]

log = structlog.get_logger("paramedic.alerting")

ServiceFacts = Callable[[str], tuple[int | None, Mapping[str, str], str]]  # tier, labels, runbook
Withheld = tuple[str, tuple[str, ...], int]  # receiver, channels, escalation level


class Hold(NamedTuple):
    """What holds an alert back for everyone (a silence id, an inhibiting alert's id, a
    window's name, the alert it duplicates) and the sentence saying so. Judged again by
    `by` alone: a sentence that only says how long ago something happened is no news."""

    by: str
    reason: str


class AlertingService:
    """Owns every open alert and everything sent about it."""

    def __init__(
        self,
        config: AlertingConfig,
        *,
        clock: Clock,
        store: OutboxStore,
        channels: Mapping[str, Channel],
        submit: Submit,
        job: Job,
        service_facts: ServiceFacts = lambda name: (None, {}, ""),
        dashboard_url: str = "",
        depends_on: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.channels = dict(channels)
        self._submit = submit
        self._job = job
        self._service_facts = service_facts
        self._dashboard = dashboard_url
        self.severity = SeverityPolicy.from_config(config.severity_rules)
        self.router = Router.from_config(config.routes, config.contacts)
        self.fatigue = FatiguePolicy.from_config(config)
        self.muter = Muter.from_config(
            config.silences, config.inhibit_rules, config.maintenance_windows, depends_on
        )
        self.renderer = AlertRenderer(config.template_dir)
        self.escalation = EscalationEngine.from_config(clock, self._escalate, config.escalation)
        self.escalation.on_ack_expired = self._ack_expired
        # The lapsed ack, in wall time (as stored in the alert's row and shown by the API),
        # until the next ack or the resolve.
        self.expired_acks: dict[str, dict[str, Any]] = {}
        self._summaries: dict[str, set[str]] = {}  # open summary -> the alerts it names
        self.outbox = OutboxWorker(store, self.channels, clock, on_result=self._delivered)
        self.alerts: dict[str, Alert] = {}
        self._started_wall: dict[str, float] = {}
        self._failures: dict[tuple[str, str], int] = defaultdict(int)
        self._routed: dict[str, set[str]] = defaultdict(set)
        self._missing: set[str] = set()
        self.alerts_total: dict[str, int] = defaultdict(int)
        # Set only inside raise_alert's synchronous section (no await while set).
        self._raising: tuple[list[NotificationRow], list[Any]] | None = None
        self.notifications_total: dict[tuple[str, str], int] = defaultdict(int)
        self.stats = AlertStats()  # bounded-label counters for /metrics
        # Rungs a mute (a silence added after the first page, a window) withheld from an alert
        # that was paged: paged by `reevaluate_held` once nothing mutes it (kept in its row).
        self._withheld: dict[str, list[Withheld]] = {}
        # Told the ids of until-resolved silences a resolve ended (so they are stored ended).
        self.on_silences_ended: Callable[[list[str], Alert], None] | None = None
        # Open alerts nobody was paged for, and why: muted (silence, inhibition, maintenance,
        # a dependency down) or a duplicate of an alert still firing. `reevaluate_held` pages
        # each one whose reason has gone while it still fires.
        self._holding: dict[str, Hold] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume: pending notifications at their due times, open alerts' ladders."""
        resumed = await self.outbox.load()
        for row in await self.store.alerts(limit=10_000):
            if row.state == "resolved":
                continue
            alert = alert_from_data(row.data["alert"])
            self.alerts[alert.id] = alert
            self.muter.opened(alert)
            self._reopened(alert, row.data)
            snapshot = row.data.get("escalation")
            started_wall = float(row.data.get("started_wall", row.opened_wall))
            self._started_wall[alert.id] = started_wall
            if lapsed := row.data.get("ack_expired"):
                self.expired_acks[alert.id] = lapsed
            withheld = row.data.get("withheld") or []
            if withheld:
                self._withheld[alert.id] = [(r, tuple(c), int(lv)) for r, c, lv in withheld]
            if snapshot is not None:
                boot = self.clock.boot_id()
                rebased = dict(snapshot)
                if not boot or row.data.get("boot_id") != boot:
                    # A reboot restarted the monotonic clock: wall time is all two boots
                    # share. On the same boot the stored monotonic times stand, so a wall
                    # step while we were up or down moves no rung.
                    rebased["started_mono"] = self.clock.monotonic() - (
                        self.clock.wall() - started_wall
                    )
                self.escalation.restore_snapshot(alert, rebased)
        if resumed or self.alerts:
            log.info("alerting resumed", notifications=resumed, open_alerts=len(self.alerts))

    def _reopened(self, alert: Alert, data: Mapping[str, Any]) -> None:
        """An open alert reloaded after a restart: held again (re-evaluated at the next
        sweep), or, if it was paged, the one later alerts of its kind are duplicates of."""
        if held := data.get("held"):
            self._holding[alert.id] = Hold(str(data.get("held_by") or ""), str(held))
        elif alert.type == "summary":
            self._summaries[alert.id] = set(data.get("members") or ())
        else:
            self.fatigue.dedup.check(alert, self.clock.monotonic())

    async def catch_up(
        self, failures: Sequence[FailureDetected], cleared: Mapping[str, FailureCleared]
    ) -> tuple[int, int]:
        """After `start`: finish what a crash cut off. A failure the timeline holds without
        its alert row gets its alert now (the row's id is the incident's, so one that did
        commit is not raised twice); an open alert whose failure cleared before the resolve
        committed is resolved. Returns (raised, resolved)."""
        raised = 0
        for failure in failures:
            if await self.store.get_alert(failure_alert_id(failure.incident, "failure")) is None:
                log.warning("raising an alert a crash cut off", incident=failure.incident)
                await self.raise_for_failure(failure)
                raised += 1
        resolved = 0
        for alert in list(self.alerts.values()):
            clear = cleared.get(alert.incident or "")
            if clear is not None and alert.id == failure_alert_id(clear.incident, "failure"):
                done = await self.resolve(alert.id, by="paramedic", why=clear.reason)
                resolved += done is not None
        return raised, resolved

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.outbox.run())
            tasks.create_task(self._summaries_forever())
            tasks.create_task(self._held_forever())

    async def _held_forever(self, every: float = 1.0) -> None:
        """Silences and maintenance windows end by the calendar, not by an event: the one
        sweep that notices, every second."""
        while True:
            await self.clock.sleep(every)
            try:
                await self.sweep()
            except Exception:  # the edge of a tick: log, look again next time
                log.exception("re-evaluating held alerts failed")

    async def sweep(self) -> int:
        """Forget the silences past their end; page what a mute that ended by the clock held
        (alerts held for everyone and rungs withheld from paged ones); nothing is judged again
        while nothing is held. Returns how many alerts were paged."""
        ended = self.muter.drop_ended(self.clock.wall())
        if not (self._holding or self._withheld):
            return 0
        return await self.reevaluate_held(f"silence {', '.join(ended)} ended" if ended else "")

    async def _summaries_forever(self, every: float = 5.0) -> None:
        """Held and rate-limited P2/P3 alerts are never dropped: their summaries go out."""
        while True:
            await self.clock.sleep(every)
            try:
                await self.flush_summaries()
            except Exception:  # the edge of a tick: in the TaskGroup it would stop the outbox
                log.exception("sending summaries failed")

    async def flush_summaries(self) -> int:
        """Send what grouping and rate limits held back as one summary per group/receiver."""
        now = self.clock.now()
        sent = 0
        for group in self.fatigue.grouper.due(now.mono):
            first = group.alerts[0]
            deliveries = [(d.receiver, d.channels) for d in self.router.route(first.all_labels())]
            sent += await self._send_summary(group.alerts, group.text, deliveries)
        for rate in self.fatigue.limiter.summaries(now.mono):
            known = self.config.contacts.get(rate.receiver)  # a contact (`Delivery.receiver`)
            channels = tuple(known.channels if known else ("log",))
            sent += await self._send_summary(rate.alerts, rate.text, [(rate.receiver, channels)])
        return sent

    async def _send_summary(
        self, alerts: tuple[Alert, ...], text: str, deliveries: list[tuple[str, tuple[str, ...]]]
    ) -> int:
        """A summary is itself an alert, firing while any alert it names still fires: its
        receivers get a trigger (never a "RESOLVED" for alerts that fire), then its resolve,
        under the same key, once the last of them has resolved."""
        now = self.clock.now()
        worst = min(alerts, key=lambda a: severity_rank(a.severity)).severity
        members = {a.id for a in alerts if a.id in self.alerts}
        summary = Alert(
            id=f"summary:{new_id()}",
            type="summary",
            source="paramedic",
            severity=worst,
            title=text if len(text) <= 120 else text[:117] + "...",
            labels={"summary": "true"},
            what=text,
            when_wall=now.wall,
            status="summary of alerts held back to avoid noise",
            severity_reason="summary",
        )
        rows: list[NotificationRow] = []
        for receiver, channels in deliveries:
            rows += self._rows(summary, "trigger", receiver, channels, 0)
        self._submit(
            [
                AlertRaised(
                    at=now,
                    service=None,
                    alert_id=summary.id,
                    severity=worst,
                    title=summary.title,
                    severity_reason="summary",
                    receivers=tuple(r for r, _ in deliveries),
                )
            ]
        )
        if members:
            self.alerts[summary.id] = summary
            self._summaries[summary.id] = members
            stored = summary
        else:  # all over already: resolved where it arrives once it has arrived
            stored = summary.resolve("every alert it summarises has resolved")
        await self.outbox.submit(rows, alert=self._row(stored))
        return len(rows)

    async def _summarised_resolved(self, alert_id: str) -> None:
        """`alert_id` resolved: resolve each summary none of whose alerts fires any more."""
        done = []
        for summary_id, members in self._summaries.items():
            members.discard(alert_id)
            if not members & self.alerts.keys():
                done.append(summary_id)
        for summary_id in done:
            del self._summaries[summary_id]
            why = "every alert it summarises has resolved"
            await self.resolve(summary_id, by="paramedic", why=why)

    def on_published(self, published: Published) -> None:
        """Bus listener: incidents open alerts, cleared failures resolve them."""
        event = published.event
        if isinstance(event, FailureDetected):
            self._job(self.raise_for_failure(event))
        elif isinstance(event, FailureCleared):
            self._job(self.resolve(f"{event.incident}:failure", by="paramedic", why=event.reason))

    # -- raising -------------------------------------------------------------------------------

    async def raise_for_failure(self, event: FailureDetected) -> Alert:
        service = event.service or event.source
        tier, labels, runbook = self._service_facts(service)
        decision = self.severity.decide(
            SeverityFacts(
                kind="watchdog_gave_up" if event.needs_human else event.failure_kind,
                service=service,
                tier=tier,
                labels=labels,
                needs_human=event.needs_human,
                upstream_down=len(event.upstream_down),
            )
        )
        if event.severity in SEVERITIES:  # the source stated one (Alertmanager's label)
            stated = f"{event.severity}: stated by {event.source}'s severity label"
            decision = SeverityDecision(event.severity, stated, -1)
        alert = alert_from_failure(
            event,
            decision.severity,
            decision.reason,
            labels=labels,
            runbook=runbook,
            dashboard=self._dashboard,
            impact=_impact(event),
        )
        return await self.raise_alert(alert)

    async def raise_alert(self, alert: Alert) -> Alert:
        """Record the alert, notify its receivers (fatigue and silences permitting), escalate."""
        now = self.clock.now()
        self.alerts[alert.id] = alert
        self._started_wall[alert.id] = now.wall
        self.alerts_total[alert.severity] += 1
        deliveries = self.router.route(alert.all_labels())
        self._routed[alert.id] = {d.receiver for d in deliveries}
        timeline: list[Any] = []  # follows AlertRaised, which is built after the commit
        rows: list[NotificationRow] = []
        held = self._admit(alert, deliveries, now, rows, timeline)
        self.muter.opened(alert)
        if held is None:
            self._start_ladder(alert, rows, timeline)
        else:
            # Held for everyone: nobody is paged, so nobody is escalated to either, until
            # `reevaluate_held` finds the reason gone.
            self._holding[alert.id] = held
        await self.outbox.submit(rows, alert=self._row(alert))
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
        self._submit([raised, *timeline])
        return alert

    def _admit(
        self,
        alert: Alert,
        deliveries: list[Delivery],
        now: Instant,
        rows: list[NotificationRow],
        timeline: list[Any],
    ) -> Hold | None:
        """The trigger rows for the receivers that may be told now (onto `rows`), the reasons
        for the others (onto `timeline`); returns why, if the alert is held for everyone by
        something whose end `reevaluate_held` must notice (mute, or the alert it duplicates)."""
        muted = self.muter.check(alert, now.wall)
        if muted.muted:
            timeline.append(self._held(alert, "everyone", muted.reason))
            return Hold(muted.by or muted.reason, muted.reason)
        verdicts = self.fatigue.admit(alert, [x.receiver for x in deliveries], now.mono)
        # A verdict without a receiver (deduplicated, held for its group) is for everyone.
        everyone = next((d for d in verdicts if d.receiver is None), None)
        decisions = {d.receiver: d for d in verdicts if d.receiver is not None}
        rendered: dict[TemplateKind, str] = {}
        for delivery in deliveries:
            verdict = everyone or decisions.get(delivery.receiver)
            if verdict is not None and verdict.action != "send":
                timeline.append(self._held(alert, delivery.receiver, verdict.reason))
                continue
            rows += self._rows(alert, "trigger", delivery.receiver, delivery.channels, 0, rendered)
        # A group's or a rate limit's hold ends in a summary; a duplicate's only when the
        # alert it duplicates resolves.
        if everyone is not None and everyone.action == "suppress":
            return Hold(everyone.by or everyone.reason, everyone.reason)
        return None

    def _start_ladder(self, alert: Alert, rows: list[NotificationRow], timeline: list[Any]) -> None:
        """The ladder starts before the commit so that its state, and the rows of any +0 rung
        naming people the route did not, go in the same commit as the alert: one fsync
        before the first page, and no rung marked fired whose pages a crash could lose."""
        if self.escalation.covers(alert.severity) and alert.id not in self.escalation.levels():
            self._raising = (rows, timeline)
            try:
                self.escalation.start(alert)
            finally:
                self._raising = None

    async def reevaluate_held(self, why: str = "") -> int:
        """Page every held alert that still fires and is no longer held; returns how many.

        The one entry point for "something that held alerts back is gone": an inhibiting
        or depended-on alert resolved, the alert a duplicate was held for resolved, a silence
        expired or was deleted, a maintenance window ended. Each held alert is judged again
        as if it were raised now (silences, inhibition, dedup, grouping, rate limits); one
        still held keeps waiting (its new reason recorded if the reason changed)."""
        released = 0
        for alert_id in list(self._holding):
            was = self._holding.get(alert_id)
            alert = self.alerts.get(alert_id)
            if was is None or alert is None or alert.state == "resolved":
                self._holding.pop(alert_id, None)
                continue
            now = self.clock.now()
            deliveries = self.router.route(alert.all_labels())
            rows: list[NotificationRow] = []
            timeline: list[Any] = []
            still = self._admit(alert, deliveries, now, rows, timeline)
            if still is not None:
                if still.by != was.by:
                    self._holding[alert_id] = still
                    await self._save(alert)
                    self._submit(timeline)
                continue
            del self._holding[alert_id]
            self._routed[alert.id] = {d.receiver for d in deliveries}
            released_event = AlertReleased(
                at=now,
                service=alert.labels.get("service"),
                alert_id=alert.id,
                was=was.reason,
                receivers=tuple(d.receiver for d in deliveries),
                why=why,
            )
            timeline.insert(0, released_event)
            self._start_ladder(alert, rows, timeline)
            await self.outbox.submit(rows, alert=self._row(alert))
            self._submit(timeline)
            released += 1
        return released + await self._release_withheld(why)

    async def test_page(self, severity: str, *, channel: str | None, by: str) -> Alert:
        """Seed 8.2: test pages regularly. Goes where a real alert of that severity goes (or
        to one channel), never escalates, and is resolved at once so nothing stays open."""
        if channel is not None and channel not in self.channels:
            msg = f"no channel named {channel!r}; configured: {', '.join(sorted(self.channels))}"
            raise AlertingError(msg)
        now = self.clock.now()
        alert = Alert(
            id=f"test:{new_id()}",
            type="test",
            source="paramedic",
            severity=severity,  # type: ignore[arg-type]
            title=f"[TEST] paramedic test page ({severity})",
            labels={"service": "paramedic", "test": "true"},
            what=f"A test page requested by {by}. No action needed.",
            when_wall=now.wall,
            status="test",
            severity_reason="test page",
        )
        self._started_wall[alert.id] = now.wall
        await self._save(alert)
        deliveries: list[tuple[str, tuple[str, ...]]]
        if channel is not None:
            deliveries = [("test", (channel,))]
        else:
            deliveries = [(d.receiver, d.channels) for d in self.router.route(alert.all_labels())]
        self._submit(
            [
                AlertRaised(
                    at=now,
                    service="paramedic",
                    alert_id=alert.id,
                    severity=severity,
                    title=alert.title,
                    severity_reason="test page",
                    receivers=tuple(r for r, _ in deliveries),
                )
            ]
        )
        rows: list[NotificationRow] = []
        for receiver, channels in deliveries:
            rows += self._rows(alert, "trigger", receiver, channels, 0)
        await self.outbox.submit(rows)
        resolved = alert.resolve("test page sent")
        await self._save(resolved)
        del self._started_wall[alert.id]
        return resolved

    async def _resolve_where_delivered(self, trigger: NotificationRow) -> None:
        """A test page (or a summary of alerts all over already) is resolved at once in
        paramedic, so where its trigger arrived (a PagerDuty incident, an Alertmanager alert)
        it is resolved too, under the same dedup key. Sent only after the trigger was
        delivered: a resolve overtaking its trigger would be dropped by the provider and
        leave the incident open there."""
        row = await self.store.get_alert(trigger.alert_id)
        if row is None or row.state != "resolved":
            return
        alert = alert_from_data(row.data["alert"])
        receiver = trigger.payload.get("labels", {}).get("receiver", "test")
        await self.outbox.submit(self._rows(alert, "resolve", receiver, (trigger.channel,), 0))

    # -- answering -----------------------------------------------------------------------------

    async def acknowledge(
        self, alert_id: str, *, by: str, why: str, ttl: float | None = None
    ) -> Alert:
        alert = self._get(alert_id)
        if alert.state == "resolved":
            msg = f"alert {alert_id} is already resolved"
            raise AlertingError(msg)
        now = self.clock.now()
        if alert_id in self.escalation.levels():
            acked = self.escalation.acknowledge(alert_id, by, why, ttl)
        else:  # held (nobody paged yet) or a severity without a ladder: nothing to pause
            acked = alert.acknowledge(self.escalation.new_ack(by, why, ttl))
        self.expired_acks.pop(alert_id, None)
        self.alerts[alert_id] = acked
        await self._save(acked)
        self._submit(
            [
                AlertAcknowledged(
                    at=now, service=acked.labels.get("service"), alert_id=alert_id, by=by, why=why
                )
            ]
        )
        await self.outbox.cancel(alert_id, action="trigger", reason=f"acknowledged by {by}")
        await self._follow_up(acked, "acknowledge")
        return acked

    async def resolve(self, alert_id: str, *, by: str, why: str) -> Alert | None:
        alert = self.alerts.get(alert_id)
        if alert is None or alert.state == "resolved":
            return None
        now = self.clock.now()
        if alert_id in self.escalation.levels():
            self.escalation.resolve(alert_id)
        resolved = alert.resolve(f"resolved by {by}: {why}")
        self.alerts[alert_id] = resolved
        ended = self.muter.resolved(resolved)
        self._withheld.pop(alert_id, None)
        if ended and self.on_silences_ended is not None:
            self.on_silences_ended(ended, resolved)
        self.fatigue.dedup.forget(resolved)
        self._holding.pop(alert_id, None)
        self.expired_acks.pop(alert_id, None)
        await self.outbox.cancel(alert_id, action="trigger", reason=f"resolved by {by}")
        # The resolved row with its follow-ups, one commit: a crash before it leaves the alert
        # firing in the store, and a restart resolves it again (`catch_up`).
        await self._follow_up(resolved, "resolve", save=True)
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
        del self.alerts[alert_id]
        # Ids are a sender's choice (an Alertmanager webhook): nothing per alert outlives it.
        self._started_wall.pop(alert_id, None)
        self._routed.pop(alert_id, None)
        for channel in (*self.channels, "log"):
            self._failures.pop((alert_id, channel), None)
        if self._holding:  # it may have held others back (inhibition, dependency, duplicate)
            await self.reevaluate_held()
        if self._summaries:
            await self._summarised_resolved(alert_id)
        return resolved

    async def _follow_up(self, alert: Alert, action: str, *, save: bool = False) -> None:
        """Send the ack/resolve to every channel that got (or was getting) the trigger."""
        sent = await self.store.notifications_for(alert.id)
        targets = sorted(
            {
                (n.payload["labels"].get("receiver", ""), n.channel)
                for n in sent
                if n.action == "trigger"
            }
        )
        rows: list[NotificationRow] = []
        for receiver, channel in targets:
            rows += self._rows(alert, action, receiver, (channel,), 0)
        await self.outbox.submit(rows, alert=self._row(alert) if save else None)

    # -- escalation and delivery feedback ---------------------------------------------------------

    def _escalate(self, alert: Alert, step: EscalationStep) -> None:
        """A rung fired (timer callback): page its contacts, recording it first."""
        contacts = step.contacts
        if step.after == 0 and self._raising is not None:
            # The first rung and the route usually name the same people: page them once.
            # (Only as the ladder starts: a +0 rung paged again, when an ack lapsed or on a
            # backup channel, is meant for those same people.)
            contacts = tuple(c for c in contacts if c not in self._routed.get(alert.id, ()))
            if not contacts:
                return
        muted = self.muter.check(alert, self.clock.wall())
        if muted.muted:  # a mute holds every rung, not only the first page
            self._hold_rung(alert, step, contacts, muted.reason)
            return
        self.stats.escalations[step.level] += 1
        escalated = AlertEscalated(
            at=self.clock.now(),
            service=alert.labels.get("service"),
            alert_id=alert.id,
            level=step.level,
            step=step.name,
            contacts=contacts,
            reason=step.reason,
        )
        rows: list[NotificationRow] = []
        for contact in contacts:
            channels = step.channels or tuple(self.config.contacts[contact].channels)
            rows += self._rows(alert, "trigger", contact, channels, step.level, repeat=step.repeat)
        if self._raising is not None:  # the +0 rung of the alert being raised: its commit
            self._raising[0].extend(rows)
            self._raising[1].append(escalated)
            return
        self._submit([escalated])
        self._job(self._submit_escalation(alert, rows))

    def _hold_rung(
        self, alert: Alert, step: EscalationStep, contacts: tuple[str, ...], reason: str
    ) -> None:
        withheld = self._withheld.setdefault(alert.id, [])
        for contact in contacts:
            channels = step.channels or tuple(self.config.contacts[contact].channels)
            withheld.append((contact, channels, step.level))
        held = [self._held(alert, contact, reason) for contact in contacts]
        if self._raising is not None:
            self._raising[1].extend(held)
            return
        self._submit(held)
        if alert.id in self.alerts:
            self._job(self._save(self.alerts[alert.id]))

    async def _release_withheld(self, why: str) -> int:
        """Page the rungs a mute withheld from alerts that were paged, once nothing mutes them:
        each under the idempotency key it would have had. An acknowledged or resolved alert
        is not paged (someone has it). Returns how many alerts were paged."""
        now = self.clock.now()
        queued = 0
        for alert_id, withheld in list(self._withheld.items()):
            alert = self.alerts.get(alert_id)
            if alert is None or alert.state != "firing":
                del self._withheld[alert_id]
                continue
            if self.muter.check(alert, now.wall).muted:
                continue
            del self._withheld[alert_id]
            rows: list[NotificationRow] = []
            for receiver, channels, level in withheld:
                rows += self._rows(alert, "trigger", receiver, channels, level)
            receivers = tuple(dict.fromkeys(r for r, _, _ in withheld))
            released = AlertReleased(
                at=now,
                service=alert.labels.get("service"),
                alert_id=alert_id,
                was="rungs held while muted",
                receivers=receivers,
                why=why,
            )
            await self.outbox.submit(rows, alert=self._row(alert))
            self._submit([released])
            queued += 1
        return queued

    def _ack_expired(self, alert: Alert, ack: Ack) -> None:
        """An ack lapsed and the ladder escalates again (timer callback): the alert is firing
        again for everyone who reads it, and the timeline says whose ack ran out when."""
        current = self.alerts.get(alert.id)
        if current is None:
            return
        now = self.clock.now()
        self.alerts[alert.id] = current.unacknowledge()
        self.expired_acks[alert.id] = _ack_data(ack)
        expired_wall = ack.expires_wall if ack.expires_wall is not None else now.wall
        event = AlertAckExpired(
            at=now,
            service=alert.labels.get("service"),
            alert_id=alert.id,
            by=ack.by,
            expired_wall=expired_wall,
        )
        self._submit([event])
        if self._raising is None:  # else the alert's own commit carries it
            self._job(self._save(self.alerts[alert.id]))

    async def _submit_escalation(self, alert: Alert, rows: list[NotificationRow]) -> None:
        # The rung's rows and the ladder saying it fired: one commit, so that a crash cannot
        # leave rows sent whose rung fires again after the restart (a second page).
        current = self.alerts.get(alert.id)
        await self.outbox.submit(rows, alert=self._row(current) if current is not None else None)

    def _delivered(self, row: NotificationRow, result: DeliveryResult, attempt: int) -> None:
        self.notifications_total[(row.channel, result.outcome)] += 1
        key = (row.alert_id, row.channel)
        if result.outcome == "delivered":
            self.stats.delivered(row.channel, self.clock.wall() - row.created_wall)
            self._failures.pop(key, None)
            closed = row.alert_id.startswith(("test:", "summary:")) and (
                row.alert_id not in self.alerts
            )
            if row.action == "trigger" and closed:
                self._job(self._resolve_where_delivered(row))
            return
        if row.alert_id not in self.alerts:
            return  # closed (resolved, a test page): nothing left to escalate or count for
        self._failures[key] += 1
        if row.action == "trigger" and row.alert_id in self.escalation.levels():
            sentence = self.escalation.channel_failed(
                row.alert_id, row.channel, self._failures[key]
            )
            if sentence:
                log.warning(
                    "channel failing", alert=row.alert_id, channel=row.channel, why=sentence
                )

    # -- helpers -------------------------------------------------------------------------------

    def _rows(
        self,
        alert: Alert,
        action: str,
        receiver: str,
        channels: tuple[str, ...],
        level: int,
        rendered: dict[TemplateKind, str] | None = None,
        *,
        repeat: str = "",
    ) -> list[NotificationRow]:
        now = self.clock.now()
        cache = {} if rendered is None else rendered

        def render(kind: TemplateKind) -> str:
            if kind not in cache:
                cache[kind] = self.renderer.render(alert, kind)
            return cache[kind]

        fields = _fields(alert)
        labels = {**alert.labels, "receiver": receiver, "severity": alert.severity}
        links = {k: v for k, v in (("runbook", alert.runbook), ("dashboard", alert.dashboard)) if v}
        rows = []
        for channel in channels:
            target = channel if channel in self.channels else "log"
            if target != channel and channel not in self._missing:
                self._missing.add(channel)
                log.warning("channel not configured; its pages go to the log", channel=channel)
            kind = getattr(self.channels.get(target), "kind", "log")
            notification = Notification(
                id=new_id("ntf_"),
                alert_id=alert.id,
                action=action,  # type: ignore[arg-type]
                severity=alert.severity,
                title=render("email_subject").strip(),
                body=render("slack" if kind == "slack" else "text"),
                fields=fields,
                labels=labels,
                idempotency_key=f"{alert.id}:{action}:{receiver}:{channel}:{level}"
                + (f":{repeat}" if repeat else ""),
                links=links,
            )
            rows.append(
                notification_row(
                    notification, channel=target, due_wall=now.wall, created_wall=now.wall
                )
            )
        return rows

    def _held(self, alert: Alert, receiver: str, reason: str) -> AlertHeld:
        """Why a notification was not sent: recorded, never silently dropped."""
        self.stats.held[held_reason(reason)] += 1
        return AlertHeld(
            at=self.clock.now(),
            service=alert.labels.get("service"),
            alert_id=alert.id,
            receiver=receiver,
            reason=reason,
        )

    async def _save(self, alert: Alert) -> None:
        await self.store.put_alert(self._row(alert))

    def _row(self, alert: Alert) -> AlertRow:
        snapshot = self.escalation.snapshot_of(alert.id)
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
                "escalation": snapshot,
                "started_wall": self._started_wall.get(alert.id, now),
                "boot_id": self.clock.boot_id(),  # whether `escalation`'s mono is ours
                "withheld": [[r, list(c), lv] for r, c, lv in self._withheld.get(alert.id, ())],
                "held": hold.reason if (hold := self._holding.get(alert.id)) else None,
                "held_by": hold.by if hold else None,
                "ack_expired": self.expired_acks.get(alert.id),
                "members": sorted(self._summaries.get(alert.id, ())),
            },
        )

    def _get(self, alert_id: str) -> Alert:
        alert = self.alerts.get(alert_id)
        if alert is None:
            msg = f"no open alert {alert_id!r}"
            raise AlertingError(msg)
        return alert

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.channels.values()), return_exceptions=True)


def _ack_data(ack: Ack) -> dict[str, Any]:
    """An acknowledgement in wall time only (what a client can read)."""
    return {"by": ack.by, "why": ack.why, "at_wall": ack.at_wall, "expires_wall": ack.expires_wall}


def _impact(event: FailureDetected) -> str:
    service = event.service or event.source
    if event.failure_kind in ("crash", "hang"):
        return f"{service} is not processing; trading on it is halted"
    if event.upstream_down:
        return f"{service} affected by {', '.join(event.upstream_down)} being down"
    return f"{service} degraded ({event.failure_kind})"


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
