"""The log channel: one structured line per notification on the `paramedic.alerts` logger.

It is the seed's P3 destination ("log only") and the floor under every route: when all paging
fails, the log still says what would have been sent. The line is written synchronously like the
rest of paramedic's logging (a handful of microseconds), not through a thread hop.
"""

from __future__ import annotations

from typing import Any

import structlog

from paramedic.alerting.channels.base import DeliveryResult, Notification

__all__ = ["LogChannel"]

_LEVEL = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}


class LogChannel:
    kind = "log"

    def __init__(self, name: str, logger: Any = None) -> None:
        self.name = name
        self._log: Any = logger if logger is not None else structlog.get_logger("paramedic.alerts")

    async def send(self, n: Notification) -> DeliveryResult:
        level = "info" if n.action == "resolve" else _LEVEL[n.severity]
        getattr(self._log, level)(
            "alert",
            channel=self.name,
            notification_id=n.id,
            alert_id=n.alert_id,
            action=n.action,
            severity=n.severity,
            title=n.title,
            body=n.body,
            fields=dict(n.fields),
            labels=dict(n.labels),
            links=dict(n.links),
            idempotency_key=n.idempotency_key,
        )
        return DeliveryResult("delivered", f"log {self.name}: written")

    async def close(self) -> None:
        """Nothing to release."""
