"""Progress pushes and the all-clear: informational notices of a recovery, each sent once.

Seed 5.4's pushes (started HIGH, 25 / 50 / 75 % MEDIUM, complete HIGH, failed CRITICAL) go
to the `alerting.updates` receivers of the incident's severity (P3 incidents get none); the
all-clear goes to everyone who was paged for the incident (the receivers of its alerts'
notifications) and to those receivers. Which milestones an incident crossed is folded from
its committed events (`progress_story.py`).

Exactly once, also across a `kill -9`: each notice is an alert with a deterministic id
(`<incident>:progress:<milestone>`, `<incident>:all-clear`), stored resolved (no ladder, no
ack needed) in the SAME commit as its notification rows (`OutboxWorker.submit(rows,
alert=row)`). A notice whose row exists was sent (the outbox delivers its pending rows after
a restart, with the rows' idempotency keys); `catch_up` folds the stored events after a
restart and sends, once, the milestones crossed whose row a crash cut off. Channels that
open an incident per message (PagerDuty, Alertmanager, Jira) are skipped: a push there would
be a page nobody can resolve.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import Any

import structlog

from paramedic.alerting.book import AlertBook
from paramedic.alerting.codec import alert_from_data
from paramedic.alerting.drill import DRILL_LABEL, DRILL_TO_LABEL, drill_alert, drill_contacts
from paramedic.alerting.events import AlertRaised
from paramedic.alerting.model import Alert, dashboard_link
from paramedic.alerting.model import alert_id as failure_alert_id
from paramedic.alerting.notices import Notices
from paramedic.alerting.outbox import OutboxWorker
from paramedic.alerting.progress_story import (
    ALL_CLEAR,
    ALL_CLEAR_TYPE,
    PRIORITY,
    PUSH_TYPE,
    Milestone,
    Story,
    all_clear_lines,
    all_clear_what,
    fold,
    headline,
    milestone_id,
    push_severity,
)
from paramedic.alerting.templates import TemplateKind
from paramedic.config.alerting import ContactConfig
from paramedic.core.clock import Clock
from paramedic.core.contracts import Submit
from paramedic.core.events import Event, NoteAdded
from paramedic.core.incident_events import (
    IncidentOpened,
    IncidentTransitioned,
    RecoveryFinished,
    RecoveryProgress,
    RecoveryStepFinished,
)
from paramedic.core.severity import SEVERITIES, Severity
from paramedic.store.outbox import NotificationRow, OutboxStore
from paramedic.store.protocol import Store
from paramedic.store.timeline import decode, read_rows

__all__ = ["PUSH_KINDS", "ProgressPushes"]

log = structlog.get_logger("paramedic.alerting")

PUSH_KINDS: tuple[str, ...] = tuple(
    e.kind
    for e in (
        IncidentOpened,
        IncidentTransitioned,
        RecoveryProgress,
        RecoveryStepFinished,
        RecoveryFinished,
        NoteAdded,
    )
)
"""The stored events a restart folds to find the milestones crossed before the crash."""

_RECENT_S = 86_400.0  # a closed incident's all-clear is still owed this long after it closed
# Channels whose every message opens an incident: a notice there could never be resolved.
_INCIDENT_CHANNELS = frozenset({"pagerduty", "alertmanager", "jira"})
_KEEP = 10_000  # incidents remembered; the oldest are let go first


class ProgressPushes:
    """Folds the recovery's events and sends each notice once per incident."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: OutboxStore,
        book: AlertBook,
        outbox: OutboxWorker,
        notices: Notices,
        contacts: Mapping[str, ContactConfig],
        updates: Mapping[Severity, Sequence[str]],
        channel_kinds: Mapping[str, str],
        submit: Submit,
        dashboard_url: str = "",
        target_rto_s: float | None = None,
    ) -> None:
        self._clock = clock
        self._store = store
        self._book = book
        self._outbox = outbox
        self._notices = notices
        self._contacts = contacts
        self._updates = updates
        self._kinds = channel_kinds
        self._submit = submit
        self._dashboard = dashboard_url
        self._target = target_rto_s
        self.stories: dict[str, Story] = {}
        self._claimed: dict[str, None] = {}  # notice ids being sent or sent by this process
        self._tails: dict[str, asyncio.Future[None]] = {}  # per incident: its last sender

    # -- in --------------------------------------------------------------------------------------

    def on_event(self, event: Event) -> Coroutine[Any, Any, int]:
        """A committed event: folded NOW (the intake calls this in bus order, so a progress
        event never overtakes the move that started the recovery); the coroutine returned
        sends what it crossed, after the notices an earlier event of the incident crossed
        (committed in the order crossed), and returns how many notices went out."""
        crossed = fold(self.stories, event)
        self._bound()
        incident = getattr(event, "incident", None)
        if not crossed or not isinstance(incident, str):
            return self._send_all(None, [], None)
        story = self.stories[incident]
        claimed = [m for m in crossed if self._claim(story, m)]
        return self._send_all(story, claimed, self._queue(incident))

    def _queue(self, incident: str) -> tuple[asyncio.Future[None] | None, asyncio.Future[None]]:
        """(the previous sender of `incident` to wait for, this one's turn to signal)."""
        before = self._tails.get(incident)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[incident] = mine
        return before, mine

    async def _send_all(
        self,
        story: Story | None,
        milestones: list[Milestone],
        turn: tuple[asyncio.Future[None] | None, asyncio.Future[None]] | None,
    ) -> int:
        before, mine = turn if turn is not None else (None, None)
        sent = 0
        try:
            if before is not None:
                await asyncio.shield(before)
            for i, milestone in enumerate(milestones):
                assert story is not None
                try:
                    sent += await self._send(story, milestone)
                except BaseException:
                    # Not sent: a later catch-up (the store back, a restart) may send them.
                    for left in milestones[i:]:
                        self._claimed.pop(milestone_id(story.incident, left), None)
                    raise
        finally:
            if mine is not None:
                mine.set_result(None)
                if story is not None and self._tails.get(story.incident) is mine:
                    del self._tails[story.incident]
        return sent

    async def catch_up(self, timeline: Store, incidents: Sequence[Event]) -> int:
        """After a restart (or the store's return): send each milestone crossed whose notice
        a crash cut off. `incidents` are the stored incident openings and moves (oldest
        first); they name the incidents that can still owe a notice: those still open, and
        those closed within the last day (their all-clear; their progress is history). Only
        their services' recovery events since the first of them opened are read back.
        Incidents folded live are kept as they are (they saw every event); nothing is sent
        for an incident of which no notice was ever stored once it is closed (before this
        feature, or a P3 one). Returns how many."""
        moves: dict[str, Story] = {}
        for event in incidents:
            fold(moves, event)
        since = self._clock.wall() - _RECENT_S
        wanted = {
            k: story
            for k, story in moves.items()
            if k not in self.stories
            and story.reached
            and (not story.closed or (ALL_CLEAR in story.reached and story.closed_wall >= since))
        }
        stored: dict[str, Story] = {}
        for event in await _read_back(timeline, wanted.values()):
            fold(stored, event)
        sent = 0
        for incident in wanted:
            live = self.stories.setdefault(incident, stored.get(incident) or moves[incident])
            due = list(live.reached)
            if live.closed:
                first = milestone_id(incident, live.reached[0])
                if await self._store.get_alert(first) is None:
                    continue
                due = [ALL_CLEAR]
            for milestone in due:
                if self._claim(live, milestone):
                    sent += await self._send(live, milestone)
        self._bound()
        if sent:
            log.warning("progress notices a crash cut off were sent", notices=sent)
        return sent

    # -- out -------------------------------------------------------------------------------------

    def _claim(self, story: Story, milestone: Milestone) -> bool:
        key = milestone_id(story.incident, milestone)
        if key in self._claimed:
            return False
        self._claimed[key] = None
        return True

    async def _send(self, story: Story, milestone: Milestone) -> int:
        notice_id = milestone_id(story.incident, milestone)
        if await self._store.get_alert(notice_id) is not None:
            return 0  # sent before a restart: its pending rows are the outbox's
        failure = failure_alert_id(story.incident, "failure")
        if failure in self._book.holding:
            return 0  # held (silenced, in a maintenance window, a duplicate): no noise either
        paged = await self._failure_alert(story.incident)
        if paged is None:
            self._claimed.pop(notice_id, None)  # its alert row is not written yet: later
            return 0
        severity = paged.severity
        if severity == "P3" or severity not in self._updates:
            return 0  # P3 incidents get no notices
        alert = self._alert(story, milestone)
        receivers = self._receivers(self._updates[severity])
        if milestone == ALL_CLEAR:
            paged_people = await self._paged(story.incident)
            started = await self._store.get_alert(milestone_id(story.incident, "started"))
            if not paged_people and started is None:
                return 0  # held all along (a dependency down, silenced): nobody to close with
            receivers = _merged(paged_people, receivers)
        named = drill_contacts(paged)
        if named is not None:  # a drill's incident: its notices too go only to its contacts
            drill = {k: paged.labels[k] for k in (DRILL_LABEL, DRILL_TO_LABEL) if k in paged.labels}
            alert = drill_alert(dataclasses.replace(alert, labels={**alert.labels, **drill}))
            receivers = {k: v for k, v in receivers.items() if k in named}
        rows: list[NotificationRow] = []
        rendered: dict[TemplateKind, str] = {}
        for receiver, channels in receivers.items():
            rows += self._notices.rows(alert, "trigger", receiver, channels, 0, rendered)
        now = self._clock.now()
        self._submit(
            [
                AlertRaised(
                    at=now,
                    service=story.service or None,
                    alert_id=notice_id,
                    severity=alert.severity,
                    title=alert.title,
                    severity_reason=alert.severity_reason,
                    receivers=tuple(receivers),
                )
            ]
        )
        await self._outbox.submit(rows, alert=self._book.row(alert.resolve(alert.status)))
        return 1

    def _alert(self, story: Story, milestone: Milestone) -> Alert:
        title, what = headline(story, milestone)
        actions: tuple[str, ...] = ()
        if milestone == ALL_CLEAR:
            what = all_clear_what(story, self._target)
            actions = all_clear_lines(story)
        kind = ALL_CLEAR_TYPE if milestone == ALL_CLEAR else PUSH_TYPE
        priority = PRIORITY[milestone]
        service = story.service
        return Alert(
            id=milestone_id(story.incident, milestone),
            type=kind,
            source=service,
            severity=push_severity(milestone),
            title=title,
            labels={
                "service": service,
                "kind": kind,
                "milestone": milestone,
                "priority": priority.lower(),
            },
            what=what,
            when_wall=self._clock.wall(),
            impact="informational: no action or acknowledgement needed",
            status=f"{story.state} ({story.percentage}%)",
            actions=actions,
            dashboard=dashboard_link(self._dashboard, story.incident),
            severity_reason=f"{priority} recovery notice ({milestone})",
            incident=story.incident,
        )

    async def _failure_alert(self, incident: str) -> Alert | None:
        """The incident's failure alert (open, or stored): its severity is the notices', and
        a drill's labels on it make them a drill's."""
        found = failure_alert_id(incident, "failure")
        alert = self._book.alerts.get(found)
        if alert is not None:
            return alert
        row = await self._store.get_alert(found)
        if row is None or row.severity not in SEVERITIES:
            log.info("no alert for the incident; no progress notice", incident=incident)
            return None
        return alert_from_data(row.data["alert"])

    def _receivers(self, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """`contact` or `contact:channel` -> the contact's channels that may carry a notice."""
        out: dict[str, list[str]] = {}
        for name in names:
            contact, _, channel = name.partition(":")
            known = self._contacts.get(contact)
            if known is None:
                continue
            chans = out.setdefault(contact, [])
            for c in (channel,) if channel else tuple(known.channels):
                if c not in chans and self._kinds.get(c) not in _INCIDENT_CHANNELS:
                    chans.append(c)
        return {k: tuple(v) for k, v in out.items() if v}

    async def _paged(self, incident: str) -> dict[str, tuple[str, ...]]:
        """Everyone a page of the incident went to, on the channels it reached them on."""
        out: dict[str, list[str]] = {}
        pages = [
            row.id
            for row in await self._store.alerts(limit=5_000)
            if row.incident == incident
            and not row.id.startswith(f"{incident}:progress:")
            and row.id != milestone_id(incident, ALL_CLEAR)
        ]
        sent = await self._store.deliveries(pages) if pages else {}
        for alert in pages:
            for n, _attempts in sent.get(alert, ()):
                labels = n.payload.get("labels") or {}
                receiver = str(labels.get("receiver") or "")
                if n.action != "trigger" or not receiver:
                    continue
                chans = out.setdefault(receiver, [])
                if n.channel not in chans and self._kinds.get(n.channel) not in _INCIDENT_CHANNELS:
                    chans.append(n.channel)
        return {k: tuple(v) for k, v in out.items() if v}

    def _bound(self) -> None:
        while len(self.stories) > _KEEP:
            old = self.stories.pop(next(iter(self.stories)))
            for milestone in old.reached:
                self._claimed.pop(milestone_id(old.incident, milestone), None)


def _merged(
    first: Mapping[str, tuple[str, ...]], then: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    out = {k: list(v) for k, v in first.items()}
    for receiver, channels in then.items():
        chans = out.setdefault(receiver, [])
        chans.extend(c for c in channels if c not in chans)
    return {k: tuple(v) for k, v in out.items()}


async def _read_back(timeline: Store, stories: Iterable[Story]) -> list[Event]:
    """The recovery events of the stories' services since the first of them opened (one
    small read of the openings per service to find where that is), oldest first."""
    firsts: dict[str, set[str]] = {}
    for story in stories:
        firsts.setdefault(story.service, set()).add(story.incident)
    events: list[Event] = []
    for service, names in firsts.items():
        opened = await read_rows(timeline, service=service, kinds=(IncidentOpened.kind,))
        seqs = [r.seq for r in opened if r.payload.get("incident") in names]
        after = min(seqs) - 1 if seqs else 0
        events += decode(await read_rows(timeline, service=service, kinds=PUSH_KINDS, after=after))
    return events
