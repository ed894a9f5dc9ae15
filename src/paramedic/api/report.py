"""The incident report (post-mortem export), built from what is on the record.

Pure: the typed timeline of one incident and the pages the outbox holds for it go in, one
JSON-ready document comes out (its JSON Schema is `docs/schemas/incident-report.schema.json`;
`report_md.py` renders the same document as Markdown). No clock is read here: the caller
passes the generation time, so the same record always gives the same report.

Times are ISO 8601 UTC to the millisecond; `t_s` is seconds since detection, so a reader of
the report never subtracts timestamps by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from paramedic.alerting.events import AlertAcknowledged
from paramedic.api.checklist import Page, all_clear_id, checklist, iso, receiver
from paramedic.core.events import Event, NoteAdded
from paramedic.core.failure_events import FailureDetected
from paramedic.core.incident_events import (
    ApprovalGranted,
    ApprovalRejected,
    ApprovalRequested,
    ApprovalTimedOut,
    EscalationTriggered,
    IncidentOpened,
    IncidentTransitioned,
    LessonsCaptured,
    RecoveryDecided,
    RecoveryFinished,
    RecoveryStepFinished,
    RecoveryStepStarted,
    ResumptionPhaseEntered,
    ValidationChecked,
)
from paramedic.store.outbox import AlertRow

__all__ = ["REPORT_SCHEMA", "build_report"]

REPORT_SCHEMA = "paramedic.incident-report/1"
"""Names the document's shape; a change that breaks a reader gets a new number."""


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def build_report(
    incident: str,
    events: Sequence[Event],
    pages: Sequence[Page],
    *,
    target_rto_s: float,
    generated_wall: float,
) -> dict[str, Any]:
    """The report of `incident`. `events` is the service's timeline (oldest first; other
    incidents' events are ignored); `pages` the alerts the outbox holds for this incident."""
    mine = [e for e in events if getattr(e, "incident", None) == incident]
    notes = _notes(events, incident)
    noted = {id(n) for n, _ in notes}
    opened = next((e for e in mine if isinstance(e, IncidentOpened)), None)
    detected = next((e for e in mine if isinstance(e, FailureDetected)), None)
    start = opened.at.wall if opened else detected.at.wall if detected else generated_wall

    def t(wall: float | None) -> float | None:
        return None if wall is None else _ms(wall - start)

    def at(e: Event) -> dict[str, Any]:
        return {"at": iso(e.at.wall), "t_s": t(e.at.wall)}

    moves = [e for e in mine if isinstance(e, IncidentTransitioned)]
    finished = [e for e in mine if isinstance(e, RecoveryFinished)]
    rto = finished[-1] if finished else None
    page_docs = [
        _page(p, t) for p in sorted(pages, key=lambda p: (p.alert.opened_wall, p.alert.id))
    ]
    paged = {p.alert.id for p in pages} - {all_clear_id(incident)}
    # The first answer, from the timeline: an alert's row keeps only its latest ack (a
    # second `ack` of it would otherwise read as the time to acknowledge).
    acks = [
        (e.at.wall, e.by)
        for e in events
        if isinstance(e, AlertAcknowledged) and e.alert_id in paged
    ]
    acks += [w for p in pages if (w := _ack(p.alert)) is not None and p.alert.id in paged]
    first_ack = min(acks, key=lambda a: a[0]) if acks else None
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": iso(generated_wall),
        "incident": _incident(incident, opened or detected, detected, moves, rto, start),
        "decision": [
            {
                **at(e),
                "method": e.method,
                "sentence": e.sentence,
                "requires_approval": e.requires_approval,
                "fallback_chain": list(e.fallback_chain),
            }
            for e in mine
            if isinstance(e, RecoveryDecided)
        ],
        "approvals": _approvals(mine, at),
        "steps": _steps(mine, at),
        "pages": page_docs,
        "escalations": [
            {**at(e), "trigger": e.trigger, "reason": e.reason, "checks": list(e.checks)}
            for e in mine
            if isinstance(e, EscalationTriggered)
        ],
        "validation": [
            {
                **at(e),
                "window": e.window,
                "ok": e.ok,
                "sentence": e.sentence,
                "checks": [
                    {
                        "name": c[0],
                        "ok": c[1],
                        "critical": c[2],
                        "sentence": c[3],
                        "duration_s": _ms(c[4]),
                    }
                    for c in e.checks
                ],
            }
            for e in mine
            if isinstance(e, ValidationChecked)
        ],
        "resumption": [
            {
                **at(e),
                "phase": e.phase,
                "multiplier": e.multiplier,
                "held": e.held,
                "sentence": e.sentence,
            }
            for e in mine
            if isinstance(e, ResumptionPhaseEntered)
        ],
        "rto": {
            "seconds": _ms(rto.duration_s) if rto else None,
            "target_s": target_rto_s,
            "met": (rto.ok and rto.duration_s <= target_rto_s) if rto else None,
            "ok": rto.ok if rto else None,
            "method": rto.method if rto else None,
            "reason": rto.reason if rto else None,
        },
        "time_to_acknowledge_s": t(first_ack[0]) if first_ack else None,
        "acknowledged_by": first_ack[1] if first_ack else None,
        "preserved": [
            {"at": iso(n.at.wall), "t_s": t(n.at.wall), "sentence": text}
            for n, text in notes
            if text.startswith(("preserved ", "failed state NOT preserved"))
        ],
        "checklist": checklist(incident, events, pages),
        "lessons": _lessons(mine),
        # In time order: events are recorded in the order they were submitted, and two parts
        # of paramedic may stamp theirs a millisecond apart the other way round (stable:
        # equal times keep the recorded order).
        "timeline": [
            {**at(e), "kind": e.kind, "summary": e.summary()}
            for e in sorted(events, key=lambda e: e.at.wall)
            if getattr(e, "incident", None) == incident or id(e) in noted
        ],
    }


