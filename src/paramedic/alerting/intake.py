"""Intake: the events on the bus that page someone, each turned into an alert (or its end).

This is the only place that knows which events page. Each event type has one handler,
registered in one table (`Intake.__init__`): adding an event type that pages is adding one
handler there; nothing downstream (dispatch, escalation, channels) knows events at all.
A handler runs as a job of its own, so the bus listener never waits on the store (jobs
start in bus order, and a handler notes what it learns before its first await).

A failure's alert resolves when the failure clears, unless a recovery plan still owns its
incident (`recovering.py`): then it is kept firing (`alert.kept`) until the incident is
recovered or a human resolves it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import structlog

from paramedic.alerting.answers import Answers
from paramedic.alerting.approval_page import (
    APPROVAL_TYPE,
    answered,
    approval_alert,
    approval_alert_id,
    approval_severity,
    timed_out,
)
from paramedic.alerting.book import AlertBook
from paramedic.alerting.dispatch import Dispatch
from paramedic.alerting.drill import incident_labels
from paramedic.alerting.escalation_levels import Levels
from paramedic.alerting.escalation_pages import EscalationPages
from paramedic.alerting.events import AlertKept
from paramedic.alerting.live_status import first_eta
from paramedic.alerting.model import Alert, alert_from_failure, dashboard_link
from paramedic.alerting.model import alert_id as failure_alert_id
from paramedic.alerting.progress_push import ProgressPushes
from paramedic.alerting.recovering import Planned, Recoveries
from paramedic.alerting.severity import SeverityDecision, SeverityFacts, SeverityPolicy
from paramedic.alerting.updates import StatusUpdates
from paramedic.core.bus import Published
from paramedic.core.clock import Clock
from paramedic.core.contracts import Job, Submit
from paramedic.core.events import Event, NoteAdded
from paramedic.core.failure_events import FailureCleared, FailureDetected
from paramedic.core.incident_events import (
    ApprovalGranted,
    ApprovalRejected,
    ApprovalRequested,
    ApprovalTimedOut,
    EscalationTriggered,
    IncidentOpened,
    IncidentTransitioned,
    RecoveryFinished,
    RecoveryProgress,
    RecoveryStepFinished,
)
from paramedic.core.severity import SEVERITIES, Severity
from paramedic.store.outbox import OutboxStore

__all__ = ["Intake", "ServiceFacts"]

log = structlog.get_logger("paramedic.alerting")

ServiceFacts = Callable[[str], tuple[int | None, Mapping[str, str], str]]  # tier, labels, runbook
Handler = Callable[[Any], Coroutine[Any, Any, object]]
OnCall = Callable[[Severity], tuple[str, ...]]  # who the first rung of a severity pages


class Intake:
    """Bus listener: hands each event that pages to its handler."""

    def __init__(
        self,
        *,
        severity: SeverityPolicy,
        service_facts: ServiceFacts,
        dashboard_url: str,
        api_url: str,
        clock: Clock,
        store: OutboxStore,
        book: AlertBook,
        dispatch: Dispatch,
        answers: Answers,
        job: Job,
        submit: Submit,
        planned: Planned,
        levels: Levels | None = None,
        manual_runbook: Callable[[str], str] = lambda name: "",
        pushes: ProgressPushes,
        updates: StatusUpdates | None = None,
        on_call: OnCall = lambda severity: (),
    ) -> None:
        self._severity = severity
        self._service_facts = service_facts
        self._dashboard = dashboard_url
        self._api_url = api_url
        self._clock = clock
        self._store = store
        self._book = book
        self._dispatch = dispatch
        self._answers = answers
        self._job = job
        self._submit = submit
        self._recoveries = Recoveries(planned)
        self._escalations = EscalationPages(
            levels=levels or Levels(),
            severity=severity,
            service_facts=service_facts,
            manual_runbook=manual_runbook,
            api_url=api_url,
            dashboard_url=dashboard_url,
            store=store,
            book=book,
            dispatch=dispatch,
            answers=answers,
            clock=clock,
            job=job,
        )
        self._pushes = pushes
        self._planned = planned
        self._updates = updates
        self._on_call = on_call
        # The events that page, one handler each (by exact type: a lookup, not a scan).
        self._handlers: dict[type[Event], Handler] = {
            FailureDetected: self.raise_for_failure,
            FailureCleared: self._failure_cleared,
            IncidentOpened: self._incident_opened,
            IncidentTransitioned: self._incident_transitioned,
            ApprovalRequested: self.raise_for_approval,
            ApprovalGranted: self._approval_answered,
            ApprovalRejected: self._approval_answered,
            ApprovalTimedOut: self._approval_timed_out,
            EscalationTriggered: self._escalations.triggered,  # escalation_pages.py
            # the recovery's progress pushes and all-clear (progress_push.py)
            RecoveryProgress: self._progress,
            RecoveryStepFinished: self._progress,
            RecoveryFinished: self._progress,
            NoteAdded: self._progress,
        }

    def on_published(self, published: Published) -> None:
        self._escalations.observe(published.event)  # before the handler plans its pages
        if self._updates is not None:  # every alert carries its incident's live status
            self._updates.observe(published.event)
        handler = self._handlers.get(type(published.event))
        if handler is not None:
            self._job(handler(published.event))

    # -- the handlers ----------------------------------------------------------------------

    async def raise_for_failure(self, event: FailureDetected) -> Alert:
        """An incident opened: an alert, its severity decided from the service's tier and
        labels unless the source stated one (Alertmanager's label)."""
        service = event.service or event.source
        tier, labels, runbook = self._service_facts(service)
        decision = self._severity.decide(
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
            dashboard=dashboard_link(self._dashboard, event.incident),
            impact=_impact(event),
            on_call=self._on_call(decision.severity),
            eta=first_eta(planned=self._planned(service), needs_human=event.needs_human),
        )
        if self._updates is not None:
            alert = self._updates.current(alert)
        return await self._dispatch.raise_alert(alert)

    async def _failure_cleared(self, event: FailureCleared) -> Alert | None:
        """The failure is over: its alert resolves, unless a recovery plan still owns its
        incident (the validation may yet fail): then it is kept firing, and says why."""
        state = self._recoveries.state(event.incident)
        alert_id = failure_alert_id(event.incident, "failure")
        if state is None:
            return await self._answers.resolve(alert_id, by="paramedic", why=event.reason)
        await self._keep(alert_id, event.incident, state, event.reason)
        return None

    async def _incident_opened(self, event: IncidentOpened) -> None:
        """A recovery plan owns the incident from here on; an older incident of the service
        it supersedes (a relapse) has its alert resolved: the new one's carries the outage."""
        self._job(self._pushes.on_event(event))  # folded first: bus order
        for incident, why in self._recoveries.opened(event):
            await self._answers.resolve(
                failure_alert_id(incident, "failure"), by="paramedic", why=why
            )
            await self._escalations.end(incident, why)

    async def _incident_transitioned(self, event: IncidentTransitioned) -> None:
        """One handler per event type: a move can end a planned incident's alert and the
        approval page of the question it left unanswered; the move's progress notices."""
        self._job(self._pushes.on_event(event))  # folded first: bus order
        await self._incident_moved(event)
        await self._left_awaiting_approval(event)

    async def _incident_moved(self, event: IncidentTransitioned) -> None:
        """A planned incident recovered (HEALTHY) or resolved by a human: its alert resolves."""
        why = self._recoveries.moved(event)
        if why is not None:
            await self._answers.resolve(
                failure_alert_id(event.incident, "failure"), by="paramedic", why=why
            )
            await self._escalations.end(event.incident, why)

    async def _progress(self, event: Event) -> int:
        """The recovery's progress, steps, runs and notes: folded as this job starts (jobs
        start in bus order, so never before the move that started the recovery, which the
        move's handler folds as it starts too); its notices sent (`progress_push.py`)."""
        return await self._pushes.on_event(event)

    async def _keep(self, alert_id: str, incident: str, state: str, cleared: str) -> None:
        """Keep an open alert firing after its failure cleared: the reason in its row (a
        restart reloads it) and on the timeline, once."""
        alert = self._book.alerts.get(alert_id)
        if alert is None or alert.state == "resolved" or alert_id in self._book.kept:
            return
        why = (
            f"the failure cleared ({cleared}) but incident {incident} is {state}; the alert"
            " resolves when the incident is recovered (HEALTHY) or a human resolves it"
        )
        self._book.kept[alert_id] = why
        await self._book.save(alert)
        self._submit(
            [
                AlertKept(
                    at=self._book.clock.now(),
                    service=alert.labels.get("service"),
                    alert_id=alert_id,
                    incident=incident,
                    state=state,
                    reason=why,
                )
            ]
        )

    async def raise_for_approval(self, event: ApprovalRequested) -> Alert:
        """A human must decide: the approvers are paged (the route of approval pages), at the
        incident's severity, never below P1."""
        # No await before the alert is in the book: an answer handled meanwhile finds it.
        if (page := self._book.alerts.get(approval_alert_id(event))) is not None:
            return page  # one page per request
        failure = self._book.alerts.get(failure_alert_id(event.incident, "failure"))
        severity, why = approval_severity(failure.severity if failure else None)
        service = event.service or ""
        _tier, labels, runbook = self._service_facts(service)
        alert = approval_alert(
            event,
            severity=severity,
            severity_reason=why,
            now_wall=self._clock.wall(),
            api_url=self._api_url,
            dashboard=dashboard_link(self._dashboard, event.incident),
            labels=incident_labels(labels, failure),  # a drill's incident: the drill's
            runbook=runbook,
        )
        return await self._dispatch.raise_alert(alert)

    async def _approval_answered(self, event: ApprovalGranted | ApprovalRejected) -> None:
        """Approved or rejected: the page resolves, naming who answered."""
        await self._resolve_approval(event.incident, by=event.by, why=answered(event))

    async def _approval_timed_out(self, event: ApprovalTimedOut) -> None:
        """Nobody answered in time: the page resolves saying so (the escalation that
        follows is its own page); a late answer still works, the request stays open."""
        await self._resolve_approval(event.incident, by="paramedic", why=timed_out(event))

    async def _left_awaiting_approval(self, event: IncidentTransitioned) -> None:
        """The question went away unanswered (taken to manual, the failure cleared)."""
        if event.from_state == "AWAITING_APPROVAL":
            await self._resolve_approval(event.incident, by="paramedic", why=event.reason)

    async def _resolve_approval(self, incident: str, *, by: str, why: str) -> None:
        # At most one request of an incident is open at a time; its page is the open alert
        # of that incident with the approval type.
        pages = [
            a.id
            for a in self._book.alerts.values()
            if a.incident == incident and a.type == APPROVAL_TYPE and a.state != "resolved"
        ]
        for page in pages:
            await self._answers.resolve(page, by=by, why=why)

    # -- after a crash -----------------------------------------------------------------------

    async def catch_up(
        self,
        failures: Sequence[FailureDetected],
        cleared: Mapping[str, FailureCleared],
        incidents: Sequence[Event] = (),
        approvals: Sequence[ApprovalRequested] | None = None,
    ) -> tuple[int, int]:
        """After the restart: finish what a crash cut off. A failure the timeline holds
        without its alert row gets its alert now (the row's id is the incident's, so one
        that did commit is not raised twice); an open alert whose failure cleared before the
        resolve committed is resolved, unless a recovery plan still owns its incident (kept,
        as it would have been); one whose incident recovered, was resolved by a human or was
        superseded before the resolve committed is resolved. `incidents` are the stored
        incident events (opened, transitioned), oldest first. `approvals`, the requests still
        waiting for an answer (None: not read), likewise: each gets its page unless its row
        exists, and an open approval page whose request was answered, timed out or went away
        while the resolve had not committed is resolved. The escalation pages are caught up
        from the same incident events (`escalation_pages.py`). Returns (raised, resolved)."""
        ended = self._recoveries.fold(incidents)
        raised, resolved = await self._escalations.catch_up(incidents)
        if self._updates is not None:
            self._updates.fold(list(incidents))
        for failure in failures:
            if await self._store.get_alert(failure_alert_id(failure.incident, "failure")) is None:
                log.warning("raising an alert a crash cut off", incident=failure.incident)
                await self.raise_for_failure(failure)
                raised += 1
        waiting = {approval_alert_id(r) for r in approvals or ()}
        for request in approvals or ():
            if await self._store.get_alert(approval_alert_id(request)) is None:
                log.warning("raising an approval page a crash cut off", incident=request.incident)
                await self.raise_for_approval(request)
                raised += 1
        for alert in list(self._book.alerts.values()):
            incident = alert.incident or ""
            if alert.id != failure_alert_id(incident, "failure"):
                continue
            why = ended.get(incident)
            clear = cleared.get(incident)
            if why is None and clear is not None:
                if (state := self._recoveries.state(incident)) is not None:
                    await self._keep(alert.id, incident, state, clear.reason)
                    continue
                why = clear.reason
            if why is not None:
                done = await self._answers.resolve(alert.id, by="paramedic", why=why)
                resolved += done is not None
        if self._updates is not None:  # a change of phase a crash cut off
            await self._updates.catch_up()
        if approvals is not None:
            for alert in list(self._book.alerts.values()):
                if alert.type == APPROVAL_TYPE and alert.id not in waiting:
                    why = "the request was answered or timed out while paramedic was down"
                    done = await self._answers.resolve(alert.id, by="paramedic", why=why)
                    resolved += done is not None
        return raised, resolved


def _impact(event: FailureDetected) -> str:
    service = event.service or event.source
    if event.failure_kind in ("crash", "hang"):
        return f"{service} is not processing; trading on it is halted"
    if event.upstream_down:
        return f"{service} affected by {', '.join(event.upstream_down)} being down"
    return f"{service} degraded ({event.failure_kind})"
