"""The escalation pages' stage: plan a trigger's pages, raise them, resolve them at the end.

The content and the choice of levels are pure (`recovery_escalation.py`); this adds what
the intake knows (the severity rules, the service's labels and runbooks, the failure alert's
ladder) and does the I/O. A trigger's pages are planned synchronously when the bus hands the
event over, so two triggers in a row mark the levels paged in order; they are raised by the
job that follows. After a restart every trigger of an open incident is planned again from
the stored timeline and only a page without its row is raised: no level is paged twice and
none is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import structlog

from paramedic.alerting.answers import Answers
from paramedic.alerting.book import AlertBook
from paramedic.alerting.dispatch import Dispatch
from paramedic.alerting.model import Alert, alert_id
from paramedic.alerting.recovery_escalation import (
    ESCALATION_TYPE,
    EscalationFacts,
    Levels,
    PageContext,
    louder,
    page_floor,
    rule_kind,
)
from paramedic.alerting.severity import SeverityFacts, SeverityPolicy
from paramedic.core.events import Event
from paramedic.core.incident_events import EscalationTriggered
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

    def observe(self, event: Event) -> None:
        """Every bus event, before its handler runs (the pages name what came before)."""
        self._facts.observe(event)

    def triggered(self, event: EscalationTriggered) -> Coroutine[Any, Any, list[Alert]]:
        """Plan now (in bus order), raise in the returned job."""
        return self._raise(event.incident, self.plan(event, live=True))

    def plan(self, event: EscalationTriggered, *, live: bool) -> list[Alert]:
        """The trigger's pages at the severity the rules give it, never below its floor."""
        service = event.service or ""
        tier, labels, runbook = self._service_facts(service)
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
        ctx = PageContext(
            severity=severity,
            severity_reason=why,
            labels=dict(labels),
            runbook=runbook,
            manual_runbook=self._manual_runbook(service),
            api_url=self._api_url,
            dashboard=self._dashboard,
            also_paged=frozenset(ladder["fired"]) if ladder else frozenset(),
        )
        return self._facts.pages(event, ctx, live=live)

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
        for trigger in self._facts.fold(incidents):
            for page in self.plan(trigger, live=False):
                if await self._store.get_alert(page.id) is None:
                    log.warning("raising an escalation page a crash cut off", alert=page.id)
                    raised += len(await self._raise(trigger.incident, [page]))
        resolved = 0
        for alert in list(self._book.alerts.values()):
            incident = alert.incident or ""
            if alert.type == ESCALATION_TYPE and not self._facts.is_open(incident):
                why = f"incident {incident} ended while paramedic was down"
                done = await self._answers.resolve(alert.id, by="paramedic", why=why)
                resolved += done is not None
        return raised, resolved
