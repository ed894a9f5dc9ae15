"""Slack through its Web API with a bot token: a page that can be updated where it was posted.

An incoming webhook (`slack.py`) cannot change what it posted, so a recovering incident's
progress would be a stream of new messages. With a bot token, the trigger is
`chat.postMessage` and a status update is `chat.update` of that very message (its `ts`), so
the channel shows one message that stays current (https://api.slack.com/methods/chat.update).
Acknowledgements and resolves are posted as new messages, as with the webhook.

Both methods take JSON (`Content-Type: application/json; charset=utf-8`) with
`Authorization: Bearer <token>`: `channel` (an id such as C0123456789), `text`,
`attachments` (the same message `slack.py` builds), and for an update `ts`. Slack answers
HTTP 200 with `{"ok": true, "channel", "ts"}`, or `{"ok": false, "error"}`: `ratelimited`
and Slack's own trouble (`internal_error`, `fatal_error`, `service_unavailable`,
`request_timeout`) are transient, any other error permanent; HTTP 429 carries
`Retry-After`. A delivered post's detail carries `ref=<ts>`: the outbox stores it with the
notification, and the updates that follow read it there (`alerting/updates.py`). An update
whose trigger has no `ts` yet (not delivered) is posted as a new message.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from paramedic.alerting.channels._http import classify, parse_retry_after
from paramedic.alerting.channels.base import (
    DeliveryResult,
    Notification,
    Now,
    Outcome,
    one_line,
    utc_now,
)
from paramedic.alerting.channels.slack import slack_message
from paramedic.checks import HttpConnectError, HttpError, HttpPool
from paramedic.core.jsoncodec import dumps, loads
from paramedic.core.text import duration

__all__ = ["API_URL", "SlackBotChannel"]

API_URL = "https://slack.com/api"
_TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackBotChannel:
    kind = "slack_bot"  # rendered like Slack (slack.j2)
    updates = True  # chat.update of the trigger's message

    def __init__(
        self,
        name: str,
        http: HttpPool,
        *,
        token: SecretStr,
        channel: str,
        url: str = API_URL,
        timeout: float = 5.0,
        now: Now = utc_now,
    ) -> None:
        self.name = name
        self._http = http
        self._token = token
        self._channel = channel
        self._url = url.rstrip("/")
        self._timeout = timeout
        self._now = now

    def request(self, n: Notification) -> tuple[str, dict[str, Any]]:
        """(method, body): an update of a message whose `ts` is known edits it in place."""
        body: dict[str, Any] = {
            "channel": self._channel,
            **slack_message(n, int(self._now().timestamp())),
        }
        if n.action == "update" and n.reference:
            return "chat.update", {**body, "ts": n.reference}
        return "chat.postMessage", body

    async def send(self, n: Notification) -> DeliveryResult:
        method, body = self.request(n)
        label = f"slack {self.name} {method}"
        token = self._token.get_secret_value()
        request = self._http.prepare(
            "POST",
            f"{self._url}/{method}",
            body=dumps(body),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Authorization": f"Bearer {token}",
            },
        )
        try:
            response = await self._http.send(request, self._timeout)
        except TimeoutError:
            return DeliveryResult("retry", f"{label}: no answer within {duration(self._timeout)}")
        except HttpConnectError as exc:
            return DeliveryResult("retry", f"{label}: cannot connect ({exc.reason})")
        except HttpError as exc:
            return DeliveryResult("retry", one_line(f"{label}: {exc}".replace(token, "***")))
        text = response.body.decode("utf-8", errors="replace")
        if not 200 <= response.status < 300:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            detail = one_line(f"{label}: HTTP {response.status} {text}".replace(token, "***"))
            return classify(response.status, retry_after, detail)
        try:
            answer = loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            return DeliveryResult("retry", one_line(f"{label}: not a Slack answer: {text}"))
        if answer.get("ok") is True:
            ts = answer.get("ts")
            ref = f" ref={ts}" if isinstance(ts, str) and ts else ""
            return DeliveryResult("delivered", f"{label}: ok{ref}", status=response.status)
        error = str(answer.get("error", "unknown error"))
        outcome: Outcome = "retry" if error in _TRANSIENT else "failed"
        return DeliveryResult(outcome, one_line(f"{label}: {error}"), status=response.status)

    async def close(self) -> None:
        """The pool is shared and owned by whoever built the channels."""
