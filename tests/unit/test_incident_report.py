"""The incident report's pure builder, its Markdown and its checklist, on hand-made records
(no clock read, no store): what each section says, and that the JSON fits its schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from paramedic.alerting.events import AlertAcknowledged
from paramedic.api.checklist import Delivery, Page, checklist
from paramedic.api.report import build_report
from paramedic.api.report_md import render_markdown
from paramedic.core.clock import Instant
from paramedic.core.events import Event, NoteAdded
from paramedic.core.failure_events import FailureDetected
from paramedic.core.incident_events import (
    ApprovalGranted,
    ApprovalRequested,
    EscalationTriggered,
    IncidentDocumented,
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
from paramedic.store.outbox import AlertRow, AttemptRow, NotificationRow
from tests.conftest import REPO

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
INC = "inc_1"
SCHEMA = json.loads((REPO / "docs/schemas/incident-report.schema.json").read_text())


def at(dt: float) -> Instant:
    return Instant(mono=100.0 + dt, wall=T0 + dt)


def scripted(*, finished_s: float = 4.2, ok: bool = True) -> list[Event]:
    """A crash, an approved cold restart of two steps, validation, two phases."""
    s = "engine"
    return [
        FailureDetected(
            at=at(0),
            service=s,
            incident=INC,
            failure_kind="crash",
            reason="pid 7 killed by SIGKILL",
            source="process",
            evidence=("rc -9",),
        ),
        IncidentOpened(
            at=at(0),
            service=s,
            incident=INC,
            failure_kind="crash",
            reason="pid 7 killed by SIGKILL",
            source="process",
        ),
        RecoveryDecided(
            at=at(0.01),
            service=s,
            incident=INC,
            method="cold",
            requires_approval=True,
            sentence="cold restart: no checkpoint",
            fallback_chain=("cold", "manual"),
        ),
        ApprovalRequested(
            at=at(0.02),
            service=s,
            incident=INC,
            method="cold",
            sentence="cold restart: no checkpoint",
            timeout_s=300.0,
            market_open=False,
        ),
        ApprovalGranted(
            at=at(1.5), service=s, incident=INC, method="cold", by="olga", why="go | ahead"
        ),
        RecoveryStepStarted(at=at(1.6), service=s, incident=INC, step="Restart", index=1, total=2),
        RecoveryStepFinished(
            at=at(2.1),
            service=s,
            incident=INC,
            step="Restart",
            ok=True,
            duration_s=0.5,
            detail="restarted",
        ),
        RecoveryStepStarted(at=at(2.1), service=s, incident=INC, step="Wait", index=2, total=2),
        RecoveryStepFinished(
            at=at(3.0),
            service=s,
            incident=INC,
            step="Wait",
            ok=True,
            duration_s=0.9,
            detail="healthy",
        ),
        ValidationChecked(
            at=at(3.2),
            service=s,
            incident=INC,
            window="immediate",
            ok=True,
            sentence="immediate validation passed: 1 checks",
            checks=(("positions", True, True, "positions: agree", 0.0123456),),
        ),
        IncidentTransitioned(
            at=at(3.2),
            service=s,
            incident=INC,
            from_state="VALIDATING",
            to_state="RECOVERED",
            reason="validated",
            method="cold",
            attempt=1,
        ),
        RecoveryFinished(
            at=at(3.3),
            service=s,
            incident=INC,
            method="cold",
            ok=ok,
            duration_s=finished_s,
            reason="immediate validation passed",
        ),
        ResumptionPhaseEntered(
            at=at(3.4),
            service=s,
            incident=INC,
            phase="monitoring_only",
            multiplier=0.0,
            held=False,
            sentence="resumption started",
        ),
        NoteAdded(
            at=at(3.5),
            service=s,
            author="paramedic",
            text=f"incident {INC}: preserved 2 files (10 bytes) in /var/snap/x",
        ),
        NoteAdded(at=at(3.6), service=s, author="paramedic", text="incident inc_2: not ours"),
        EscalationTriggered(
            at=at(3.7),
            service=s,
            incident="inc_2",
            trigger="rto_exceeded",
            reason="another incident",
        ),
    ]


def notification(
    alert: str, receiver: str, channel: str, action: str, created: float
) -> NotificationRow:
    return NotificationRow(
        id=f"n-{alert}-{receiver}-{channel}-{action}",
        alert_id=alert,
        channel=channel,
        action=action,
        severity="P0",
        idempotency_key="k",
        status="delivered",
        attempts=1,
        due_wall=created,
        created_wall=created,
        last_detail="",
        payload={"labels": {"receiver": receiver}},
    )


def page(alert: str, *, ack: float | None, deliveries: list[tuple[str, str, str, float]]) -> Page:
    data: dict[str, Any] = {"alert": {"title": f"{alert} title"}}
    if ack is not None:
        data["alert"]["ack"] = {"by": "olga", "why": "on it", "at_wall": T0 + ack, "at_mono": 0.0}
    row = AlertRow(
        id=alert,
        incident=INC,
        service="engine",
        severity="P0",
        state="resolved",
        opened_wall=T0 + 0.003,
        updated_wall=T0 + 9,
        data=data,
    )
    out = []
    for receiver, channel, action, created in deliveries:
        n = notification(alert, receiver, channel, action, T0 + created)
        out.append(
            Delivery(n, [AttemptRow(n.id, 1, T0 + created + 0.001, 0.004, "delivered", 200, "ok")])
        )
    return Page(row, out)


FAILURE_PAGE = page(
    f"{INC}:failure",
    ack=0.75,
    deliveries=[
        ("team", "slack", "trigger", 0.004),
        ("oncall", "pagerduty", "trigger", 0.004),
        ("oncall", "pagerduty", "resolve", 8.0),
    ],
)


def test_the_report_reads_each_section_from_the_record() -> None:
    """Detection layer and sentence; decision with its reason; the approval with who, when
    (ms after detection) and why; each step with its duration; pages per receiver and channel
    grouped by action with delivery times; validation checks rounded to the ms; the phase;
    what was preserved; RTO against target; time to acknowledge. Another incident's events
    and notes are left out."""
    report = build_report(
        INC, scripted(), [FAILURE_PAGE], target_rto_s=30.0, generated_wall=T0 + 60
    )
    jsonschema.validate(report, SCHEMA)
    inc = report["incident"]
    assert ("process", "pid 7 killed by SIGKILL", ["rc -9"]) == (
        inc["detection"]["layer"],
        inc["detection"]["sentence"],
        inc["detection"]["evidence"],
    )
    assert ("RECOVERED", "cold", 1) == (inc["state"], inc["method"], inc["attempts"])
    assert "2026-01-01T00:00:00.000Z" == inc["opened_at"]
    assert ["cold restart: no checkpoint"] == [d["sentence"] for d in report["decision"]]
    [approval] = report["approvals"]
    [answer] = approval["answers"]
    assert ("granted", "olga", "go | ahead", 1.5, "2026-01-01T00:00:01.500Z") == (
        approval["answer"],
        answer["by"],
        answer["why"],
        answer["t_s"],
        answer["at"],
    )
    steps = [(s["index"], s["name"], s["ok"], s["duration_s"]) for s in report["steps"]]
    assert [(1, "Restart", True, 0.5), (2, "Wait", True, 0.9)] == steps
    [p] = report["pages"]
    rows = [(d["action"], d["receiver"], d["channel"], d["delivered_at"]) for d in p["deliveries"]]
    assert [
        ("trigger", "oncall", "pagerduty", "2026-01-01T00:00:00.009Z"),
        ("trigger", "team", "slack", "2026-01-01T00:00:00.009Z"),
        ("resolve", "oncall", "pagerduty", "2026-01-01T00:00:08.005Z"),
    ] == rows
    assert ("olga", 0.75) == (p["acknowledged"]["by"], p["acknowledged"]["t_s"])
    assert "2026-01-01T00:00:08.000Z" == p["resolved_at"]
    [v] = report["validation"]
    assert [
        {
            "name": "positions",
            "ok": True,
            "critical": True,
            "sentence": "positions: agree",
            "duration_s": 0.012,
        }
    ] == v["checks"]
    assert [("monitoring_only", 0.0, False)] == [
        (r["phase"], r["multiplier"], r["held"]) for r in report["resumption"]
    ]
    assert ["preserved 2 files (10 bytes) in /var/snap/x"] == [
        x["sentence"] for x in report["preserved"]
    ]
    assert {
        "seconds": 4.2,
        "target_s": 30.0,
        "met": True,
        "ok": True,
        "method": "cold",
        "reason": "immediate validation passed",
    } == report["rto"]
    assert (0.75, "olga") == (report["time_to_acknowledge_s"], report["acknowledged_by"])
    assert [] == report["escalations"]
    kinds = [e["kind"] for e in report["timeline"]]
    assert "escalation.triggered" not in kinds
    assert 1 == sum(k == "note.added" for k in kinds)


def test_rto_over_target_or_failed_is_not_met() -> None:
    """RTO 45 s against 30 s: missed; a failed recovery is never "met" whatever it took."""
    slow = build_report(INC, scripted(finished_s=45.0), [], target_rto_s=30.0, generated_wall=T0)
    failed = build_report(INC, scripted(ok=False), [], target_rto_s=30.0, generated_wall=T0)
    assert (False, False) == (slow["rto"]["met"], failed["rto"]["met"])
    assert None is slow["time_to_acknowledge_s"]
    assert "45.000 s against a target of 30 s (missed)" in render_markdown(slow)
    assert "(missed, recovery failed)" in render_markdown(failed)


def test_the_time_to_acknowledge_is_the_first_ack_not_the_latest() -> None:
    """Acknowledged at 0.75 s by olga, then again at 9 s by bob (the alert's row keeps only
    bob's): the report's time to acknowledge is olga's 0.75 s, read from the timeline."""
    again = page(
        f"{INC}:failure",
        ack=None,
        deliveries=[("oncall", "pagerduty", "trigger", 0.004)],
    )
    again.alert.data["alert"]["ack"] = {"by": "bob", "why": "again", "at_wall": T0 + 9.0}
    acks = [
        AlertAcknowledged(
            at=at(when), service="engine", alert_id=f"{INC}:failure", by=by, why="on it"
        )
        for when, by in ((0.75, "olga"), (9.0, "bob"))
    ]
    report = build_report(INC, [*scripted(), *acks], [again], target_rto_s=30.0, generated_wall=T0)
    assert (0.75, "olga") == (report["time_to_acknowledge_s"], report["acknowledged_by"])


def test_an_unknown_incident_gives_an_empty_report_that_still_fits_the_schema() -> None:
    """Nothing on the record for the id: every section empty, nothing invented."""
    report = build_report("inc_none", scripted(), [], target_rto_s=30.0, generated_wall=T0)
    jsonschema.validate(report, SCHEMA)
    assert ([], [], None) == (report["steps"], report["timeline"], report["rto"]["seconds"])


def test_markdown_cells_stay_on_one_line_with_pipes_escaped() -> None:
    """A reason holding `|` and newlines cannot break a table: pipes escaped, lines joined."""
    events = scripted()
    events[4] = ApprovalGranted(
        at=at(1.5),
        service="engine",
        incident=INC,
        method="cold",
        by="olga",
        why="line one\nline | two",
    )
    md = render_markdown(
        build_report(INC, events, [FAILURE_PAGE], target_rto_s=30.0, generated_wall=T0)
    )
    assert "| line one line \\| two |" in md
    width = 0
    for line in md.splitlines():
        if not line.startswith("|"):
            width = 0
            continue
        cells = line.replace("\\|", "").count("|")
        width = width or cells  # the header row sets the table's width
        assert width == cells, line
    assert "## After-recovery checklist" in md
    assert "- [ ] All stakeholders notified: no all-clear sent yet" in md


def _items(events: list[Event], pages: list[Page] | None = None) -> dict[str, tuple[bool, str]]:
    return {i["item"]: (i["done"], i["detail"]) for i in checklist(INC, events, pages or [])}


def test_the_checklist_ticks_each_item_when_it_happens() -> None:
    """Validation passed and the recovery recorded: validation and metrics ticked; the report
    generated: documented; the all-clear page delivered: stakeholders; lessons written by an
    operator: learned (the latest text counts)."""
    events = scripted()
    items = _items(events)
    assert (True, "immediate validation passed") == items["validation_complete"]
    assert items["metrics_updated"][0]
    assert (False, "no all-clear sent yet") == items["stakeholders_notified"]
    assert (False, "no report generated yet") == items["incident_documented"]
    assert (False, "no lessons written yet") == items["lessons_learned"]
    events += [
        IncidentDocumented(at=at(10), service="engine", incident=INC, by="vic", format="json"),
        LessonsCaptured(at=at(11), service="engine", incident=INC, by="olga", text="a"),
        LessonsCaptured(at=at(12), service="engine", incident=INC, by="ann", text="b"),
    ]
    clear = page(f"{INC}:all-clear", ack=None, deliveries=[("oncall", "pagerduty", "trigger", 9.0)])
    items = _items(events, [FAILURE_PAGE, clear])
    assert (True, "json report generated by vic") == items["incident_documented"]
    assert (True, "written by ann") == items["lessons_learned"]
    assert (True, "all-clear delivered to oncall") == items["stakeholders_notified"]
    report = build_report(INC, events, [FAILURE_PAGE, clear], target_rto_s=30.0, generated_wall=T0)
    assert ("b", 2) == (report["lessons"]["text"], report["lessons"]["revisions"])
    assert (0.75, "olga") == (report["time_to_acknowledge_s"], report["acknowledged_by"])


def test_a_failed_window_leaves_validation_unticked_with_its_sentence() -> None:
    """A short window that failed after the immediate one passed: not complete, and the
    checklist says which check failed."""
    events = scripted()
    events.append(
        ValidationChecked(
            at=at(40),
            service="engine",
            incident=INC,
            window="short",
            ok=False,
            sentence="short validation failed: positions: differ",
            checks=(("positions", False, True, "positions: differ", 0.01),),
        )
    )
    assert (False, "short validation failed: positions: differ") == _items(events)[
        "validation_complete"
    ]
