"""One real failure of each kind, end to end: the kind, the sentence, exactly one incident.

The service is the example engine (examples/engine.py), made to fail through its /chaos
endpoints or with real signals.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from paramedic.core.failure_events import FailureDetected
from tests.conftest import REPO, free_port
from tests.integration.harness import Timeline, running_paramedic

pytestmark = pytest.mark.integration

ENGINE = str(REPO / "examples" / "engine.py")


def engine_config(port: int, extra: str = "", restart: str = "never") -> str:
    return f"""
services:
  engine:
    process:
      argv: [{sys.executable!r}, {ENGINE!r}, --port, "{port}"]
      stop_timeout: 1s
      restart: {{policy: {restart}}}
    probes:
      - {{name: live, role: liveness,
          http: {{url: "http://127.0.0.1:{port}/livez", read_health: false}},
          period: 100ms, timeout: 80ms, failure_threshold: 2}}
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 100ms, timeout: 80ms, failure_threshold: 2}}
      - {{name: boot, role: startup, tcp: {{host: 127.0.0.1, port: {port}}},
          period: 50ms, timeout: 50ms, failure_threshold: 100}}
    health: {{up_after: 2, evaluate_every: 50ms}}
{extra}"""


async def chaos(port: int, action: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"http://127.0.0.1:{port}/chaos/{action}", timeout=5)
        assert 200 == response.status_code


async def only_incident(timeline: Timeline) -> FailureDetected:
    detected = await timeline.wait_for("failure.detected", within=15)
    assert isinstance(detected, FailureDetected)
    return detected


async def test_exchange_down_in_health_is_a_network_partition(tmp_path: Path) -> None:
    """/health saying exchange: false opens one network_partition incident naming it."""
    port = free_port()
    async with running_paramedic(tmp_path, engine_config(port)) as (p, timeline):
        await timeline.wait_for("service.up")
        await chaos(port, "disconnect")
        detected = await only_incident(timeline)
        assert ("network_partition", "/health reports exchange: false") == (
            detected.failure_kind,
            detected.reason,
        )
        await timeline.wait_for("signal.changed", lambda e: e.source == "probe:ready")  # type: ignore[attr-defined]
        assert 1 == len(timeline.of("failure.detected"))
        assert p.parts.processes["engine"].running  # a partition is not fixed by killing the engine


async def test_sigkill_is_a_crash(tmp_path: Path) -> None:
    """kill -9 of the engine opens one crash incident naming the signal."""
    port = free_port()
    async with running_paramedic(tmp_path, engine_config(port)) as (p, timeline):
        await timeline.wait_for("service.up")
        pid = p.parts.processes["engine"].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        detected = await only_incident(timeline)
        assert "crash" == detected.failure_kind
        assert detected.reason.startswith(f"pid {pid} killed by SIGKILL after ")
        await timeline.wait_for("signal.changed", lambda e: e.source == "probe:live")  # type: ignore[attr-defined]
        assert 1 == len(timeline.of("failure.detected"))


async def test_stuck_liveness_is_a_hang_and_the_watchdog_kills_it(tmp_path: Path) -> None:
    """A liveness endpoint that stops answering is a hang; the engine is killed and restarted."""
    port = free_port()
    async with running_paramedic(tmp_path, engine_config(port, restart="always")) as (p, timeline):
        await timeline.wait_for("service.up")
        first = p.parts.processes["engine"].pid
        await chaos(port, "hang")
        detected = await only_incident(timeline)
        assert "hang" == detected.failure_kind
        assert detected.reason.startswith("liveness probe live failed 2 times in a row: GET ")
        assert detected.reason.endswith("timed out after 80 ms")
        killed = await timeline.wait_for("watchdog.killed_hung")
        assert first == killed.pid  # type: ignore[attr-defined]
        await timeline.wait_for("process.spawned", lambda e: e.pid != first)  # type: ignore[attr-defined]
        await timeline.wait_for("failure.cleared", within=15)
        assert 1 == len(timeline.of("failure.detected"))


async def test_latency_over_threshold_is_degradation(tmp_path: Path) -> None:
    """order_latency_p99_us from /health above 1000 for 300 ms: one degradation incident."""
    port = free_port()
    extra = """    resources:
      metrics:
        - {name: order_latency_p99_us, above: 1000, for: 300ms, kind: degradation}
