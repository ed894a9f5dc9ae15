"""The log channel's one line, and Retry-After parsing for every HTTP channel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import structlog
from structlog.testing import capture_logs

from paramedic.alerting.channels._http import parse_retry_after
from paramedic.alerting.channels.base import Notification, one_line
from paramedic.alerting.channels.log import LogChannel

NOW = datetime(2025, 11, 25, 10, 15, 23, tzinfo=UTC)


def n(
    action: str = "trigger", severity: str = "P0", receiver: str = "oncall", nid: str = "ntf_1"
) -> Notification:
    return Notification(
        id=nid,
        alert_id="alr_42",
        action=action,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        title="[P0] engine crash",
        body="What: crash\nWhen: now",
        fields={"what": "pid 7 killed by SIGKILL", "status": "resolved by olga: fixed"},
        labels={"service": "engine", "receiver": receiver},
        idempotency_key=f"alr_42:{action}:{receiver}:log:0",
        links={"runbook": "https://wiki/r"},
    )


@pytest.mark.parametrize(
    ("action", "severity", "level", "line"),
    [
        ("trigger", "P0", "critical", "page: [P0] engine crash: pid 7 killed by SIGKILL"),
        ("trigger", "P1", "error", "page: [P0] engine crash: pid 7 killed by SIGKILL"),
        (
            "acknowledge",
            "P2",
            "warning",
            "acknowledged: [P0] engine crash: pid 7 killed by SIGKILL",
        ),
        ("trigger", "P3", "info", "page: [P0] engine crash: pid 7 killed by SIGKILL"),
        ("resolve", "P0", "info", "resolved: [P0] engine crash: resolved by olga: fixed"),
        # A live-status update says where the recovery is (its status), at info.
        ("update", "P0", "info", "status update: [P0] engine crash: resolved by olga: fixed"),
    ],
)
async def test_log_channel_writes_one_readable_line_and_the_body_at_debug(
    action: str, severity: str, level: str, line: str
) -> None:
    """One readable line per notification (issue 13 changed it on purpose: it was the whole
    body as a repr): what happened (or, for a resolve, why it is over), the service and the
    receiver, at a level matching the severity (a resolve is info); the rendered body comes
    after it at debug. It is always delivered."""
    channel = LogChannel("audit", structlog.get_logger("paramedic.alerts"))
    with capture_logs() as logs:
        result = await channel.send(n(action, severity))
    assert "delivered" == result.outcome
    assert [
        {
            "event": line,
            "log_level": level,
            "service": "engine",
            "receivers": "oncall",
            "alert_id": "alr_42",
            "action": action,
            "severity": severity,
            "channel": "audit",
        },
        {
            "event": "alert body",
            "log_level": "debug",
            "alert_id": "alr_42",
            "action": action,
            "body": "What: crash\nWhen: now",
            "fields": {"what": "pid 7 killed by SIGKILL", "status": "resolved by olga: fixed"},
            "links": {"runbook": "https://wiki/r"},
            "idempotency_key": f"alr_42:{action}:oncall:log:0",
        },
    ] == logs


async def test_the_receivers_of_one_page_share_one_line() -> None:
    """Seven receivers' notifications of one alert arriving together (the default policy
    with no channel but the log) are one line naming all seven, not seven bodies; a later
    notification of the same alert (the resolve) is a line of its own."""
    import asyncio

    channel = LogChannel("log", structlog.get_logger("paramedic.alerts"))
    names = [f"r{i}" for i in range(7)]
    with capture_logs() as logs:
        results = await asyncio.gather(
            *(channel.send(n(receiver=r, nid=f"ntf_{r}")) for r in names)
        )
        await channel.send(n("resolve", receiver="r0"))
    assert ["delivered"] * 7 == [r.outcome for r in results]
    lines = [(e["log_level"], e["receivers"]) for e in logs if e["log_level"] != "debug"]
    assert [("critical", ",".join(names)), ("info", "r0")] == lines


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("17", 17.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("Tue, 25 Nov 2025 10:16:23 GMT", 60.0),
        ("Tue, 25 Nov 2025 10:00:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_retry_after_seconds_or_http_date(header: str | None, expected: float | None) -> None:
    """RFC 9110 Retry-After: delay-seconds or an HTTP-date; never negative; junk is ignored."""
    assert expected == parse_retry_after(header, now=NOW)


def test_one_line_flattens_and_bounds() -> None:
    """Provider answers become one bounded line, fit for a log field and the timeline."""
    assert "a b c" == one_line("a\n b\t\tc")
    assert "x" * 7 + "..." == one_line("x" * 50, limit=10)
