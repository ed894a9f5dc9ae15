"""Status updates: the alert of a recovering incident says where the recovery is, as it goes.

The intake hands every event here (`observe`); `live_status.py` folds it into the incident's
live status. The incident's failure alert then carries that status (the API and every later
page read it), and an update goes to each channel that got its trigger:

- a change of phase (detected, awaiting approval, recovering, validating, resuming,
  recovered, failed, manual recovery) goes at once, to every channel (a channel that cannot
  change a sent message gets it as a follow-up message);
- progress within a phase (a step finished, a new ETA) goes only to channels that can update
  what they sent (`Channel.updates`: PagerDuty re-triggers the same `dedup_key` with new
  details, an email replies in the first message's thread, Slack with a bot token edits the
  posted message, a webhook receiver gets the document again), and at most once per `every`
  seconds per alert: a change inside the
  interval is sent when it ends, carrying whatever is true by then.

Updates are notification rows like any page: committed with the alert's row before the
first attempt, retried under one idempotency key (`<alert>:update:<receiver>:<channel>:0:
<status>`). The key names the status, so after a restart the same status folded again is
not sent twice. Only the incidents of services with a recovery plan are followed: a service
without one resolves its alert when the failure clears, and has nothing to report before.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping

import structlog

from paramedic.alerting.book import AlertBook
from paramedic.alerting.channels.base import Channel
from paramedic.alerting.live_status import LiveStatus, LiveStatuses, apply
from paramedic.alerting.model import Alert, alert_id
from paramedic.alerting.notices import Notices
from paramedic.alerting.outbox import OutboxWorker
from paramedic.alerting.recovering import Planned
from paramedic.alerting.templates import TemplateKind
from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.contracts import Job
from paramedic.core.events import Event
from paramedic.core.incident_events import IncidentOpened
from paramedic.store.outbox import NotificationRow, OutboxStore

__all__ = ["StatusUpdates"]

log = structlog.get_logger("paramedic.alerting")

_KEEP = 10_000  # incidents followed at once (as `recovering.py` remembers them)
# A channel that names what it posted says `ref=<id>` in a delivered attempt's detail
# (slack_bot.py: the message's `ts`), which the outbox stores with the notification.
_REF = re.compile(r"\bref=(\S+)")


class StatusUpdates:
    """Keeps each recovering incident's alert current and tells its receivers."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: OutboxStore,
        book: AlertBook,
        outbox: OutboxWorker,
        notices: Notices,
        channels: Mapping[str, Channel],
        planned: Planned,
        job: Job,
        every: float = 30.0,
    ) -> None:
        self._clock = clock
        self._store = store
        self._book = book
        self._outbox = outbox
        self._notices = notices
        self._channels = channels
        self._planned = planned
        self._job = job
        self.every = every
        self.statuses = LiveStatuses()
        self._followed: dict[str, None] = {}  # incidents of planned services, oldest first
        self._last: dict[str, float] = {}  # alert -> monotonic time of its last update
        self._timers: dict[str, TimerHandle] = {}
        # Keys submitted per open alert: two changes handled in one tick read the store
        # before either committed, and must not both send the same status.
        self._keys: dict[str, set[str]] = {}

    def observe(self, event: Event) -> None:
        """Fold one bus event (called in bus order, before any await); the alert and its
        receivers are told in a job, which starts after the job raising the alert."""
        if isinstance(event, IncidentOpened):
            if not self._planned(event.service or ""):
                return
            self._follow(event.incident)
        change = self.statuses.observe(event)
        if change is None or change.incident not in self._followed:
            return
        # A change of phase is announced, even if the next one comes before the job runs
        # (that one has its own job): the status is copied here, in bus order, and sent if
        # the phase has moved on by then (within one phase, the latest details are sent).
        said = copy.deepcopy(self.statuses.get(change.incident)) if change.phase_changed else None
        self._job(self._changed(change.incident, phase=change.phase_changed, said=said))

    def current(self, alert: Alert) -> Alert:
        """`alert` with its incident's live status (a raise after the incident's events: a
        restart's catch-up). The ETA of a service without a plan is unknown, and says so."""
        incident = alert.incident or ""
        status = self.statuses.get(incident) if incident in self._followed else None
        return apply(alert, status, self._clock.wall())

    def fold(self, events: list[Event]) -> None:
        """After a restart: the stored incident events, oldest first, folded without sending
        (what they said was sent before the crash, or is superseded by the next event)."""
        for event in events:
            if isinstance(event, IncidentOpened) and self._planned(event.service or ""):
                self._follow(event.incident)
            self.statuses.observe(event)

    def _follow(self, incident: str) -> None:
        self._followed[incident] = None
        while len(self._followed) > _KEEP:  # incidents never closed age out, oldest first
            oldest = next(iter(self._followed))
            del self._followed[oldest]
            self.statuses.forget(oldest)
            self._let_go(alert_id(oldest, "failure"))

    async def catch_up(self) -> int:
        """After a restart (once `fold` has run): each open alert of a followed incident gets
        its current phase, unless that status was sent before the crash (its key is stored):
        a kill between an incident's move and its update's commit loses no change of phase.
        Returns how many alerts were updated."""
        sent = 0
        for incident in list(self._followed):
            status = self.statuses.get(incident)
            aid = alert_id(incident, "failure")
            alert = self._book.alerts.get(aid)
            if status is None or alert is None or alert.state == "resolved":
                continue
            self._book.alerts[aid] = self.current(alert)
            if status.phase != "detected":  # the trigger itself said that
                sent += await self._send(aid, phase=True)
        return sent

    async def _changed(self, incident: str, *, phase: bool, said: LiveStatus | None = None) -> None:
        aid = alert_id(incident, "failure")
        alert = self._book.alerts.get(aid)
        if alert is None or alert.state == "resolved":  # over: the incident is let go of too
            self._let_go(aid)
            self._followed.pop(incident, None)
            self.statuses.forget(incident)
            return
        self._book.alerts[aid] = self.current(alert)
        now = self._clock.monotonic()
        last = self._last.get(aid)
        if last is None:
            # The trigger has just gone (or is going) out with this status: it counts as the
            # first message of the interval.
            self._last[aid] = now
            if not phase:
                return
        if phase or last is None or now - last >= self.every:
            await self._send(aid, phase=phase, said=said)
        elif aid not in self._timers:
            wait = last + self.every - now
            self._timers[aid] = self._clock.call_later(
                wait, lambda: self._job(self._send(aid, phase=False))
            )

    async def _send(self, aid: str, *, phase: bool, said: LiveStatus | None = None) -> int:
        """Returns how many rows were committed; `said`: the status a change of phase
        announces (else the current one)."""
        timer = self._timers.pop(aid, None)
        if timer is not None:
            timer.cancel()
        self._last[aid] = self._clock.monotonic()
        alert = self._book.alerts.get(aid)
        status = self.statuses.get(alert.incident or "") if alert is not None else None
        if alert is None or status is None or alert.state == "resolved":
            return 0
        sent = await self._store.notifications_for(aid)
        alert = self._book.alerts.get(aid)
        if alert is None or alert.state == "resolved":  # resolved meanwhile: that says it all
            self._let_go(aid)
            return 0
        # Events folded during the read: the content must be the status the key names.
        alert = self._book.alerts[aid] = self.current(alert)
        if said is not None and said.phase != status.phase:  # a newer phase came meanwhile
            status = said
            alert = apply(alert, said, self._clock.wall())
        done = self._keys.setdefault(aid, set())
        done.update(n.idempotency_key for n in sent)
        # (receiver, channel) -> its trigger's key, and what the provider called it
        first: dict[tuple[str, str], tuple[str, str]] = {}
        for n in sent:
            if n.action == "trigger":
                target = (n.payload["labels"].get("receiver", ""), n.channel)
                ref = _REF.search(n.last_detail) if n.status == "delivered" else None
                first.setdefault(target, (n.idempotency_key, ref[1] if ref else ""))
        rendered: dict[TemplateKind, str] = {}
        rows: list[NotificationRow] = []
        for (receiver, channel), (thread, reference) in sorted(first.items()):
            if not phase and not getattr(self._channels.get(channel), "updates", False):
                continue
            rows += self._notices.rows(
                alert,
                "update",
                receiver,
                (channel,),
                0,
                rendered,
                repeat=status.fingerprint(),
                thread=thread,
                reference=reference,
            )
        rows = [row for row in rows if row.idempotency_key not in done]
        done.update(row.idempotency_key for row in rows)
        if rows:
            log.debug("status update", alert=aid, status=alert.status, rows=len(rows))
        await self._outbox.submit(rows, alert=self._book.row(alert))
        return len(rows)

    def _let_go(self, aid: str) -> None:
        """The alert is over (or aged out): nothing kept for it outlives it."""
        self._keys.pop(aid, None)
        self._last.pop(aid, None)
        timer = self._timers.pop(aid, None)
        if timer is not None:
            timer.cancel()
