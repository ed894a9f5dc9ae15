"""The log channel: one readable line per notification on the `paramedic.alerts` logger.

It is the seed's P3 destination ("log only") and the floor under every route: when all paging
fails, the log still says what would have been sent. The default policy sends every receiver's
page here when no other channel is configured, so one alert reaches it once per receiver, all
in the same instant: those are written as ONE line naming every receiver (severity, what
happened, service, who), at the severity's level; the rendered body follows at debug. The
recovery's informational notices read `update: ...` and `all clear: ...`, at info. The line
is written synchronously like the rest of paramedic's logging, one loop turn after the first
of its receivers' notifications arrives (every send returns once it is written).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import structlog

from paramedic.alerting.channels.base import DeliveryResult, Notification
from paramedic.core.text import one_line

__all__ = ["LogChannel"]

_LEVEL = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
_SAID = {
    "trigger": "page",
    "acknowledge": "acknowledged",
    "resolve": "resolved",
    "update": "status update",
}
# Informational notices (progress_story.py's alert types) are not pages: said so, at info.
_NOTICES = {"recovery_update": "update", "all_clear": "all clear"}


@dataclass(slots=True)
class _Batch:
    """The notifications of one alert and action that arrived in the same loop turn."""

    first: Notification
    receivers: list[str] = field(default_factory=list)
    written: asyncio.Future[None] | None = None


class LogChannel:
    kind = "log"

    def __init__(self, name: str, logger: Any = None) -> None:
        self.name = name
        self._log: Any = logger if logger is not None else structlog.get_logger("paramedic.alerts")
        self._batches: dict[tuple[str, str], _Batch] = {}

    async def send(self, n: Notification) -> DeliveryResult:
        key = (n.alert_id, n.action)
        batch = self._batches.get(key)
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = self._batches[key] = _Batch(n, written=loop.create_future())
            loop.call_soon(self._write, key)
        receiver = n.labels.get("receiver", "")
        if receiver and receiver not in batch.receivers:
            batch.receivers.append(receiver)
        assert batch.written is not None
        await asyncio.shield(batch.written)
        return DeliveryResult("delivered", f"log {self.name}: written")

    def _write(self, key: tuple[str, str]) -> None:
        batch = self._batches.pop(key)
        try:
            self._lines(batch)
        finally:  # a send never waits for ever, whatever the logger did
            if batch.written is not None and not batch.written.done():
                batch.written.set_result(None)

    def _lines(self, batch: _Batch) -> None:
        n = batch.first
        notice = _NOTICES.get(n.labels.get("kind", "")) if n.action == "trigger" else None
        level = "info" if n.action in ("resolve", "update") or notice else _LEVEL[n.severity]
        service = n.labels.get("service") or n.fields.get("service") or "-"
        # A page says what happened; its resolve says why it is over (the alert's status).
        # An update says where the recovery is (the same status line).
        said = n.fields.get("status") if n.action in ("resolve", "update") else n.fields.get("what")
        what = one_line(said or n.fields.get("what") or n.body, 300)
        to = ",".join(batch.receivers) or "-"  # no space: the console log shows it bare
        line = f"{notice or _SAID.get(n.action, n.action)}: {n.title}: {what}"
        getattr(self._log, level)(
            line,
            service=service,
            receivers=to,
            alert_id=n.alert_id,
            action=n.action,
            severity=n.severity,
            channel=self.name,
        )
        self._log.debug(
            "alert body",
            alert_id=n.alert_id,
            action=n.action,
            body=n.body,
            fields=dict(n.fields),
            links=dict(n.links),
            idempotency_key=n.idempotency_key,
        )

    async def close(self) -> None:
        """Nothing to release."""
