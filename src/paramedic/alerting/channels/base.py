"""The one interface every notification channel implements, and the values it trades in.

The outbox owns retries, backoff and ordering; a channel only makes one attempt and says how it
went. So `send` never raises for a delivery problem: it returns `retry` (worth another attempt,
perhaps after `retry_after`) or `failed` (the provider refused the request itself, so repeating
it cannot help). The rendered text arrives ready-made, so every channel says the same thing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from paramedic.core.severity import Severity
from paramedic.core.text import one_line

__all__ = [
    "FIELD_ORDER",
    "Action",
    "Channel",
    "DeliveryResult",
    "Notification",
    "Now",
    "Outcome",
    "PreparedSend",
    "one_line",
    "utc_now",
]

Action = Literal["trigger", "acknowledge", "resolve", "update"]
"""`update`: the alert's live status changed (`alerting/updates.py`); the trigger stands."""
Outcome = Literal["delivered", "retry", "failed"]
Now = Callable[[], datetime]
"""A wall-clock source for timestamps shown to humans and providers (never for deadlines)."""

FIELD_ORDER: tuple[tuple[str, str], ...] = (
    ("what", "What"),
    ("when", "When"),
    ("impact", "Impact"),
    ("status", "Status"),
    ("actions", "Actions"),
    ("eta", "ETA"),
    ("runbook", "Runbook"),
    ("dashboard", "Dashboard"),
    ("on_call", "On-call"),
    ("service", "Service"),
    ("kind", "Kind"),
)
"""The seed's alert content (section 2.3) in the order a responder reads it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Notification:
    """What the outbox hands a channel; the rendered text is already chosen."""

    id: str
    alert_id: str
    action: Action
    severity: Severity
    title: str
    body: str
    fields: Mapping[str, str]
    labels: Mapping[str, str]
    idempotency_key: str
    links: Mapping[str, str]
    thread: str = ""
    """The idempotency key of the message this one follows up (an update's trigger)."""
    reference: str = ""
    """What the provider called that message when it took it (Slack's `ts`), if it said."""

    def as_data(self) -> dict[str, object]:
        """Plain JSON-ready data: the outbox row's payload and the webhook body's core."""
        data: dict[str, object] = {
            "id": self.id,
            "alert_id": self.alert_id,
            "action": self.action,
            "severity": self.severity,
            "title": self.title,
            "body": self.body,
            "fields": dict(self.fields),
            "labels": dict(self.labels),
            "links": dict(self.links),
            "idempotency_key": self.idempotency_key,
        }
        if self.thread:  # only updates carry one: other payloads stay as they were
            data["thread"] = self.thread
        if self.reference:
            data["reference"] = self.reference
        return data

    def ordered_fields(self) -> list[tuple[str, str]]:
        """The known fields first in reading order, then any extra ones by name."""
        known = [(label, self.fields[key]) for key, label in FIELD_ORDER if self.fields.get(key)]
        names = {key for key, _ in FIELD_ORDER}
        extra = [(k, v) for k, v in sorted(self.fields.items()) if k not in names and v]
        return known + extra


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """One attempt's outcome; `detail` is one line and never carries a secret."""

    outcome: Outcome
    detail: str
    retry_after: float | None = None
    status: int | None = None


class Channel(Protocol):
    """A destination for notifications: one attempt per call, never raising for delivery.

    A channel may also offer `prepare(n) -> PreparedSend`: everything `send` does short of
    the network (payload, encoding, signature, request bytes), so the outbox can build the
    first attempt while the notification's commit syncs to disk and send it the moment the
    commit returns. `send(n)` must mean `prepare(n)()` for such a channel.

    A channel that can change or thread what it sent sets `updates = True`: it gets every
    status update of a recovering incident (throttled); the others get only the changes of
    phase, as follow-up messages (`alerting/updates.py`). Absent means False.
    """

    name: str
    kind: str

    async def send(self, n: Notification) -> DeliveryResult: ...

    async def close(self) -> None: ...


PreparedSend = Callable[[], Awaitable[DeliveryResult]]
