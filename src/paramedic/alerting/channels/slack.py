"""Slack incoming webhook with a legacy attachment, so the severity shows as a colour bar.

Payload per https://api.slack.com/messaging/webhooks and
https://api.slack.com/reference/messaging/attachments: top-level `text` (the notification
fallback and the line shown in push notifications), one attachment with `color`, `fallback`,
`title`, `title_link`, `text`, `fields` [{title, value, short}], `footer` and `ts` (epoch
seconds). Slack answers 200 `ok`; 400 `invalid_payload`, 403 `action_prohibited`,
404 `no_service`, 410 `channel_is_archived` are permanent; 429 carries `Retry-After`; 5xx is
transient (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks).
The webhook URL embeds its token, so it is a secret and never appears in a detail.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr

from paramedic.alerting.channels._http import JsonPost
from paramedic.alerting.channels.base import DeliveryResult, Notification, Now, utc_now
from paramedic.checks import HttpPool
from paramedic.core.jsoncodec import dumps

__all__ = ["COLORS", "RESOLVED_COLOR", "SlackChannel", "slack_message"]

COLORS = {"P0": "#d00000", "P1": "#ff8c00", "P2": "#f2c744", "P3": "#9e9e9e"}
RESOLVED_COLOR = "#2eb67d"
_PREFIX = {
    "trigger": "",
    "acknowledge": "Acknowledged: ",
    "resolve": "Resolved: ",
    "update": "Update: ",
}
_SHORT = 40  # Slack lays out `short` fields two per row; longer values would wrap badly.


class SlackChannel:
    kind = "slack"
    updates = False  # an incoming webhook cannot edit what it posted: phase changes only

    def __init__(
        self,
        name: str,
        http: HttpPool,
        *,
        webhook_url: SecretStr,
        timeout: float = 5.0,
        now: Now = utc_now,
    ) -> None:
        self.name = name
        self._http = http
        self._url = webhook_url
        self._timeout = timeout
        self._now = now

    def payload(self, n: Notification) -> dict[str, object]:
        return slack_message(n, int(self._now().timestamp()))

    def prepare(self, n: Notification) -> JsonPost:
        url = self._url.get_secret_value()
        return JsonPost(
            self._http,
            url,
            dumps(self.payload(n)),
            label=f"slack {self.name}",
            limit=self._timeout,
            secrets=(url, *_tokens(url)),
        )

    async def send(self, n: Notification) -> DeliveryResult:
        return await self.prepare(n)()

    async def close(self) -> None:
        """The pool is shared and owned by whoever built the channels."""


def _tokens(url: str) -> list[str]:
    """The URL's path parts that identify or authorise (/services/T.../B.../token), which a proxy
    or an error page may echo on their own."""
    return [part for part in urlsplit(url).path.split("/") if len(part) >= 9]


def slack_message(n: Notification, ts: int) -> dict[str, object]:
    """The message a notification is on Slack: `text` and one attachment (also what the
    Web API's chat.postMessage and chat.update take); `ts` the footer's time, epoch seconds."""
    text = _PREFIX[n.action] + n.title
    color = RESOLVED_COLOR if n.action == "resolve" else COLORS[n.severity]
    fields = [
        {"title": title, "value": value, "short": len(value) <= _SHORT and "\n" not in value}
        for title, value in n.ordered_fields()
    ]
    attachment: dict[str, object] = {
        "color": color,
        "fallback": text,
        "title": text,
        "text": n.body,
        "fields": fields,
        "footer": "paramedic",
        "ts": ts,
    }
    if link := n.links.get("dashboard") or n.links.get("runbook"):
        attachment["title_link"] = link
    return {"text": text, "attachments": [attachment]}
