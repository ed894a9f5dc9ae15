"""Restart: put the pipeline back as a crash left it, from the store alone.

Pending notifications resume at their original due times (the outbox's own `load`); each
open alert comes back with what was kept for it (held, withheld rungs, a lapsed ack, a
summary's members) and its ladder at its original due times: rungs that fell due while
paramedic was down fire once, now. Silences set at run time are loaded before this
(`SilenceAdmin.load`), so a rung that fell due under one is held as it would have been.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from paramedic.alerting.book import AlertBook, Hold
from paramedic.alerting.codec import alert_from_data
from paramedic.alerting.dispatch import Dispatch
from paramedic.alerting.escalation import EscalationEngine
from paramedic.alerting.fatigue import FatiguePolicy
from paramedic.alerting.model import Alert
from paramedic.alerting.outbox import OutboxWorker
from paramedic.alerting.silences import Muter
from paramedic.core.clock import Clock
from paramedic.store.outbox import OutboxStore

__all__ = ["resume"]

log = structlog.get_logger("paramedic.alerting")


async def resume(
    *,
    clock: Clock,
    store: OutboxStore,
    book: AlertBook,
    outbox: OutboxWorker,
    muter: Muter,
    fatigue: FatiguePolicy,
    escalation: EscalationEngine,
    dispatch: Dispatch,
) -> None:
    """Reload pending notifications and every open alert; restart their ladders."""
    resumed = await outbox.load()
    for row in await store.alerts(limit=10_000):
        if row.state == "resolved":
            continue
        alert = alert_from_data(row.data["alert"])
        book.alerts[alert.id] = alert
        muter.opened(alert)
        _reopened(alert, row.data, book, fatigue, clock)
        snapshot = row.data.get("escalation")
        started_wall = float(row.data.get("started_wall", row.opened_wall))
        book.started_wall[alert.id] = started_wall
        if kept := row.data.get("kept"):
            book.kept[alert.id] = str(kept)
        if lapsed := row.data.get("ack_expired"):
            book.expired_acks[alert.id] = lapsed
        withheld = row.data.get("withheld") or []
        if withheld:
            book.withheld[alert.id] = [(r, tuple(c), int(lv)) for r, c, lv in withheld]
        if snapshot is not None:
            boot = clock.boot_id()
            rebased = dict(snapshot)
            if not boot or row.data.get("boot_id") != boot:
                # A reboot restarted the monotonic clock: wall time is all two boots
                # share. On the same boot the stored monotonic times stand, so a wall
                # step while we were up or down moves no rung.
                rebased["started_mono"] = clock.monotonic() - (clock.wall() - started_wall)
            dispatch.escalated(escalation.restore_snapshot(alert, rebased))
    if resumed or book.alerts:
        log.info("alerting resumed", notifications=resumed, open_alerts=len(book.alerts))


def _reopened(
    alert: Alert, data: Mapping[str, Any], book: AlertBook, fatigue: FatiguePolicy, clock: Clock
) -> None:
    """An open alert reloaded after a restart: held again (re-evaluated at the next
    sweep), or, if it was paged, the one later alerts of its kind are duplicates of."""
    if held := data.get("held"):
        book.holding[alert.id] = Hold(str(data.get("held_by") or ""), str(held))
    elif alert.type == "summary":
        book.summaries[alert.id] = set(data.get("members") or ())
    else:
        fatigue.dedup.check(alert, clock.monotonic())
