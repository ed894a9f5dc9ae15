"""Silences, inhibition and maintenance windows mute notifications, never records."""

from __future__ import annotations

from datetime import UTC, datetime

from paramedic.alerting.model import Alert
from paramedic.alerting.silences import InhibitRule, MaintenanceWindow, Muter, Silence
from paramedic.config.alerting import AlertingConfig
from paramedic.core.labels import Matcher


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def engine_alert(venue: str = "NYSE", service: str = "engine-1") -> Alert:
    return Alert(
        id=f"{service}:{venue}",
        type="crash",
        source=service,
        severity="P1",
        title=f"{service} down",
        labels={"service": service, "kind": "crash", "venue": venue, "tier": "1"},
    )


def test_timed_silence_mutes_then_lapses() -> None:
    """A silence mutes inside its span, names its author, and lapses at `ends`."""
    muter = Muter(
        [
            Silence(
                id="s1",
                matchers=(Matcher.parse("service=engine-1"),),
                author="bob",
                comment="rebuild",
                starts_wall=100.0,
                ends_wall=200.0,
            )
        ]
    )
    decision = muter.check(engine_alert(), 150.0)
    assert (True, "silenced by silence s1 (bob: rebuild)", "s1") == (
        decision.muted,
        decision.reason,
        decision.by,
    )
    assert not muter.check(engine_alert(), 200.0).muted
    assert not muter.check(engine_alert(service="engine-2"), 150.0).muted


def test_until_resolved_silence_ends_with_the_alert_and_resolve_is_sent() -> None:
    """The resolve of a silenced alert is sent; then the silence is gone for the next one."""
    muter = Muter(
        [
            Silence(
                id="s1",
                matchers=(Matcher.parse("service=engine-1"),),
                author="bob",
                comment="known",
                until_resolved=True,
            )
        ]
    )
    firing = engine_alert()
    assert muter.check(firing, 1e9).muted
    resolved = firing.resolve("back up")
    assert not muter.check(resolved, 1e9).muted
    assert ["s1"] == muter.resolved(resolved)
    assert not muter.check(engine_alert(), 1e9 + 1).muted


def test_exchange_outage_inhibits_engines_on_the_same_venue() -> None:
    """An exchange partition at NYSE mutes NYSE engines' alerts, not CME's."""
    rule = InhibitRule(
        source=(Matcher.parse("service=~exchange-.*"), Matcher.parse("kind=network_partition")),
        target=(Matcher.parse("service=~engine-.*"),),
        equal=("venue",),
    )
    outage = Alert(
        id="x",
        type="network_partition",
        source="exchange-NYSE",
        severity="P1",
        title="NYSE link down",
        labels={"service": "exchange-NYSE", "kind": "network_partition", "venue": "NYSE"},
    )
    muter = Muter(inhibit_rules=[rule])
    assert not muter.check(engine_alert("NYSE"), 0.0).muted  # nothing open yet
    muter.opened(outage)
    muter.opened(engine_alert("CME"))  # matches no rule's source: inhibits nothing
    nyse = muter.check(engine_alert("NYSE"), 0.0)
    assert (True, "inhibited by NYSE link down (x) on venue=NYSE") == (nyse.muted, nyse.reason)
    assert not muter.check(engine_alert("CME"), 0.0).muted
    assert not muter.check(outage, 0.0).muted  # an alert does not inhibit itself
    muter.resolved(outage.resolve())
    assert not muter.check(engine_alert("NYSE"), 0.0).muted


def test_weekly_maintenance_window_in_new_york_time() -> None:
    """Saturday 22:00-02:00 New York (EST, UTC-5) is Sunday 03:00-07:00 UTC."""
    cfg = AlertingConfig.model_validate(
        {
            "maintenance_windows": [
                {
                    "name": "weekend",
                    "matchers": ["tier=1"],
                    "timezone": "America/New_York",
                    "weekly": {"days": ["sat"], "start": "22:00", "duration": "4h"},
                }
            ]
        }
    )
    muter = Muter.from_config(cfg.silences, cfg.inhibit_rules, cfg.maintenance_windows)
    # 2026-01-03 is a Saturday
    assert not muter.check(engine_alert(), ts("2026-01-04T02:59:59+00:00")).muted
    inside = muter.check(engine_alert(), ts("2026-01-04T03:00:00+00:00"))
    assert (True, "maintenance window weekend") == (inside.muted, inside.reason)
    assert muter.check(engine_alert(), ts("2026-01-04T06:59:59+00:00")).muted
    assert not muter.check(engine_alert(), ts("2026-01-04T07:00:00+00:00")).muted


def test_weekly_window_follows_daylight_saving() -> None:
    """In July (EDT, UTC-4) the same window is Sunday 02:00-06:00 UTC."""
    window = MaintenanceWindow(
        name="w",
        tz="America/New_York",
        days=frozenset({5}),
        start=datetime(2000, 1, 1, 22).time(),
        duration=4 * 3600,
    )
    assert window.active(ts("2026-07-05T02:00:00+00:00"))
    assert not window.active(ts("2026-07-05T06:00:00+00:00"))


def test_one_off_window_and_static_silence_from_config() -> None:
    """A `once` window and a config silence with a zoned end both apply."""
    cfg = AlertingConfig.model_validate(
        {
            "maintenance_windows": [
                {
                    "name": "upgrade",
                    "once": {"start": "2026-02-01T10:00:00Z", "end": "2026-02-01T11:00:00Z"},
                }
            ],
            "silences": [
                {
                    "matchers": ["service=engine-9"],
                    "ends": "2026-02-02T00:00:00Z",
                    "author": "carol",
                    "comment": "decommissioned",
                }
            ],
        }
    )
    muter = Muter.from_config(cfg.silences, cfg.inhibit_rules, cfg.maintenance_windows)
    at = datetime(2026, 2, 1, 10, 30, tzinfo=UTC).timestamp()
    assert "maintenance window upgrade" == muter.check(engine_alert(), at).reason
    assert "static-0" == muter.check(engine_alert(service="engine-9"), at).by
