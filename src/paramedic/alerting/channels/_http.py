"""One POST with the house rules for outcomes, shared by every HTTP channel (`JsonPost`).

The rules follow what the providers document: 2xx is accepted; 408, 425, 429 and 5xx are
transient (retry, honouring `Retry-After` in seconds or as an HTTP-date); any other 4xx means
the request itself is wrong and repeating it cannot help. A connection error or a timeout is
always transient. Details are one line with every known secret masked, because they are logged
and stored on the incident timeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from paramedic.alerting.channels.base import DeliveryResult, one_line
from paramedic.checks import HttpConnectError, HttpError, HttpPool
from paramedic.core.text import duration

__all__ = ["JsonPost", "classify", "parse_retry_after"]

_TRANSIENT = frozenset({408, 425, 429})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (RFC 9110: delay-seconds or HTTP-date)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(status: int, retry_after: float | None, detail: str) -> DeliveryResult:
    if 200 <= status < 300:
        return DeliveryResult("delivered", detail, status=status)
    if status in _TRANSIENT or status >= 500:
        return DeliveryResult("retry", detail, retry_after=retry_after, status=status)
    return DeliveryResult("failed", detail, status=status)


def _mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class JsonPost:
    """One POST of `body` (already-encoded JSON, so a signature can cover the exact bytes
    sent), built ahead of its send; calling it sends it once and classifies the answer.

    `label` names the target in details instead of the URL, which may itself be a secret.
    """

    __slots__ = ("_http", "_label", "_limit", "_request", "_secrets")

    def __init__(
        self,
        http: HttpPool,
        url: str,
        body: bytes,
        *,
        label: str,
        limit: float,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        sent_headers = {"Content-Type": "application/json", **(headers or {})}
        self._http = http
        self._request = http.prepare("POST", url, body=body, headers=sent_headers)
        self._label = label
        self._limit = limit
        self._secrets = secrets

    async def __call__(self) -> DeliveryResult:
        label, limit, secrets = self._label, self._limit, self._secrets
        try:
            response = await self._http.send(self._request, limit)
        except TimeoutError:
            return DeliveryResult("retry", f"{label}: no answer within {duration(limit)}")
        except HttpConnectError as exc:
            return DeliveryResult("retry", f"{label}: cannot connect ({exc.reason})")
        except HttpError as exc:
            # The pool's messages name host:port only, never the path that may hold a token.
            return DeliveryResult("retry", one_line(_mask(f"{label}: {exc}", secrets)))
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        text = response.body.decode("utf-8", errors="replace")
        detail = one_line(_mask(f"{label}: HTTP {response.status} {text}", secrets))
        return classify(response.status, retry_after, detail)
