"""Every metric a real `paramedic run` exposes is named `paramedic_*`, except the recovery
dashboard's gauges, whose names Grafana dashboards already query."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_udp_port
from tests.integration.configs import COLD_RESTART, NO_APPROVAL, SLEEPER
from tests.integration.runner import RunningParamedic, config_file

pytestmark = pytest.mark.integration

DASHBOARD_NAMES = {
    "recovery_state",
    "recovery_system_state",
    "recovery_progress_pct",
    "recovery_rto_seconds",
}
# One family of each room's collector: all of them are registered.
ONE_PER_ROOM = {
    "paramedic_uptime_seconds",  # runtime
    "paramedic_store_degraded",  # store
    "paramedic_process_running",  # process
    "paramedic_service_up",  # detect
    "paramedic_heartbeats_accepted",  # detect, heartbeats
    "paramedic_api_refused",  # api
    "paramedic_alerts_raised",  # alerting
    "recovery_system_state",  # recovery
}
# The Grafana dashboard's families beyond the four names above (deploy/grafana).
DASHBOARD_FAMILIES = {
    "paramedic_service_reported_healthy",
    "paramedic_service_health_reported_timestamp_seconds",
    "paramedic_service_health_component",
    "paramedic_service_health_metric",
    "paramedic_service_health_names_dropped",
    "paramedic_recovery_failure_detected_timestamp_seconds",
    "paramedic_recovery_eta_timestamp_seconds",
    "paramedic_recovery_duration_seconds",
    "paramedic_alerts_open",
}


def test_every_metric_family_is_prefixed_or_a_dashboard_name(tmp_path: Path) -> None:
    """Scrape /metrics of `paramedic run` with heartbeats, alerting and a recovery plan: each
    family is `paramedic_*` or one of the four dashboard names, every room reports, and every
    family the Grafana dashboard reads is there (empty until a /health is read or a
    recovery finishes)."""
    (tmp_path / "hb.key").write_bytes(b"k" * 32)
    config = config_file(
        tmp_path,
        f"""
heartbeat:
  listen: 127.0.0.1:{free_udp_port()}
  key_file: hb.key
recovery:
{NO_APPROVAL}services:
  engine:
    process: {{argv: {SLEEPER}}}
    heartbeat: {{interval: 100ms, timeout: 300ms, startup_grace: 1h}}
    recovery:
      methods:
        cold:
          steps:
{COLD_RESTART}""",
        operator=None,
    )
    p = RunningParamedic(config)
    try:
        p.wait_started()
        response = p.get("/metrics")
    finally:
        p.ensure_dead()
    assert 200 == response.status_code
    names = {family.name for family in text_string_to_metric_families(response.text)}
    stray = {n for n in names if not n.startswith("paramedic_") and n not in DASHBOARD_NAMES}
    assert set() == stray
    assert set() == ONE_PER_ROOM - names
    assert set() == DASHBOARD_NAMES - names
    assert set() == DASHBOARD_FAMILIES - names
