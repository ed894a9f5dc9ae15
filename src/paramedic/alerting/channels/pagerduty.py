"""PagerDuty Events API v2: pages that can be acknowledged and resolved, not just sent.

Per https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ and
https://developer.pagerduty.com/docs/events-api-v2/acknowledge-events/ (resolve-events the same):
`POST https://events.pagerduty.com/v2/enqueue` with `routing_key`, `event_action` and
`dedup_key`. A trigger adds `payload` {summary (<= 1024 chars), source, severity
(critical|error|warning|info), timestamp, component, group, class, custom_details}, `links`
[{href, text}], `client` and `client_url`; acknowledge and resolve carry only the three keys.
`dedup_key` is the alert id, so every action and every retry of one incident lands on the same
PagerDuty incident and a retried trigger cannot open a second one. A status update is a trigger
again under the same `dedup_key`: PagerDuty deduplicates it into the open alert, whose details
then show the new `custom_details` (the live status, the step, the ETA). An acknowledged
incident generates no notification for it; a resolved one would open a new incident, so no
update follows a resolve (pending ones are cancelled by it).
Responses: 202 accepted (`{status, message, dedup_key}`); 400 invalid event (permanent);
429 rate limited and 5xx transient (https://developer.pagerduty.com/docs/events-api-v2/overview/).
"""

from __future__ import annotations

import socket

from pydantic import SecretStr

from paramedic.alerting.channels._http import JsonPost
from paramedic.alerting.channels.base import DeliveryResult, Notification, Now, utc_now
from paramedic.checks import HttpPool
from paramedic.core.jsoncodec import dumps

__all__ = ["EVENTS_URL", "SEVERITY", "PagerDutyChannel"]

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
_SUMMARY_MAX = 1024
_DEDUP_MAX = 255


class PagerDutyChannel:
    kind = "pagerduty"
    updates = True  # a re-trigger with the same dedup_key carries the new details

    def __init__(
        self,
        name: str,
        http: HttpPool,
        *,
        routing_key: SecretStr,
        url: str = EVENTS_URL,
        source: str | None = None,
        timeout: float = 5.0,
        now: Now = utc_now,
    ) -> None:
        self.name = name
        self._http = http
        self._key = routing_key
        self._url = url
        # PagerDuty's `source` is the affected system; paramedic runs beside what it watches.
        self._source = source or socket.gethostname()
        self._timeout = timeout
        self._now = now

    def payload(self, n: Notification) -> dict[str, object]:
        action = "trigger" if n.action == "update" else n.action
        event: dict[str, object] = {
            "routing_key": self._key.get_secret_value(),
            "event_action": action,
            "dedup_key": n.alert_id[:_DEDUP_MAX],
        }
        if action != "trigger":
            return event
        service = n.labels.get("service") or n.fields.get("service", "")
        kind = n.labels.get("kind") or n.fields.get("kind", "")
        details = dict(n.fields)
        details.setdefault("description", n.body)
        event["payload"] = {
            "summary": n.title[:_SUMMARY_MAX],
            "source": n.labels.get("host") or self._source,
            "severity": SEVERITY[n.severity],
            "timestamp": self._now().isoformat(),
            "component": service,
            "group": n.labels.get("group", service),
            "class": kind,
            "custom_details": details,
        }
        event["links"] = [{"href": href, "text": text.title()} for text, href in n.links.items()]
        event["client"] = "paramedic"
        if dashboard := n.links.get("dashboard"):
            event["client_url"] = dashboard
        return event

    def prepare(self, n: Notification) -> JsonPost:
        return JsonPost(
            self._http,
            self._url,
            dumps(self.payload(n)),
            label=f"pagerduty {self.name}",
            limit=self._timeout,
            secrets=(self._key.get_secret_value(),),
        )

    async def send(self, n: Notification) -> DeliveryResult:
        return await self.prepare(n)()

    async def close(self) -> None:
        """The pool is shared and owned by whoever built the channels."""
