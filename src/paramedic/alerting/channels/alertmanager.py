"""Prometheus Alertmanager API v2: our incidents join the routing, silences and inhibition
that the rest of the firm's alerts already go through.

Per the API v2 spec (https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml,
`postAlerts`): `POST {base}/api/v2/alerts` with a JSON array of postableAlert {labels,
annotations, startsAt, endsAt, generatorURL}; 200 accepted, 400 invalid, 5xx transient.
Alertmanager identifies an alert by its label set, so labels hold only what is stable for the
incident (never the action). A pushed alert with no `endsAt` is resolved by Alertmanager after
its `resolve_timeout` (5 m by default) unless re-sent; we push once, so a trigger sets `endsAt`
to now + `hold` and the resolve sets `startsAt = endsAt = now` (Alertmanager keeps the earliest
`startsAt` when it merges, https://github.com/prometheus/alertmanager/blob/main/types/types.go).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from paramedic.alerting.channels._http import JsonPost
from paramedic.alerting.channels.base import DeliveryResult, Notification, Now, utc_now
from paramedic.alerting.channels.pagerduty import SEVERITY
from paramedic.checks import HttpPool
from paramedic.core.jsoncodec import dumps

__all__ = ["ALERTNAME", "AlertmanagerChannel", "label_name"]

ALERTNAME = "ParamedicIncident"
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def label_name(key: str) -> str:
    """A valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*) for any of our label keys."""
    name = _INVALID.sub("_", key)
    return name if name and not name[0].isdigit() else f"_{name}"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class AlertmanagerChannel:
    kind = "alertmanager"

    def __init__(
        self,
        name: str,
        http: HttpPool,
        *,
        url: str,
        hold: float = 86400.0,
        timeout: float = 5.0,
        now: Now = utc_now,
    ) -> None:
        self.name = name
        self._http = http
        self._url = url.rstrip("/") + "/api/v2/alerts"
        self._hold = timedelta(seconds=hold)
        self._timeout = timeout
        self._now = now

    def payload(self, n: Notification) -> list[dict[str, object]]:
        labels = {label_name(k): v for k, v in n.labels.items() if v}
        labels.update(
            alertname=ALERTNAME,
            severity=SEVERITY[n.severity],
            priority=n.severity,
            paramedic_alert_id=n.alert_id,
        )
        for key in ("service", "kind"):
            if value := n.labels.get(key) or n.fields.get(key):
                labels[key] = value
        annotations = {"summary": n.title, "description": n.body}
        if runbook := n.links.get("runbook"):
            annotations["runbook_url"] = runbook
        if dashboard := n.links.get("dashboard"):
            annotations["dashboard"] = dashboard
        now = self._now()
        ends = now if n.action == "resolve" else now + self._hold
        alert: dict[str, object] = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": _iso(now),
            "endsAt": _iso(ends),
        }
        if generator := n.links.get("dashboard") or n.links.get("runbook"):
            alert["generatorURL"] = generator
        return [alert]

    def prepare(self, n: Notification) -> JsonPost:
        body = dumps(self.payload(n))
        return JsonPost(
            self._http, self._url, body, label=f"alertmanager {self.name}", limit=self._timeout
        )

    async def send(self, n: Notification) -> DeliveryResult:
        return await self.prepare(n)()

    async def close(self) -> None:
        """The pool is shared and owned by whoever built the channels."""
