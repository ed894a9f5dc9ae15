"""A drill's report, computed from what the store holds: its events, the incident's, and the
outbox's rows and attempts for every alert the drill raised.

Nothing is kept in memory for it, so the report of a drill is the same before and after a
restart of paramedic. Times are ISO 8601 UTC; durations in seconds.
"""

from __future__ import annotations

from typing import Any

from paramedic.alerting.views import iso
from paramedic.store.protocol import Store, StoredEvent

__all__ = ["drill_history", "drill_report"]

PAGE = 1000
BACK = ("RECOVERED", "HEALTHY")  # the service is back (RTO stops here)


async def _scan(store: Store, **kw: Any) -> list[StoredEvent]:
    """Every event matching `kw` (paged), oldest first."""
    found: list[StoredEvent] = []
    after = 0
    while True:
        rows = await store.timeline(after_seq=after, limit=PAGE, **kw)
        found += rows
        if len(rows) < PAGE:
            return found
        after = rows[-1].seq


async def drill_history(store: Store) -> list[dict[str, Any]]:
    """Every drill, newest first: what, who, and how it ended (None while running)."""
    rows = await _scan(store, kinds=("drill.started", "drill.finished"))
    ends = {r.payload["drill"]: r for r in rows if r.kind == "drill.finished"}
    out = []
    for row in reversed([r for r in rows if r.kind == "drill.started"]):
        end = ends.get(row.payload["drill"])
        out.append(
            {
                "id": row.payload["drill"],
                "service": row.service,
                "kind": row.payload["drill_kind"],
                "by": row.payload["by"],
                "started_at": iso(row.wall),
                "finished_at": iso(end.wall) if end else None,
                "outcome": end.payload["outcome"] if end else None,
                "ok": end.payload["ok"] if end else None,
            }
        )
    return out


async def drill_report(store: Store, drill: str) -> dict[str, Any] | None:
    """The report of `drill`, or None if there is no such drill."""
    started = next(
        (r for r in await _scan(store, kinds=("drill.started",)) if r.payload["drill"] == drill),
        None,
    )
    if started is None:
        return None
    window = await _window(store, started)
    p = started.payload
    injected = _first(window, "drill.injected", drill=drill)
    finished = _first(window, "drill.finished", drill=drill)
    after = injected.seq if injected else started.seq
    detected = next((e for e in window if e.kind == "failure.detected" and e.seq > after), None)
    incident = detected.payload["incident"] if detected else ""
    moves = [
        e
        for e in window
        if e.kind == "incident.transitioned" and incident and e.payload["incident"] == incident
    ]
    decided = _first(window, "recovery.decided", incident=incident) if incident else None
    back = next((e for e in moves if e.payload["to_state"] in BACK), None)
    inject_wall = injected.wall if injected else started.wall
    rto = back.wall - inject_wall if back else None
    target = float(p["target_rto_s"])
    return {
        "id": drill,
        "service": started.service,
        "kind": p["drill_kind"],
        "by": p["by"],
        "contacts": p["contacts"],
        "state": "finished" if finished else "running",
        "started_at": iso(started.wall),
        "injected": None
        if injected is None
        else {"ok": injected.payload["ok"], "how": injected.payload["how"], "at": iso(inject_wall)},
        "detected": None
        if detected is None
        else {
            "at": iso(detected.wall),
            "time_to_detect_s": round(detected.wall - inject_wall, 3),
            "layer": detected.payload["source"],
            "failure_kind": detected.payload["failure_kind"],
            "sentence": detected.payload["reason"],
        },
        "incident": incident or None,
        "decision": _decision(decided, moves),
        "path": _path(moves),
        "recovered_at": iso(back.wall) if back else None,
        "rto_s": None if rto is None else round(rto, 3),
        "target_rto_s": target,
        "rto_met": None if rto is None else rto <= target,
        "pages": await _pages(store, window + await _closing(store, finished, incident)),
        "escalation": [
            {
                "level": e.payload["level"],
                "step": e.payload["step"],
                "contacts": e.payload["contacts"],
                "at": iso(e.wall),
            }
            for e in window
            if e.kind == "alert.escalated"
        ],
        "outcome": finished.payload["outcome"] if finished else None,
        "ok": finished.payload["ok"] if finished else None,
        "finished_at": iso(finished.wall) if finished else None,
        "sentence": finished.payload["sentence"] if finished else "the drill is running",
    }


