"""The outbox part of the Store protocol: alerts, notifications, attempts, audit.

Split from `protocol.py` so each backend can implement it in its own module; callers that
only deliver notifications depend on `OutboxStore` alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = ["AlertRow", "AttemptRow", "AuditRow", "NotificationRow", "OutboxStore"]

NotificationStatus = Literal["pending", "delivered", "failed", "cancelled"]


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: str
    incident: str | None
    service: str | None
    severity: str
    state: str
    opened_wall: float
    updated_wall: float
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NotificationRow:
    id: str
    alert_id: str
    channel: str
    action: str
    severity: str
    idempotency_key: str
    status: NotificationStatus
    attempts: int
    due_wall: float
    created_wall: float
    last_detail: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AttemptRow:
    notification_id: str
    number: int
    started_wall: float
    duration_s: float
    outcome: str
    status: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One action with a name on it. `outcome` is '' until the answer is known: a row left
    so by a crash says the caller never learnt whether the action took effect."""

    wall: float
    actor: str
    action: str
    target: str
    reason: str
    role: str = ""
    address: str = ""
    outcome: str = ""
    seq: int = 0


class OutboxStore(Protocol):
    """Durable alert and notification state. Every write returns once it is durable."""

    async def put_alert(self, alert: AlertRow) -> None:
        """Insert or replace an alert."""
        ...

    async def alerts(self, *, state: str | None = None, limit: int = 500) -> list[AlertRow]: ...

    async def get_alert(self, alert_id: str) -> AlertRow | None: ...

    def enqueue(
        self,
        rows: list[NotificationRow],
        *,
        alert: AlertRow | None = None,
        starting: Collection[str] = (),
    ) -> Awaitable[None]:
        """Commit notifications (status pending) before anything tries to send them; with
        `alert`, the alert row in the same transaction (one fsync before the first send).
        The rows named in `starting` are sent as soon as the commit returns: their first
        attempt is recorded as started (outcome `started`) in that same commit.

        The write is handed over when this is called and the result awaits the commit, so a
        caller can do other work (build the requests) while the disk syncs.
        """
        ...

    async def start_attempts(self, starts: list[tuple[str, int, float]]) -> None:
        """Record attempts (notification id, number, wall time) as started, before they are
        sent: after a crash, an attempt started and never finished is one whose outcome is
        unknown (the receiver may have it), and only those are sent again."""
        ...

    async def settle_interrupted(self, detail: str) -> list[tuple[str, int]]:
        """At start: every attempt left `started` by a crash becomes `unknown` with `detail`
        (its notification counts it); returns the pending ones (id, number), which are
        about to be sent again under the same idempotency key."""
        ...

    async def pending_notifications(self) -> list[NotificationRow]:
        """Everything still to send, oldest due first (used at start to resume)."""
        ...

    async def notifications_for(self, alert_id: str) -> list[NotificationRow]: ...

    async def record_attempts(
        self, attempts: list[tuple[AttemptRow, NotificationStatus, float]]
    ) -> None:
        """Record attempts, each with its notification's new status and due time (wall), in
        one commit: the outbox hands over every attempt that finished in one loop tick. An
        attempt's `started` record, if any, is replaced by its outcome."""
        ...

    async def cancel_notifications(self, alert_id: str, *, action: str, reason: str) -> int:
        """Cancel pending notifications of one action for an alert (e.g. trigger after ack)."""
        ...

    async def attempts_for(self, notification_id: str) -> list[AttemptRow]: ...

    async def deliveries(
        self, alert_ids: Sequence[str]
    ) -> dict[str, list[tuple[NotificationRow, list[AttemptRow]]]]:
        """Each alert's notifications (ordered as `notifications_for`) with their attempts
        (as `attempts_for`), in a few reads whatever the number of alerts: a list of 50
        alerts read one notification at a time waited for hundreds of reads."""
        ...

    async def audit(self, row: AuditRow) -> int:
        """Record an action (durable on return); returns its sequence number."""
        ...

    async def audit_outcome(self, seq: int, outcome: str) -> None:
        """Fill in how the action recorded as `seq` ended (durable on return)."""
        ...

    async def audit_log(
        self, *, target: str | None = None, before: int | None = None, limit: int = 500
    ) -> list[AuditRow]:
        """Newest first; `before` pages back from a sequence number."""
        ...
