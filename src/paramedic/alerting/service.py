"""The alerting pipeline's public face: built from the config, started, run, answered.

The work is done in stages, one module each, in the order an alert travels:
`intake.py` (bus events -> alerts), `dispatch.py` (route, mute, fatigue, outbox; the
ladder's pages), `held.py` (what a mute or a duplicate held, paged once it has gone),
`summaries.py`, `answers.py` (ack, resolve), `feedback.py` (what a delivery attempt means),
`testpage.py`, `restart.py`; they share the book of open alerts (`book.py`).

Every step is recorded before it acts: the alert row before its first notification, a
notification row before its first attempt. After a crash `start()` reloads pending
notifications (they resume at their original due times) and the open alerts' escalation
ladders (overdue rungs fire once); `catch_up` finishes what the crash cut off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence

import structlog

from paramedic.alerting.answers import Answers, SilencesEnded
from paramedic.alerting.approval_page import approval_route
from paramedic.alerting.book import AlertBook
from paramedic.alerting.channels.base import Channel
from paramedic.alerting.dispatch import Dispatch
from paramedic.alerting.escalation import EscalationEngine
from paramedic.alerting.escalation_levels import Levels, escalation_route
from paramedic.alerting.fatigue import FatiguePolicy
from paramedic.alerting.feedback import DeliveryFeedback
from paramedic.alerting.held import HeldAlerts
from paramedic.alerting.intake import Intake, ServiceFacts
from paramedic.alerting.model import Alert
from paramedic.alerting.notices import Notices
from paramedic.alerting.outbox import OutboxWorker
from paramedic.alerting.progress_push import ProgressPushes
from paramedic.alerting.recovering import Planned
from paramedic.alerting.restart import resume
from paramedic.alerting.routing import Router
from paramedic.alerting.severity import SeverityPolicy
from paramedic.alerting.silences import Muter
from paramedic.alerting.stats import AlertStats
from paramedic.alerting.summaries import Summaries
from paramedic.alerting.templates import AlertRenderer
from paramedic.alerting.testpage import TestPager
from paramedic.alerting.updates import StatusUpdates
from paramedic.config.alerting import AlertingConfig
from paramedic.core.bus import Published
from paramedic.core.clock import Clock
from paramedic.core.contracts import Job, Submit
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureCleared, FailureDetected
from paramedic.core.incident_events import ApprovalRequested
from paramedic.core.severity import Severity
from paramedic.store.outbox import OutboxStore
from paramedic.store.protocol import Store

__all__ = ["AlertingService", "ServiceFacts", "first_rung"]

log = structlog.get_logger("paramedic.alerting")


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
        api_url: str = "",
        approvers: Sequence[str] = (),
        depends_on: Mapping[str, Iterable[str]] | None = None,
        planned: Planned = lambda name: False,
        manual_runbook: Callable[[str], str] = lambda name: "",
        target_rto_s: float | None = None,
        timeline: Store | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.channels = dict(channels)
        self.stats = AlertStats()  # bounded-label counters for /metrics
        # Told the ids of until-resolved silences a resolve ended (so they are stored ended).
        self.on_silences_ended: SilencesEnded | None = None
        self.muter = Muter.from_config(
            config.silences, config.inhibit_rules, config.maintenance_windows, depends_on
        )
        # Approval pages go to the approvers (recovery.approval.approvers) rather than down
        # the tree; with none, they follow the tree like any alert.
        # Escalation pages during a recovery go to the level of the P0 outage ladder they name.
        levels = Levels.from_policy(config.escalation.policies.get("P0"))
        root = escalation_route(approval_route(config.routes, approvers), levels)
        router = Router.from_config(root, config.contacts)
        fatigue = FatiguePolicy.from_config(config)
        # The ladder's timer and the outbox's results call back into stages built after
        # them: each is bound late, through the stage that handles it.
        self.escalation = EscalationEngine.from_config(
            clock, lambda fired: self._dispatch.escalated(fired), config.escalation
        )
        self.outbox = OutboxWorker(
            store,
            self.channels,
            clock,
            on_result=lambda row, result, n: self._feedback.delivered(row, result, n),
        )
        self.book = AlertBook(clock, store, self.escalation.snapshot_of)
        self.alerts = self.book.alerts  # what the API, metrics and the CLI read
        self.expired_acks = self.book.expired_acks
        notices = Notices(self.channels, AlertRenderer(config.template_dir), clock)
        self._fatigue = fatigue
        self._dispatch = Dispatch(
            clock=clock,
            book=self.book,
            router=router,
            muter=self.muter,
            fatigue=fatigue,
            escalation=self.escalation,
            outbox=self.outbox,
            notices=notices,
            contacts=config.contacts,
            stats=self.stats,
            submit=submit,
            job=job,
        )
        self.alerts_total = self._dispatch.alerts_total
        self._held = HeldAlerts(
            clock=clock,
            store=store,
            book=self.book,
            router=router,
            muter=self.muter,
            dispatch=self._dispatch,
            outbox=self.outbox,
            notices=notices,
            submit=submit,
        )
        self._summaries = Summaries(
            clock=clock,
            book=self.book,
            router=router,
            fatigue=fatigue,
            contacts=config.contacts,
            outbox=self.outbox,
            notices=notices,
            submit=submit,
        )
        self._answers = Answers(
            clock=clock,
            store=store,
            book=self.book,
            escalation=self.escalation,
            muter=self.muter,
            fatigue=fatigue,
            dispatch=self._dispatch,
            held=self._held,
            summaries=self._summaries,
            outbox=self.outbox,
            notices=notices,
            channels=self.channels.keys(),
            submit=submit,
            silences_ended=self._silences_ended,
        )
        self._feedback = DeliveryFeedback(
            clock=clock,
            store=store,
            book=self.book,
            escalation=self.escalation,
            dispatch=self._dispatch,
            outbox=self.outbox,
            notices=notices,
            stats=self.stats,
            job=job,
        )
        self.notifications_total = self._feedback.notifications_total
        self._test_pager = TestPager(
            clock=clock,
            book=self.book,
            router=router,
            outbox=self.outbox,
            notices=notices,
            channels=self.channels.keys(),
            submit=submit,
        )
        self._timeline = timeline  # the events a restart reads back for progress notices
        self.pushes = ProgressPushes(
            clock=clock,
            store=store,
            book=self.book,
            outbox=self.outbox,
            notices=notices,
            contacts=config.contacts,
            updates=config.updates,
            channel_kinds={k: str(getattr(c, "kind", "")) for k, c in self.channels.items()},
            submit=submit,
            dashboard_url=dashboard_url,
            target_rto_s=target_rto_s,
        )
        self.status_updates = StatusUpdates(
            clock=clock,
            store=store,
            book=self.book,
            outbox=self.outbox,
            notices=notices,
            channels=self.channels,
            planned=planned,
            job=job,
            every=config.status_updates_every,
        )
        self._intake = Intake(
            severity=SeverityPolicy.from_config(config.severity_rules),
            service_facts=service_facts,
            dashboard_url=dashboard_url,
            api_url=api_url,
            clock=clock,
            store=store,
            book=self.book,
            dispatch=self._dispatch,
            answers=self._answers,
            job=job,
            submit=submit,
            planned=planned,
            levels=levels,
            manual_runbook=manual_runbook,
            pushes=self.pushes,
            updates=self.status_updates,
            on_call=lambda severity: first_rung(config, severity),
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume: pending notifications at their due times, open alerts' ladders."""
        await resume(
            clock=self.clock,
            store=self.store,
            book=self.book,
            outbox=self.outbox,
            muter=self.muter,
            fatigue=self._fatigue,
            escalation=self.escalation,
            dispatch=self._dispatch,
        )

    async def catch_up(
        self,
        failures: Sequence[FailureDetected],
        cleared: Mapping[str, FailureCleared],
        incidents: Sequence[Event] = (),
        approvals: Sequence[ApprovalRequested] | None = None,
    ) -> tuple[int, int]:
        """After `start`: raise the alerts and resolves a crash cut off (`Intake.catch_up`);
        `incidents` (the stored incident events) say which alerts a recovery keeps open.
        Returns (raised, resolved); the progress notices a crash cut off are sent too."""
        done = await self._intake.catch_up(failures, cleared, incidents, approvals)
        if self._timeline is not None:
            try:
                await self.pushes.catch_up(self._timeline, incidents)
            except Exception:  # informational notices never stop a start; the next catch-up
                log.exception("sending the progress notices a crash cut off failed")
        return done

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

    async def _summaries_forever(self, every: float = 5.0) -> None:
        """Held and rate-limited P2/P3 alerts are never dropped: their summaries go out."""
        while True:
            await self.clock.sleep(every)
            try:
                await self.flush_summaries()
            except Exception:  # the edge of a tick: in the TaskGroup it would stop the outbox
                log.exception("sending summaries failed")

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.channels.values()), return_exceptions=True)

    # -- in: events and alerts -------------------------------------------------------------------

    def on_published(self, published: Published) -> None:
        """Bus listener: the events that page go to their handler (`intake.py`)."""
        self._intake.on_published(published)

    async def raise_for_failure(self, event: FailureDetected) -> Alert:
        return await self._intake.raise_for_failure(event)

    async def raise_alert(self, alert: Alert) -> Alert:
        """Record the alert, notify its receivers (fatigue and silences permitting), escalate."""
        return await self._dispatch.raise_alert(alert)

    async def test_page(
        self,
        severity: str,
        *,
        channel: str | None,
        by: str,
        alert_id: str | None = None,
        keep_open: bool = False,
    ) -> Alert:
        """Goes where a real alert of that severity goes (or to one channel), never
        escalates, and is resolved at once so nothing stays open; with `keep_open`, it stays
        open to be acknowledged (a scheduled test page held to `ack_within`)."""
        return await self._test_pager.send(
            severity, channel=channel, by=by, alert_id=alert_id, keep_open=keep_open
        )

    # -- answers -----------------------------------------------------------------------------

    async def acknowledge(
        self, alert_id: str, *, by: str, why: str, ttl: float | None = None
    ) -> Alert:
        return await self._answers.acknowledge(alert_id, by=by, why=why, ttl=ttl)

    async def resolve(self, alert_id: str, *, by: str, why: str) -> Alert | None:
        return await self._answers.resolve(alert_id, by=by, why=why)

    def _silences_ended(self, ids: list[str], alert: Alert) -> None:
        if self.on_silences_ended is not None:
            self.on_silences_ended(ids, alert)

    # -- what held alerts back is gone; what fatigue held goes out -------------------------------

    async def sweep(self) -> int:
        """Forget the silences past their end and page what a mute that ended by the clock
        held. Returns how many alerts were paged."""
        return await self._held.sweep()

    async def reevaluate_held(self, why: str = "") -> int:
        """Page every held alert that still fires and is no longer held; returns how many.
        The one entry point for "something that held alerts back is gone" (`held.py`)."""
        return await self._held.reevaluate(why)

    async def flush_summaries(self) -> int:
        """Send what grouping and rate limits held back as one summary per group/receiver."""
        return await self._summaries.flush()


def first_rung(config: AlertingConfig, severity: Severity) -> tuple[str, ...]:
    """Who is on call for an alert: the contacts its ladder pages at once (display names
    where the config gives them), the first of them the on-call, the others backups."""
    policy = config.escalation.policies.get(severity)
    if policy is None:
        return ()
    names = [c for step in policy.steps if step.after == 0 for c in step.contacts]
    shown = [config.contacts[n].display or n if n in config.contacts else n for n in names]
    return tuple(dict.fromkeys(shown))
