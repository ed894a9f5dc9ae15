"""Rendering: the default text is the seed's example alert; overrides win."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paramedic.alerting.model import Alert
from paramedic.alerting.templates import AlertRenderer
from paramedic.core.errors import AlertingError

SEED_EXAMPLE = """\
Subject: [P0] Trading System Primary Down - Failover in Progress

What: Primary trading system crashed (SEGFAULT)
When: 2025-11-25 10:15:23 UTC
Impact: All trading halted for 12 seconds, now running on backup
Status: Backup system promoted to primary at 10:15:35 UTC
Actions:
  - Automatic failover completed
  - Positions reconciled, all match exchange
  - Trading resumed at 10:15:40 UTC
  - Primary system being investigated
ETA: Primary system repair: 30 minutes
Runbook: https://wiki.trading.com/runbooks/system-crash
Dashboard: https://grafana.trading.com/d/recovery

On-call: Alice (alice@trading.com, +1-555-0100)
Backup: Bob (bob@trading.com, +1-555-0101)
"""


def seed_alert() -> Alert:
    return Alert(
        id="inc_1:failure",
        type="crash",
        source="engine-1",
        severity="P0",
        title="Trading System Primary Down - Failover in Progress",
        what="Primary trading system crashed (SEGFAULT)",
        when_wall=datetime(2025, 11, 25, 10, 15, 23, tzinfo=UTC).timestamp(),
        impact="All trading halted for 12 seconds, now running on backup",
        status="Backup system promoted to primary at 10:15:35 UTC",
        actions=(
            "Automatic failover completed",
            "Positions reconciled, all match exchange",
            "Trading resumed at 10:15:40 UTC",
            "Primary system being investigated",
        ),
        eta="Primary system repair: 30 minutes",
        runbook="https://wiki.trading.com/runbooks/system-crash",
        dashboard="https://grafana.trading.com/d/recovery",
        on_call=("Alice (alice@trading.com, +1-555-0100)", "Bob (bob@trading.com, +1-555-0101)"),
    )


def test_default_text_is_the_seed_example() -> None:
    """Rendered text equals the seed's "Example Alert", line for line."""
    assert SEED_EXAMPLE == AlertRenderer().render(seed_alert())


def test_other_channel_kinds() -> None:
    """Subject, PagerDuty summary and Slack carry the severity and title."""
    r = AlertRenderer()
    assert "[P0] Trading System Primary Down - Failover in Progress" == r.render(
        seed_alert(), "email_subject"
    )
    assert "[P0] RESOLVED Trading System Primary Down - Failover in Progress" == r.render(
        seed_alert().resolve(), "email_subject"
    )
    summary = r.render(seed_alert(), "pagerduty_summary")
    assert summary.startswith("[P0] Trading System Primary Down - Failover in Progress: Primary")
    assert (
        "*[P0] Trading System Primary Down - Failover in Progress*"
        == r.render(seed_alert(), "slack").splitlines()[0]
    )
    assert r.render(seed_alert(), "email_body").startswith(SEED_EXAMPLE)


def test_override_dir_wins_and_is_sandboxed(tmp_path: Path) -> None:
    """A user's text.j2 replaces the default; a typo is an error, not a blank line; the
    sandbox refuses reaching into Python internals."""
    (tmp_path / "text.j2").write_text("{{ alert.severity }} {{ alert.title }}")
    (tmp_path / "slack.j2").write_text("{{ alert.runbok }}")
    (tmp_path / "email_subject.j2").write_text("{{ alert.__class__.__mro__ }}")
    r = AlertRenderer(tmp_path)
    assert "P0 Trading System Primary Down - Failover in Progress\n" == r.render(seed_alert())
    with pytest.raises(AlertingError, match=r"slack\.j2"):
        r.render(seed_alert(), "slack")
    with pytest.raises(AlertingError, match=r"email_subject\.j2"):
        r.render(seed_alert(), "email_subject")
    assert "[P0]" in r.render(seed_alert(), "pagerduty_summary")  # not overridden: default


def test_wall_time_in_a_display_zone() -> None:
    """`tz` changes only how the time is shown."""
    text = AlertRenderer(tz="America/New_York").render(seed_alert())
    assert "When: 2025-11-25 05:15:23 EST" in text


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_each_alert_shows_its_own_second(tz: str) -> None:
    """The renderer formats a second once for a burst; a new second is never shown stale."""
    r = AlertRenderer(tz=tz)
    base = datetime(2025, 11, 25, 10, 15, 23, tzinfo=UTC).timestamp()
    shown = [
        r.render(replace(seed_alert(), when_wall=base + offset)).split("When: ")[1].split("\n")[0]
        for offset in (0.2, 0.9, 1.1, 0.0, 3600.5)
    ]
    if tz == "UTC":
        expected = ["10:15:23", "10:15:23", "10:15:24", "10:15:23", "11:15:23"]
    else:
        expected = ["05:15:23", "05:15:23", "05:15:24", "05:15:23", "06:15:23"]
    assert expected == [s.split(" ")[1] for s in shown]


@pytest.mark.parametrize(
    ("runbook", "dashboard", "links"),
    [
        ("", "", None),
        ("https://wiki/rb", "", "<https://wiki/rb|Runbook>"),
        ("", "https://grafana/d/x", "<https://grafana/d/x|Dashboard>"),
        (
            "https://wiki/rb",
            "https://grafana/d/x",
            "<https://wiki/rb|Runbook> | <https://grafana/d/x|Dashboard>",
        ),
    ],
)
def test_slack_links_only_for_what_is_set(runbook: str, dashboard: str, links: str | None) -> None:
    """An unset runbook or dashboard is left out of the Slack text, never `<|Runbook>`."""
    text = AlertRenderer().render(
        replace(seed_alert(), runbook=runbook, dashboard=dashboard), "slack"
    )
    assert "<|" not in text
    last = text.splitlines()[-1]
    if links is None:
        assert last.startswith("*ETA:*")
    else:
        assert links == last
