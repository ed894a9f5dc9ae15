"""The page that needs no store write: `alerting.store_failure_channels`.

The alert pipeline writes an outbox row before it sends anything ("2xx means durable"), so
with the store's disk full it pages no one. A human must still hear two things: that
paramedic is blind to its own history, and every failure it detects meanwhile. This pager
sends both straight through the named channels, best effort (a few attempts with a short
backoff), and records each page it sent as an event, which reaches the timeline late, once
the store is back. Without the option, store trouble is only logged, shown on /readyz and
the metrics, and silences the dead man's switch.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import structlog

from paramedic.alerting.channels.base import Channel, Notification
from paramedic.core.bus import Published
from paramedic.core.clock import Clock
from paramedic.core.contracts import Job, Submit
from paramedic.core.failure_events import FailureDetected
from paramedic.core.ids import new_id
from paramedic.core.severity import Severity
from paramedic.runtime.store_trouble import EmergencyPageSent, StoreTrouble

__all__ = ["EmergencyPager"]

log = structlog.get_logger("paramedic.emergency")

BACKOFF = (0.2, 1.0)  # seconds before the 2nd and 3rd attempt


class EmergencyPager:
    """Pages through `channels` directly while the store is degraded."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        trouble: StoreTrouble,
        clock: Clock,
        *,
        submit: Submit,
        job: Job,
    ) -> None:
        self._channels = dict(channels)
        self._trouble = trouble
        self._clock = clock
        self._submit = submit
        self._job = job
        self.sent = 0  # pages delivered
        self.failed = 0  # pages no attempt delivered
        trouble.on_degraded.append(self.store_degraded)

    def store_degraded(self, sentence: str) -> None:
        self._page(
            "P1",
            f"[paramedic] cannot record: {sentence}",
            {
                "what": f"paramedic's store refuses writes: {sentence}",
                "impact": "detection and restarts go on; incidents and pages are not recorded,"
                " and the normal alert pipeline cannot page (it writes before it sends)",
                "actions": "free space on (or remount read-write) the store's file system;"
                " paramedic writes its backlog by itself once it can",
                "kind": "store_degraded",
            },
            service="paramedic",
        )

    def on_published(self, published: Published) -> None:
        """A bus listener: each failure detected while degraded is paged here too."""
        event = published.event
        if not self._trouble.degraded or not isinstance(event, FailureDetected):
            return
        self._page(
            "P0",
            f"[paramedic] {event.summary()} (store degraded: not recorded)",
            {
                "what": event.summary(),
                "impact": "paramedic acts on it (restart, recovery plan) but cannot record it,"
                " nor page through its usual routes",
                "status": f"store degraded: {self._trouble.reason}",
                "kind": event.failure_kind,
            },
            service=event.service or "",
        )

    def _page(self, severity: Severity, title: str, fields: dict[str, str], service: str) -> None:
        if not self._channels:
            return
        when = datetime.fromtimestamp(self._clock.wall(), UTC).isoformat(timespec="seconds")
        ident = new_id("emg_")
        n = Notification(
            id=ident,
            alert_id=ident,
            action="trigger",
            severity=severity,
            title=title,
            body="\n".join(f"{k}: {v}" for k, v in fields.items()),
            fields={**fields, "when": when, "service": service},
            labels={"service": service, "source": "paramedic-store-trouble"},
            idempotency_key=ident,
            links={},
        )
        for name, channel in self._channels.items():
            self._job(self._send(name, channel, n))

    async def _send(self, name: str, channel: Channel, n: Notification) -> None:
        attempts = 0
        detail = ""
        delivered = False
        for pause in (0.0, *BACKOFF):
            if pause:
                await self._clock.sleep(pause)
            attempts += 1
            try:
                result = await channel.send(n)
            except Exception as exc:  # a channel bug is a failed attempt, never a crash
                detail = f"channel raised {exc.__class__.__name__}"
                continue
            detail = result.detail
            if result.outcome == "delivered":
                delivered = True
                break
            if result.outcome == "failed":
                break
        if delivered:
            self.sent += 1
            log.warning("emergency page sent", channel=name, title=n.title, attempts=attempts)
        else:
            self.failed += 1
            log.error("emergency page not delivered", channel=name, title=n.title, error=detail)
        self._submit(
            [
                EmergencyPageSent(
                    at=self._clock.now(),
                    service=None,
                    channel=name,
                    title=n.title,
                    delivered=delivered,
                    attempts=attempts,
                    detail=detail,
                )
            ]
        )
