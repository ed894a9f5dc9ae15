"""The approval page (seed 6.3): what is asked, what a timeout does, until when, how to answer.

Pure: the intake hands in the request and what it knows (severity, the service's labels and
runbook, where the API and the console are); this builds the alert and the sentences its
resolve carries. The content goes into the alert's ordinary fields, so every channel and
every user template shows it: "What" is the question with the decision's sentence,
"Impact" what happens on timeout, "Status" the deadline, "Actions" the ways to answer.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from paramedic.alerting.model import Alert, alert_id
from paramedic.config.alerting import RouteConfig
from paramedic.core.incident_events import (
    ApprovalGranted,
    ApprovalRejected,
    ApprovalRequested,
    ApprovalTimedOut,
)
from paramedic.core.severity import Severity, severity_rank
from paramedic.core.text import duration

__all__ = [
    "APPROVAL_TYPE",
    "answered",
    "approval_alert",
    "approval_alert_id",
    "approval_route",
    "approval_severity",
    "timed_out",
    "utc",
]

APPROVAL_TYPE = "approval_request"
"""The alert type of an approval page: its route goes to the approvers, and it has no
ladder of its own (its timeout is its escalation: approval.timed_out)."""

_FLOOR: Severity = "P1"


def approval_route(root: RouteConfig, approvers: Sequence[str]) -> RouteConfig:
    """The route tree with the approvers first: an approval page goes to them alone, every
    other alert walks `root` as before. No approvers: `root` unchanged."""
    if not approvers:
        return root
    page = RouteConfig(matchers=[f"type={APPROVAL_TYPE}"], receivers=list(approvers))
    return RouteConfig(routes=[page, root])


def approval_alert_id(request: ApprovalRequested) -> str:
    """One page per request: the incident's id and the request's own event id (an incident
    can ask again, for the next method of its fallback chain). Stable across restarts."""
    return alert_id(request.incident, f"approval:{request.id}")


def approval_severity(incident: Severity | None) -> tuple[Severity, str]:
    """The incident's severity, never below P1; with the sentence saying so."""
    if incident is not None and severity_rank(incident) <= severity_rank(_FLOOR):
        return incident, f"an approval request of a {incident} incident"
    if incident is None:
        return _FLOOR, f"an approval request pages at {_FLOOR} at least"
    return _FLOOR, f"an approval request of a {incident} incident pages at {_FLOOR} at least"


def utc(wall: float) -> str:
    """`2026-12-06T11:20:05Z`."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def approval_alert(
    request: ApprovalRequested,
    *,
    severity: Severity,
    severity_reason: str,
    now_wall: float,
    api_url: str,
    dashboard: str = "",
    labels: Mapping[str, str] | None = None,
    runbook: str = "",
) -> Alert:
    """The page asking the approvers; `now_wall` is when it is sent (for the time left)."""
    service = request.service or ""
    method = request.method
    deadline = request.at.wall + request.timeout_s
    left = max(0.0, deadline - now_wall)
    every = duration(request.timeout_s)
    incident = shlex.quote(request.incident)
    url = shlex.quote(api_url)
    endpoint = f"{api_url}/api/incidents/{request.incident}"
    actions = [
        f"approve: paramedic approve {incident} --url {url} --reason 'approved from the page'",
        f"reject: paramedic reject {incident} --url {url} --reason '<why>'",
        "(the CLI reads an operator token from PARAMEDIC_TOKEN)",
        f"API: POST {endpoint}/approve (or /reject) with the header"
        ' "Authorization: Bearer <operator token>" and the body {"reason": "..."}',
    ]
    if dashboard:
        actions.append(f"console: {dashboard}")
    return Alert(
        id=approval_alert_id(request),
        type=APPROVAL_TYPE,
        source=service,
        severity=severity,
        title=f"{service}: approval needed for a {method} recovery",
        labels={"service": service, "kind": APPROVAL_TYPE, **(labels or {}), "method": method},
        what=f"Approve a {method} recovery of {service}? {request.sentence}",
        when_wall=request.at.wall,
        impact=(
            f"nothing runs until someone answers; on timeout ({every}) no action is taken:"
            f" the request stays open (a late answer still works) and escalates"
            f" (approval_timeout), again every {every}"
        ),
        status=f"awaiting approval until {utc(deadline)} ({duration(left)} left)",
        actions=tuple(actions),
        eta=f"the {method} recovery starts once approved",
        runbook=runbook,
        dashboard=dashboard,
        severity_reason=severity_reason,
        incident=request.incident,
    )


def answered(event: ApprovalGranted | ApprovalRejected) -> str:
    """The resolve's sentence for an answer (the resolve names who answered)."""
    late = " (after the approval timeout)" if event.late else ""
    if isinstance(event, ApprovalGranted):
        return f"approved {event.method}{late}: {event.why}; the recovery runs"
    return f"rejected {event.method}{late}: {event.why}; a human recovers the service"


def timed_out(event: ApprovalTimedOut) -> str:
    """The resolve's sentence when nobody answered in time."""
    return (
        f"timed out: no answer on {event.method} within {duration(event.waited_s)}; no action"
        " taken, escalating; the request stays open: approving or rejecting it still works"
    )
