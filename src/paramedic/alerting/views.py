"""What a client reads about an alert's acknowledgement and escalation ladder, in wall time.

The ladder runs on paramedic's monotonic clock, which means nothing outside this process: a
client gets ISO 8601 UTC times instead, and one sentence saying what the ladder is doing
(acknowledged until when, ack expired and escalating again, held, stopped). Open alerts are
read from the live pipeline, so the state shown is the one the ladder acts on; resolved ones
from the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from paramedic.alerting.model import Ack
from paramedic.alerting.service import AlertingService
from paramedic.store.outbox import AlertRow

__all__ = ["alert_state", "iso", "ladder_view"]


def iso(wall: float | None) -> str | None:
    """`2026-01-01T00:30:00Z`: seconds since the epoch as ISO 8601 UTC (None stays None)."""
    if wall is None:
        return None
    text = datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def alert_state(alerting: AlertingService, row: AlertRow) -> str:
    """firing / acknowledged / resolved, as the pipeline holds it now."""
    live = alerting.alerts.get(row.id)
    return row.state if live is None else live.state


def _ack(ack: Ack | Mapping[str, Any] | None, *, expired: bool) -> dict[str, Any] | None:
    if ack is None:
        return None
    if isinstance(ack, Ack):
        by, why, at, until = ack.by, ack.why, ack.at_wall, ack.expires_wall
    else:
        by, why, at, until = ack["by"], ack["why"], ack["at_wall"], ack.get("expires_wall")
    return {"by": by, "why": why, "at": iso(at), "expires": iso(until), "expired": expired}


def ladder_view(alerting: AlertingService, row: AlertRow) -> dict[str, Any]:
    """`acknowledgement` (or the one that expired) and `ladder`: its state, level, next rung
    and when, and the sentence that says it."""
    live = alerting.alerts.get(row.id)
    ack: dict[str, Any] | None = None
    if live is not None and live.ack is not None:
        ack = _ack(live.ack, expired=False)
    elif live is not None:
        ack = _ack(alerting.expired_acks.get(row.id), expired=True)
    level = alerting.escalation.levels().get(row.id)
    ladder: dict[str, Any] = {"state": "", "level": level or 0, "next_step": None, "next_at": None}
    held = row.data.get("held")
    if live is None or live.state == "resolved":
        ladder["state"], sentence = "stopped", "resolved: the ladder has stopped"
    elif held:
        ladder["state"], sentence = "held", f"held, nobody paged yet: {held}"
    elif level is None:
        ladder["state"] = "none"
        sentence = f"no escalation ladder for {live.severity}"
    else:
        nxt = alerting.escalation.next_rung(row.id)
        after = ""
        if nxt is not None:
            now = alerting.clock.now()
            step, due = nxt
            ladder["next_step"], ladder["next_at"] = step.name, iso(now.wall + (due - now.mono))
            after = f"; next: {step.name} at {ladder['next_at']}"
        if ack is not None and not ack["expired"]:
            ladder["state"] = "acknowledged"
            until = f" until {ack['expires']}" if ack["expires"] else ""
            sentence = f"acknowledged by {ack['by']}{until}: paused{after}"
        elif ack is not None:
            ladder["state"] = "escalating"
            sentence = f"acknowledgement by {ack['by']} expired at {ack['expires']}: escalating"
            sentence += after or "; every rung has fired"
        else:
            ladder["state"] = "escalating"
            sentence = f"escalating, level {level}" + (after or "; every rung has fired")
    ladder["sentence"] = sentence
    return {"acknowledgement": ack, "ladder": ladder}