async def _window(store: Store, started: StoredEvent) -> list[StoredEvent]:
    """The service's events from the drill's start to its end (or now)."""
    drill = started.payload["drill"]
    window: list[StoredEvent] = []
    after = started.seq - 1
    while True:
        rows = await store.timeline(after_seq=after, limit=PAGE, service=started.service)
        for row in rows:
            window.append(row)
            if row.kind == "drill.finished" and row.payload.get("drill") == drill:
                return window
        if len(rows) < PAGE:
            return window
        after = rows[-1].seq


async def _closing(store: Store, finished: StoredEvent | None, incident: str) -> list[StoredEvent]:
    """What the incident said to people once the drill had ended (its all-clear is
    committed right after HEALTHY): the `alert.raised` of its ids (`<incident>:...`) among
    the service's next events."""
    if finished is None or not incident:
        return []
    rows = await store.timeline(after_seq=finished.seq, limit=PAGE, service=finished.service)
    mine = f"{incident}:"
    return [
        r for r in rows if r.kind == "alert.raised" and str(r.payload["alert_id"]).startswith(mine)
    ]


def _first(events: list[StoredEvent], kind: str, **payload: str) -> StoredEvent | None:
    for e in events:
        if e.kind == kind and all(e.payload.get(k) == v for k, v in payload.items()):
            return e
    return None


def _decision(decided: StoredEvent | None, moves: list[StoredEvent]) -> dict[str, Any] | None:
    """The recovery plan's decision and its sentence; without a plan, the first move's."""
    if decided is not None:
        return {"method": decided.payload["method"], "reason": decided.payload["sentence"]}
    if moves:
        return {"method": None, "reason": moves[0].payload["reason"]}
    return None


def _path(moves: list[StoredEvent]) -> list[str]:
    """The states the incident went through, e.g. FAILURE_DETECTED -> ... -> HEALTHY."""
    if not moves:
        return []
    path = [moves[0].payload["from_state"]]
    path += [m.payload["to_state"] for m in moves]
    return path


async def _pages(store: Store, window: list[StoredEvent]) -> list[dict[str, Any]]:
    """Every notification of every alert raised during the drill: to whom, on which channel,
    when created, delivered and acknowledged."""
    acks: dict[str, StoredEvent] = {}
    for e in window:
        if e.kind == "alert.acknowledged":
            acks.setdefault(e.payload["alert_id"], e)
    pages = []
    raised_all = [e for e in window if e.kind == "alert.raised"]
    sent = await store.deliveries([e.payload["alert_id"] for e in raised_all])
    for raised in raised_all:
        alert = raised.payload["alert_id"]
        ack = acks.get(alert)
        for row, attempts in sent.get(alert, ()):
            ok = next((a for a in attempts if a.outcome == "delivered"), None)
            pages.append(
                {
                    "alert": alert,
                    "title": raised.payload["title"],
                    "severity": raised.payload["severity"],
                    "action": row.action,
                    "receiver": row.payload.get("labels", {}).get("receiver", ""),
                    "channel": row.channel,
                    "status": row.status,
                    "created_at": iso(row.created_wall),
                    "delivered_at": iso(ok.started_wall + ok.duration_s) if ok else None,
                    "attempts": len(attempts),
                    "acknowledged_at": iso(ack.wall) if ack else None,
                    "acknowledged_by": ack.payload["by"] if ack else None,
                }
            )
    return pages
