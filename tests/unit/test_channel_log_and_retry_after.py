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


def n(action: str = "trigger", severity: str = "P0") -> Notification:
    return Notification(
        id="ntf_1",
        alert_id="alr_42",
        action=action,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        title="[P0] engine crash",
        body="What: crash",
        fields={"what": "crash"},
        labels={"service": "engine"},
        idempotency_key="ntf_1:alr_42",
        links={"runbook": "https://wiki/r"},
    )


@pytest.mark.parametrize(
    ("action", "severity", "level"),
    [
        ("trigger", "P0", "critical"),
        ("trigger", "P1", "error"),
        ("acknowledge", "P2", "warning"),
        ("trigger", "P3", "info"),
        ("resolve", "P0", "info"),
    ],
)
async def test_log_channel_writes_one_structured_line(
    action: str, severity: str, level: str
) -> None:
    """One event per notification, at a level matching the severity (a resolve is info), with
    every field a reader needs; it is always delivered."""
    channel = LogChannel("audit", structlog.get_logger("paramedic.alerts"))
    with capture_logs() as logs:
        result = await channel.send(n(action, severity))
    assert "delivered" == result.outcome
    assert [
        {
            "event": "alert",
            "log_level": level,
            "channel": "audit",
            "notification_id": "ntf_1",
            "alert_id": "alr_42",
            "action": action,
            "severity": severity,
            "title": "[P0] engine crash",
            "body": "What: crash",
            "fields": {"what": "crash"},
            "labels": {"service": "engine"},
            "links": {"runbook": "https://wiki/r"},
            "idempotency_key": "ntf_1:alr_42",
        }
    ] == logs


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