"""
    # Readiness accepts the engine's 503 here, so the metric detector is the one to convict.
    config = engine_config(port, extra).replace(
        f'http: {{url: "http://127.0.0.1:{port}/health"}}',
        f'http: {{url: "http://127.0.0.1:{port}/health", expect_status: [200, 503]}}',
    )
    assert "expect_status" in config
    async with running_paramedic(tmp_path, config) as (_p, timeline):
        await timeline.wait_for("service.up")
        await chaos(port, "latency")
        detected = await only_incident(timeline)
        assert ("degradation", "metric:order_latency_p99_us") == (
            detected.failure_kind,
            detected.source,
        )
        assert re.fullmatch(
            r"order_latency_p99_us [\d.]+ > 1000 for [\d.]+ m?s", detected.reason
        ), detected.reason
        assert 1 == len(timeline.of("failure.detected"))


async def test_database_down_in_health_is_db_connection_loss(tmp_path: Path) -> None:
    """/health saying database: false opens one db_connection_loss incident."""
    port = free_port()
    async with running_paramedic(tmp_path, engine_config(port)) as (_p, timeline):
        await timeline.wait_for("service.up")
        await chaos(port, "dbdown")
        detected = await only_incident(timeline)
        assert ("db_connection_loss", "/health reports database: false") == (
            detected.failure_kind,
            detected.reason,
        )
        # The readiness failure that follows is evidence for the same incident, not a new one.
        await timeline.wait_for("signal.changed", lambda e: e.source == "probe:ready")  # type: ignore[attr-defined]
        assert 1 == len(timeline.of("failure.detected"))


async def test_growing_rss_is_a_memory_leak_with_a_projected_time(tmp_path: Path) -> None:
    """A child whose RSS grows steadily is a memory_leak, with the time left to the limit."""
    port = free_port()
    extra = """    resources:
      sample_every: 100ms
      memory: {window: 2s, min_samples: 10, limit: 4GiB, warn_within: 1h, min_slope: 10MiB/min}
"""
    async with running_paramedic(tmp_path, engine_config(port, extra)) as (p, timeline):
        await timeline.wait_for("service.up")
        await chaos(port, "leak")
        detected = await only_incident(timeline)
        assert ("memory_leak", "resource:memory") == (detected.failure_kind, detected.source)
        assert re.fullmatch(
            r"RSS [\d.]+ MiB growing [\d.]+ [MG]iB/min \(R² [\d.]+\); reaches limit 4 GiB in .+",
            detected.reason,
        ), detected.reason
        assert p.parts.processes["engine"].running  # a leak is scheduled for a restart, not killed
        assert 1 == len(timeline.of("failure.detected"))


async def test_disk_below_its_minimum_is_disk_full(tmp_path: Path) -> None:
    """A watched filesystem with less free space than required: one disk_full incident."""
    port = free_port()
    extra = f"""    resources:
      sample_every: 100ms
      disk:
        - {{path: {str(tmp_path)!r}, min_free: 100%}}
"""
    async with running_paramedic(tmp_path, engine_config(port, extra)) as (_p, timeline):
        detected = await only_incident(timeline)
        assert "disk_full" == detected.failure_kind
        assert detected.reason.startswith(f"disk {tmp_path} ")
        assert detected.reason.endswith("(min 100%)")
        assert 1 == len(timeline.of("failure.detected"))


async def test_five_different_failures_in_a_row_are_five_incidents(tmp_path: Path) -> None:
    """Issue 10 defect 9, default flap settings: the engine loses its exchange, its database,
    then its latency goes up (each healed in turn), then it leaks memory and its disk fills.
    Each is its own failure.detected with its kind, each healed one is cleared, nothing is
    called flapping (no kind repeated)."""
    port = free_port()
    extra = """    resources:
      sample_every: 100ms
      memory: {window: 2s, min_samples: 10, limit: 4GiB, warn_within: 1h, min_slope: 10MiB/min}
      metrics:
        - {name: order_latency_p99_us, above: 1000, for: 300ms, kind: degradation}
"""
    config = engine_config(port, extra).replace(
        "    health: {up_after: 2, evaluate_every: 50ms}",
        "    health: {up_after: 2, evaluate_every: 50ms, components:"
        " {exchange: network_partition, database: db_connection_loss, disk: disk_full}}",
    )
    assert "disk: disk_full" in config
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        for action, kind in [
            ("disconnect", "network_partition"),
            ("dbdown", "db_connection_loss"),
            ("latency", "degradation"),
        ]:
            await chaos(port, action)
            detected = await only_incident(timeline)
            assert kind == detected.failure_kind
            await chaos(port, "heal")
            await timeline.wait_for(
                "failure.cleared",
                lambda e, d=detected: e.incident == d.incident,  # type: ignore[attr-defined,misc]
                within=15,
            )
        await chaos(port, "leak")
        await timeline.wait_for(
            "failure.detected",
            lambda e: e.failure_kind == "memory_leak",  # type: ignore[attr-defined]
            within=15,
        )
        await chaos(port, "diskfull")
        await timeline.wait_for(
            "failure.detected",
            lambda e: e.failure_kind == "disk_full",  # type: ignore[attr-defined]
            within=15,
        )
        detections = [e for e in timeline.of("failure.detected") if isinstance(e, FailureDetected)]
        assert [
            "network_partition",
            "db_connection_loss",
            "degradation",
            "memory_leak",
            "disk_full",
        ] == [e.failure_kind for e in detections]
        assert 5 == len({e.incident for e in detections})
        await timeline.wait_for("alert.raised", lambda e: e.title == "engine disk_full")  # type: ignore[attr-defined]
        titles = {e.title for e in timeline.of("alert.raised")}  # type: ignore[attr-defined]
        assert {f"engine {e.failure_kind}" for e in detections} <= titles
        # The three healed ones were resolved when they cleared, not after 120 s of calm.
        resolved = {e.alert_id for e in timeline.of("alert.resolved")}  # type: ignore[attr-defined]
        assert {f"{e.incident}:failure" for e in detections[:3]} <= resolved
        assert [] == timeline.of("service.flapping")
        assert "down" == p.parts.services["engine"].health.state