def _incident(
    incident: str,
    origin: IncidentOpened | FailureDetected | None,
    detected: FailureDetected | None,
    moves: Sequence[IncidentTransitioned],
    rto: RecoveryFinished | None,
    start: float,
) -> dict[str, Any]:
    """Who, what, where it stands, and how it was detected (the opening record quotes the
    failure; the failure itself adds the evidence)."""
    method = rto.method if rto else next((m.method for m in reversed(moves) if m.method), None)
    return {
        "id": incident,
        "service": origin.service if origin else None,
        "failure_kind": origin.failure_kind if origin else None,
        "state": moves[-1].to_state if moves else ("FAILURE_DETECTED" if origin else None),
        "method": method,
        "attempts": max((m.attempt for m in moves), default=0),
        "opened_at": iso(start),
        "detection": {
            "layer": origin.source if origin else None,
            "sentence": origin.reason if origin else None,
            "evidence": list(detected.evidence) if detected else [],
            "at": iso(start),
        },
    }


def _notes(events: Sequence[Event], incident: str) -> list[tuple[NoteAdded, str]]:
    """paramedic's notes on this incident (`incident <id>: ...`), with the prefix cut off."""
    prefix = f"incident {incident}: "
    return [
        (e, e.text[len(prefix) :])
        for e in events
        if isinstance(e, NoteAdded) and e.text.startswith(prefix)
    ]


Stamp = Callable[[Event], dict[str, Any]]
Offset = Callable[[float | None], float | None]


def _approvals(mine: Sequence[Event], at: Stamp) -> list[dict[str, Any]]:
    """Each request with its answer: who, when, why (or the timeout, or still pending)."""
    out: list[dict[str, Any]] = []
    for e in mine:
        if isinstance(e, ApprovalRequested):
            out.append(
                {
                    **at(e),
                    "method": e.method,
                    "sentence": e.sentence,
                    "timeout_s": e.timeout_s,
                    "market_open": e.market_open,
                    "answer": "pending",
                    "answers": [],
                }
            )
        elif isinstance(e, ApprovalGranted | ApprovalRejected | ApprovalTimedOut) and out:
            last = out[-1]
            if isinstance(e, ApprovalTimedOut):
                last["answers"].append(
                    {**at(e), "answer": "timed_out", "by": None, "why": None, "late": False}
                )
                last["answer"] = "timed_out"
                continue
            word = "granted" if isinstance(e, ApprovalGranted) else "rejected"
            last["answers"].append(
                {**at(e), "answer": word, "by": e.by, "why": e.why, "late": e.late}
            )
            last["answer"] = word
    return out


