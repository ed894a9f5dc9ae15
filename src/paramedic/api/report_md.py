"""The incident report as Markdown that pastes cleanly into a post-mortem document.

Renders the document `report.py` builds, and nothing else: the JSON and the Markdown never
disagree. GitHub-flavoured tables; every cell is one line with its pipes escaped, so a
sentence quoting a shell command or a JSON path cannot break a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["render_markdown"]


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report, headed by the incident, ending with the lessons learned."""
    inc = report["incident"]
    rto = report["rto"]
    out: list[str] = [
        f"# Incident {inc['id']}: {inc['service']} {inc['failure_kind'] or ''}".rstrip(),
        "",
        _table(
            ("Field", "Value"),
            [
                ("Service", inc["service"]),
                ("Failure", inc["failure_kind"]),
                ("Detected by", inc["detection"]["layer"]),
                ("Detected at", inc["detection"]["at"]),
                ("Detection", inc["detection"]["sentence"]),
                ("State", inc["state"]),
                ("Method", inc["method"]),
                ("RTO", _rto(rto)),
                ("Time to acknowledge", _tta(report)),
                ("Report generated at", report["generated_at"]),
            ],
        ),
    ]
    detection = inc["detection"]
    if detection["evidence"]:
        out += ["", "Evidence:", "", *(f"- {_line(e)}" for e in detection["evidence"])]
    out += _section(
        "Decision",
        ("At", "T+", "Method", "Approval", "Reason"),
        [
            (
                d["at"],
                _t(d["t_s"]),
                d["method"],
                "required" if d["requires_approval"] else "not required",
                d["sentence"],
            )
            for d in report["decision"]
        ],
    )
    out += _section(
        "Approvals",
        ("Requested", "T+", "Method", "Answer", "By", "At", "T+ answer", "Why"),
        [
            (
                a["at"],
                _t(a["t_s"]),
                a["method"],
                ans["answer"] + (" (late)" if ans["late"] else ""),
                ans["by"],
                ans["at"],
                _t(ans["t_s"]),
                ans["why"],
            )
            for a in report["approvals"]
            for ans in (
                a["answers"]
                or [
                    {
                        "answer": "pending",
                        "late": False,
                        "by": None,
                        "at": None,
                        "t_s": None,
                        "why": None,
                    }
                ]
            )
        ],
    )
    out += _section(
        "Recovery steps",
        ("#", "Step", "Result", "Started", "Duration", "Detail"),
        [
            (
                f"{s['index']}/{s['total']}" if s["index"] is not None else "",
                s["name"],
                "ok" if s["ok"] else "FAILED",
                s["started_at"],
                _secs(s["duration_s"]),
                s["detail"],
            )
            for s in report["steps"]
        ],
    )
    out += _pages(report["pages"])
    out += _section(
        "Escalations",
        ("At", "T+", "Trigger", "Reason"),
        [(e["at"], _t(e["t_s"]), e["trigger"], e["reason"]) for e in report["escalations"]],
    )
    out += _section(
        "Validation",
        ("At", "Window", "Check", "Result", "Duration", "Sentence"),
        [
            (v["at"], v["window"], c["name"], _verdict(c), _secs(c["duration_s"]), c["sentence"])
            for v in report["validation"]
            for c in (
                v["checks"]
                or [
                    {
                        "name": "",
                        "ok": v["ok"],
                        "critical": True,
                        "duration_s": None,
                        "sentence": v["sentence"],
                    }
                ]
            )
        ],
    )
    out += _section(
        "Resumption",
        ("At", "T+", "Phase", "Size", "Held", "Sentence"),
        [
            (
                r["at"],
                _t(r["t_s"]),
                r["phase"],
                f"{r['multiplier']:g}x",
                "yes" if r["held"] else "no",
                r["sentence"],
            )
            for r in report["resumption"]
        ],
    )
    out += ["", "## Preserved state", ""]
    preserved = report["preserved"]
    out += [f"- {p['at']}: {_line(p['sentence'])}" for p in preserved] or ["Nothing was preserved."]
    out += ["", "## After-recovery checklist", ""]
    for item in report["checklist"]:
        mark = "x" if item["done"] else " "
        when = f" ({item['at']})" if item["at"] else ""
        out.append(f"- [{mark}] {item['label']}{when}: {_line(item['detail'])}")
    out += ["", "## Lessons learned", ""]
    lessons = report["lessons"]
    if lessons is None:
        out.append("Not written yet (`paramedic incident lessons ID TEXT`).")
    else:
        out += [
            f"Written by {lessons['by']} at {lessons['at']}:",
            "",
            *(f"> {line}".rstrip() for line in lessons["text"].splitlines()),
        ]
    out += _section(
        "Timeline",
        ("Time (UTC)", "T+", "Event", "What happened"),
        [(e["at"], _t(e["t_s"]), e["kind"], e["summary"]) for e in report["timeline"]],
    )
    return "\n".join(out) + "\n"


def _pages(pages: Sequence[dict[str, Any]]) -> list[str]:
    out = ["", "## Pages", ""]
    if not pages:
        return [*out, "None."]
    for p in pages:
        out.append(f"### {_line(p['title']) or p['alert']} ({p['severity']}, {p['state']})")
        out.append("")
        out.append(f"Alert `{p['alert']}` opened {p['opened_at']} (T+{_t(p['t_s'])}).")
        ack = p["acknowledged"]
        if ack is not None:
            when = f"{ack['at']} (T+{_t(ack['t_s'])})"
            out.append(f"Acknowledged by {ack['by']} at {when}: {_line(ack['why'])}.")
        if p["resolved_at"]:
            out.append(f"Resolved at {p['resolved_at']}.")
        out.append("")
        out.append(
            _table(
                (
                    "Receiver",
                    "Channel",
                    "Action",
                    "Status",
                    "Queued",
                    "Delivered",
                    "T+",
                    "Attempts",
                ),
                [
                    (
                        d["receiver"],
                        d["channel"],
                        d["action"],
                        d["status"],
                        d["queued_at"],
                        d["delivered_at"],
                        _t(d["t_s"]),
                        str(len(d["attempts"])),
                    )
                    for d in p["deliveries"]
                ],
            )
            if p["deliveries"]
            else "No notification was sent."
        )
        out.append("")
    return out[:-1]


def _section(title: str, head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return ["", f"## {title}", "", _table(head, rows) if rows else "None."]


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return _line(str(value)).replace("|", "\\|")


def _line(text: Any) -> str:
    """One line: a newline in a sentence would end a table row or a list item."""
    return " ".join(str(text or "").split())


def _t(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.3f} s"


def _secs(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.3f} s"


def _tta(report: dict[str, Any]) -> str:
    seconds = report["time_to_acknowledge_s"]
    if seconds is None:
        return "not acknowledged"
    return f"{seconds:.3f} s after detection, by {report['acknowledged_by']}"


def _rto(rto: dict[str, Any]) -> str:
    if rto["seconds"] is None:
        return f"not finished (target {rto['target_s']:g} s)"
    met = "met" if rto["met"] else "missed"
    outcome = "" if rto["ok"] else ", recovery failed"
    return f"{rto['seconds']:.3f} s against a target of {rto['target_s']:g} s ({met}{outcome})"


def _verdict(check: dict[str, Any]) -> str:
    if check["ok"]:
        return "pass"
    return "FAIL" if check["critical"] else "warning"
