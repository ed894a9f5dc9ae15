"""The escalation pages' stage: plan a trigger's pages, raise them, resolve them at the end.

The levels and the content are pure (`escalation_levels.py`, `recovery_escalation.py`);
this adds what the intake knows (the severity rules, the service's labels and runbooks, the
failure alert's ladder) and does the I/O. A trigger's pages are planned synchronously when
the bus hands the event over, so two triggers in a row mark the levels paged in order; they
are raised by the job that follows. One timer per escalated open incident pages the next
level when the outage reaches it. After a restart every trigger of an open incident is
planned again from the stored timeline, with the levels reached while paramedic was down,
and only a page without its row is raised: no level is paged twice and none is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import structlog

from paramedic.alerting.answers import Answers
from paramedic.alerting.book import AlertBook
from paramedic.alerting.dispatch import Dispatch
from paramedic.alerting.drill import incident_labels
from paramedic.alerting.escalation_levels import (
    ESCALATION_TYPE,
    Levels,
    louder,
    page_floor,
    rule_kind,
)
from paramedic.alerting.model import Alert, alert_id, dashboard_link
from paramedic.alerting.recovery_escalation import EscalationFacts, PageContext
from paramedic.alerting.severity import SeverityFacts, SeverityPolicy
from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.contracts import Job
from paramedic.core.events import Event
from paramedic.core.incident_events import EscalationTriggered, IncidentOpened, IncidentTransitioned
from paramedic.store.outbox import OutboxStore

__all__ = ["EscalationPages"]

log = structlog.get_logger("paramedic.alerting")

ServiceFacts = Callable[[str], tuple[int | None, Any, str]]  # tier, labels, runbook


class EscalationPages:
    """Turns `escalation.triggered` into pages and ends them with their incident."""

    def __init__(
        self,
        *,
        levels: Levels,
        severity: SeverityPolicy,
        service_facts: ServiceFacts,
        manual_runbook: Callable[[str], str],
        api_url: str,
        dashboard_url: str,
        store: OutboxStore,
        book: AlertBook,
        dispatch: Dispatch,
        answers: Answers,
        clock: Clock,
        job: Job,
    ) -> None:
        self._facts = EscalationFacts(levels)
        self._severity = severity
        self._service_facts = service_facts
        self._manual_runbook = manual_runbook
        self._api_url = api_url
        self._dashboard = dashboard_url
        self._store = store
        self._book = book
        self._dispatch = dispatch
        self._answers = answers
        self._clock = clock
        self._job = job
        # One timer per escalated open incident, at the outage length of its next level.
        self._timers: dict[str, TimerHandle] = {}

    def observe(self, event: Event) -> None:
        """Every bus event, before its handler runs (the pages name what came before)."""
        try:  # on the bus's listener path: a failure here must not reach the bus
            self._facts.observe(event)
        except Exception:
            log.exception("folding an event for escalation pages failed", kind=event.kind)
        if isinstance(event, IncidentOpened | IncidentTransitioned):
            for incident in [i for i in self._timers if not self._facts.is_open(i)]:
                self._timers.pop(incident).cancel()  # ended (or superseded): no level left

    def triggered(self, event: EscalationTriggered) -> Coroutine[Any, Any, list[Alert]]:
        """Plan now (in bus order), raise in the returned job; the timer then waits for
        the next level."""
        try:  # on the bus's listener path: a failure here must not reach the bus
            pages = self.plan(event, live=True)
            self._arm(event.incident)
        except Exception:
            log.exception("planning escalation pages failed", incident=event.incident)
            pages = []
        return self._raise(event.incident, pages)

    def plan(self, event: EscalationTriggered, *, live: bool) -> list[Alert]:
        """The trigger's pages at the severity the rules give it, never below its floor."""
        return self._facts.pages(event, self._context(event), live=live)

    def _context(self, event: EscalationTriggered) -> PageContext:
        service = event.service or ""
        tier, labels, runbook = self._service_facts(service)
        # A drill's incident pages as the drill's, whatever the service's labels say now.
        labels = incident_labels(labels, self._book.alerts.get(alert_id(event.incident, "failure")))
        manual = self._facts.manual(event)
        decision = self._severity.decide(
            SeverityFacts(
                kind=rule_kind(event.trigger),
                service=service,
                tier=tier,
                labels=labels,
                needs_human=manual,
            )
        )
        floor = page_floor(event.trigger, manual)
        severity = louder(decision.severity, floor)
        why = decision.reason
        if severity != decision.severity:
            ending = " ending in manual recovery" if manual else ""
            why = f"{event.trigger}{ending} pages at {floor} at least"
        ladder = self._book.ladder_of(alert_id(event.incident, "failure"))
        owned: set[str] = set()
        if ladder is not None:
            owned = {str(s) for s in ladder["fired"]} | {str(p["step"]) for p in ladder["pending"]}
        return PageContext(
            severity=severity,
            severity_reason=why,
            labels=dict(labels),
            runbook=runbook,
            manual_runbook=self._manual_runbook(service),
            api_url=self._api_url,
            dashboard=dashboard_link(self._dashboard, event.incident),
            also_paged=frozenset(owned),
        )

    def _overdue(self, incident: str) -> list[Alert]:
        """The levels the outage reached since the last trigger (with its facts)."""
        last = self._facts.open[incident].last if self._facts.is_open(incident) else None
        if last is None:
            return []
        return self._facts.overdue(incident, self._clock.now(), self._context(last))

    def _arm(self, incident: str) -> None:
        timer = self._timers.pop(incident, None)
        if timer is not None:
            timer.cancel()
        wait = self._facts.wait(incident, self._clock.now())
        if wait is not None:
            self._timers[incident] = self._clock.call_later(wait, lambda: self._due(incident))

    def _due(self, incident: str) -> None:
        """The timer: the outage reached a level; page it (once), wait for the next."""
        self._timers.pop(incident, None)
        try:
            pages = self._overdue(incident)
            self._arm(incident)
        except Exception:  # the edge of a timer tick: log, the next trigger plans again
            log.exception("escalation timer failed", incident=incident)
            return
        if pages:
            self._job(self._raise(incident, pages))

    async def _raise(self, incident: str, pages: list[Alert]) -> list[Alert]:
        raised: list[Alert] = []
        for page in pages:
            # Ended meanwhile (its resolve ran between two raises): nothing left to page.
            if not self._facts.is_open(incident) or page.id in self._book.alerts:
                continue
            raised.append(await self._dispatch.raise_alert(page))
        return raised

    async def end(self, incident: str, why: str) -> int:
        """The incident recovered, was resolved by hand or superseded: its pages resolve."""
        pages = [
            a.id
            for a in self._book.alerts.values()
            if a.incident == incident and a.type == ESCALATION_TYPE and a.state != "resolved"
        ]
        done = 0
        for page in pages:
            done += await self._answers.resolve(page, by="paramedic", why=why) is not None
        return done

    async def catch_up(self, incidents: Sequence[Event]) -> tuple[int, int]:
        """After a restart (`incidents`: the stored incident events, oldest first): each
        trigger of an open incident is planned again (its levels marked paged in the same
        order) and a page without its row is raised; the pages of incidents that ended while
        paramedic was down are resolved. Returns (raised, resolved)."""
        raised = 0
        triggers = self._facts.fold(incidents)
        planned = [(t.incident, self.plan(t, live=False)) for t in triggers]
        # The levels the outage reached while paramedic was down (or after the last
        # trigger, on the previous run's timer): planned now, raised if never raised.
        planned += [(i, self._overdue(i)) for i in dict.fromkeys(t.incident for t in triggers)]
        for incident, pages in planned:
            for page in pages:
                if await self._store.get_alert(page.id) is None:
                    log.warning("raising an escalation page a crash cut off", alert=page.id)
                    raised += len(await self._raise(incident, [page]))
        for incident in dict.fromkeys(t.incident for t in triggers):
            self._arm(incident)
        resolved = 0
        for alert in list(self._book.alerts.values()):
            incident = alert.incident or ""
            if alert.type == ESCALATION_TYPE and not self._facts.is_open(incident):
                why = f"incident {incident} ended while paramedic was down"
                done = await self._answers.resolve(alert.id, by="paramedic", why=why)
                resolved += done is not None
        return raised, resolved
