"""What became of one scheduled test page: delivered within `deliver_within`, and, where the
schedule asks it (`ack_within`) and the channel pages a person, acknowledged within that bound
of its delivery; otherwise a P2 naming the contact and the channel.

Everything is read back from the store (the page's alert row, its ack, its notifications and
their attempts), and every deadline is wall time counted from stored times, so a check cut off
by a restart of paramedic resumes with its original deadlines. The P2's id is derived from
the page's, so a restart that finds it raised does not raise it again; it is raised before
the page is resolved, so a crash between the two leaves the P2 and a page the next run closes.
"""

from __future__ import annotations

import datetime as dt

import structlog

from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.core.clock import Clock
from paramedic.core.contracts import Record
from paramedic.core.drill_events import TestPageDelivered
from paramedic.core.text import duration
from paramedic.store.outbox import AlertRow, NotificationRow
from paramedic.store.protocol import Store

__all__ = ["TestPageChecks", "failure_id", "page_id"]

log = structlog.get_logger("paramedic.test_pages")

POLL_S = 1.0  # how often a sent page's outcome is read back from the store


def _stamp(firing: float) -> str:
    return dt.datetime.fromtimestamp(firing, dt.UTC).strftime("%Y%m%dT%H%MZ")


def page_id(firing: float, contact: str, channel: str) -> str:
    """The test page of one contact method for one firing: the same on every run."""
    return f"test:sched-{_stamp(firing)}-{contact}-{channel}"


def failure_id(firing: float, contact: str, channel: str) -> str:
    """The P2 of one contact method for one firing (not delivered, or not acknowledged)."""
    return f"tpf_{_stamp(firing)}-{contact}-{channel}"


def _utc(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class TestPageChecks:
    """Follows sent test pages to their outcome and raises the P2s."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(
        self,
        *,
        clock: Clock,
        store: Store,
        alerting: AlertingService,
        record: Record,
        deliver_within: float,
        ack_within: float | None,
    ) -> None:
        self._clock = clock
        self._store = store
        self._alerting = alerting
        self._record = record
        self._deliver_within = deliver_within
        self._ack_within = ack_within

    async def follow(
        self, firing: float, contact: str, channel: str, *, held: bool
    ) -> Alert | None:
        """Wait for the page's outcome; the P2 this run raised, or None. `held`: the page
        must also be acknowledged within `ack_within`."""
        pid = page_id(firing, contact, channel)
        fid = failure_id(firing, contact, channel)
        while True:
            if await self._store.get_alert(fid) is not None:  # raised before a restart
                await self._close(pid, "its P2 was raised")
                return None
            row = await self._store.get_alert(pid)
            if row is None:  # never sent: nothing to follow
                return None
            now = self._clock.wall()
            sent = [r for r in await self._store.notifications_for(pid) if r.action == "trigger"]
            if not (sent and all(r.status == "delivered" for r in sent)):
                failed = [r for r in sent if r.status in ("failed", "cancelled")]
                if failed or now >= row.opened_wall + self._deliver_within:
                    why = "; ".join(r.last_detail for r in sent if r.last_detail) or "no answer"
                    within = duration(self._deliver_within)
                    return await self._fail(
                        fid,
                        pid,
                        contact,
                        channel,
                        "not delivered",
                        f"was not delivered within {within}: {why}",
                    )
                await self._clock.sleep(POLL_S)
                continue
            await self._delivered(pid, contact, channel)
            if not held or self._ack_within is None:
                await self._close(pid, "test page delivered")  # held by an earlier config
                return None
            if _answered(row):
                await self._close(pid, _answer(row))
                return None
            delivered_at = await self._delivered_wall(sent)
            if now >= delivered_at + self._ack_within:
                within = duration(self._ack_within)
                return await self._fail(
                    fid,
                    pid,
                    contact,
                    channel,
                    "not acknowledged",
                    f"was delivered at {_utc(delivered_at)} but not acknowledged within {within}",
                )
            await self._clock.sleep(POLL_S)

    async def _delivered(self, pid: str, contact: str, channel: str) -> None:
        """Record the delivery once (preflight's proof), even across a restart."""
        stored = await self._store.timeline(kinds=["test_page.delivered"], newest=True, limit=500)
        if any(e.payload.get("alert_id") == pid for e in stored):
            return
        await self._record(
            TestPageDelivered(
                at=self._clock.now(),
                service="paramedic",
                contact=contact,
                channel=channel,
                alert_id=pid,
            )
        )

    async def _delivered_wall(self, sent: list[NotificationRow]) -> float:
        """When the last of the page's triggers was delivered (its delivering attempt's end)."""
        latest = 0.0
        for row in sent:
            for attempt in await self._store.attempts_for(row.id):
                if attempt.outcome == "delivered":
                    latest = max(latest, attempt.started_wall + attempt.duration_s)
        return latest or self._clock.wall()

    async def _fail(
        self, fid: str, pid: str, contact: str, channel: str, short: str, sentence: str
    ) -> Alert:
        alert = failure_alert(fid, contact, channel, short, sentence, self._clock.wall())
        raised = await self._alerting.raise_alert(alert)
        await self._close(pid, f"test page {short}")
        return raised

    async def _close(self, pid: str, why: str) -> None:
        """Resolve the page if it is still open (a page held to `ack_within`)."""
        if pid in self._alerting.alerts:
            await self._alerting.resolve(pid, by="paramedic", why=why)


def failure_alert(
    fid: str, contact: str, channel: str, short: str, sentence: str, now: float
) -> Alert:
    """The P2: one dedup key per contact method, labelled with the contact and the channel."""
    return Alert(
        id=fid,
        type="test_page_failed",
        source=f"{contact}:{channel}",
        severity="P2",
        title=f"scheduled test page to {contact} on {channel} {short}",
        labels={"service": "paramedic", "contact": contact, "channel": channel},
        what=f"The scheduled test page to {contact} on channel {channel} {sentence}",
        when_wall=now,
        impact=f"{contact} may not be reachable on {channel} during a real outage",
        status="check the channel's configuration and the receiving end",
        severity_reason="a contact method failed its scheduled test page",
    )


def _answered(row: AlertRow) -> bool:
    """Acknowledged, or resolved by a person (before its P2, which this run checked first)."""
    return row.state != "firing" or bool(row.data["alert"].get("ack"))


def _answer(row: AlertRow) -> str:
    ack = row.data["alert"].get("ack")
    if ack:
        return f"test page acknowledged by {ack['by']}"
    return "test page answered"
