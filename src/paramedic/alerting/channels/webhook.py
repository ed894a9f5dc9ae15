"""Generic JSON webhook: paramedic's own documented, signed payload for in-house receivers.

Receivers verify `X-Paramedic-Signature: v1=<hex>`, the HMAC-SHA256 under the shared secret of
`v1:<timestamp>:<raw body>`, where `<timestamp>` is the `X-Paramedic-Timestamp` header (Unix
seconds). Signing the timestamp with the body (Slack's and Stripe's scheme) lets a receiver
refuse a replayed request older than its window: the timestamp cannot be changed without the
secret. How to verify, with a test vector: docs/webhook-signature.md. `Idempotency-Key` is
the same on every retry of one notification (the IETF httpapi idempotency-key draft) so the
receiver can drop duplicates.

Body (version 1)::

    {"version": 1, "id", "alert_id", "action", "severity", "title", "body",
     "fields": {...}, "labels": {...}, "links": {...}, "idempotency_key", "sent_at"}

`action` is trigger, acknowledge, resolve or update (a recovering incident's live status:
the same `alert_id`, new `fields`; an update also names the trigger it follows in `thread`).
"""

from __future__ import annotations

import hmac
from datetime import datetime

from pydantic import SecretStr

from paramedic.alerting.channels._http import JsonPost
from paramedic.alerting.channels.base import DeliveryResult, Notification, Now, utc_now
from paramedic.checks import HttpPool
from paramedic.core.jsoncodec import dumps

__all__ = ["SCHEME", "WebhookChannel", "sign"]


SCHEME = "v1"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Paramedic-Signature` value for `body` sent at `timestamp` (the
    `X-Paramedic-Timestamp` header, verbatim); receivers recompute and compare."""
    signed = b"%s:%s:%s" % (SCHEME.encode(), timestamp.encode(), body)
    digest = hmac.digest(secret.encode(), signed, "sha256").hex()
    return f"{SCHEME}={digest}"


class WebhookChannel:
    kind = "webhook"
    updates = True  # the receiver gets the document again, `action: update`, same `alert_id`

    def __init__(
        self,
        name: str,
        http: HttpPool,
        *,
        url: str,
        secret: SecretStr,
        timeout: float = 5.0,
        now: Now = utc_now,
    ) -> None:
        self.name = name
        self._http = http
        self._url = url
        self._secret = secret
        self._timeout = timeout
        self._now = now

    def payload(self, n: Notification, sent_at: datetime) -> dict[str, object]:
        return {"version": 1, **n.as_data(), "sent_at": sent_at.isoformat()}

    def prepare(self, n: Notification) -> JsonPost:
        """`sent_at` is when the request is built: at most one commit before it goes out."""
        now = self._now()
        body = dumps(self.payload(n, now))
        secret = self._secret.get_secret_value()
        timestamp = str(int(now.timestamp()))
        headers = {
            "X-Paramedic-Signature": sign(secret, timestamp, body),
            "X-Paramedic-Timestamp": timestamp,
            "Idempotency-Key": n.idempotency_key,
        }
        return JsonPost(
            self._http,
            self._url,
            body,
            label=f"webhook {self.name}",
            limit=self._timeout,
            headers=headers,
            secrets=(secret,),
        )

    async def send(self, n: Notification) -> DeliveryResult:
        return await self.prepare(n)()

    async def close(self) -> None:
        """The pool is shared and owned by whoever built the channels."""