def _steps(mine: Sequence[Event], at: Stamp) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    started: dict[str, RecoveryStepStarted] = {}
    for e in mine:
        if isinstance(e, RecoveryStepStarted):
            started[e.step] = e
        elif isinstance(e, RecoveryStepFinished):
            began = started.pop(e.step, None)
            out.append(
                {
                    **at(e),
                    "index": began.index if began else None,
                    "total": began.total if began else None,
                    "name": e.step,
                    "started_at": iso(began.at.wall) if began else None,
                    "ok": e.ok,
                    "duration_s": _ms(e.duration_s),
                    "detail": e.detail,
                }
            )
    return out


def _ack(alert: AlertRow) -> tuple[float, str] | None:
    ack = alert.data.get("alert", {}).get("ack")
    if not isinstance(ack, dict) or "at_wall" not in ack:
        return None
    return float(ack["at_wall"]), str(ack.get("by", ""))


def _page(page: Page, t: Offset) -> dict[str, Any]:
    row = page.alert
    alert = row.data.get("alert", {})
    ack = alert.get("ack") if isinstance(alert.get("ack"), dict) else None
    resolves = [
        d.notification.created_wall for d in page.deliveries if d.notification.action == "resolve"
    ]
    resolved = (
        min(resolves) if resolves else (row.updated_wall if row.state == "resolved" else None)
    )
    deliveries = []
    # Grouped by action in the order the actions first happened (trigger, acknowledge,
    # resolve...), then by receiver and channel: a reader scans one action at a time.
    first: dict[str, float] = {}
    for d in page.deliveries:
        n = d.notification
        first[n.action] = min(first.get(n.action, n.created_wall), n.created_wall)
    for d in sorted(
        page.deliveries,
        key=lambda d: (
            first[d.notification.action],
            d.notification.action,
            receiver(d.notification),
            d.notification.channel,
        ),
    ):
        n = d.notification
        attempts = sorted(d.attempts, key=lambda a: a.number)
        done = [a for a in attempts if a.outcome == "delivered"]
        delivered = done[0].started_wall + done[0].duration_s if done else None
        deliveries.append(
            {
                "receiver": receiver(n),
                "channel": n.channel,
                "action": n.action,
                "status": n.status,
                "queued_at": iso(n.created_wall),
                "delivered_at": iso(delivered),
                "t_s": t(delivered),
                "attempts": [
                    {
                        "number": a.number,
                        "at": iso(a.started_wall),
                        "duration_s": _ms(a.duration_s),
                        "outcome": a.outcome,
                        "status": a.status,
                        "detail": a.detail,
                    }
                    for a in attempts
                ],
            }
        )
    return {
        "alert": row.id,
        "title": str(alert.get("title", "")),
        "severity": row.severity,
        "state": row.state,
        "opened_at": iso(row.opened_wall),
        "t_s": t(row.opened_wall),
        "acknowledged": None
        if ack is None
        else {
            "by": ack.get("by"),
            "why": ack.get("why"),
            "at": iso(ack.get("at_wall")),
            "t_s": t(ack.get("at_wall")),
        },
        "resolved_at": iso(resolved),
        "deliveries": deliveries,
    }


def _lessons(mine: Sequence[Event]) -> dict[str, Any] | None:
    found = [e for e in mine if isinstance(e, LessonsCaptured)]
    if not found:
        return None
    last = found[-1]
    return {"text": last.text, "by": last.by, "at": iso(last.at.wall), "revisions": len(found)}
