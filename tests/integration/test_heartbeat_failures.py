"""Heartbeat failures with real processes and real signals (seed Mechanism 1)."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from paramedic.core.failure_events import FailureDetected
from tests.conftest import REPO, free_port, free_udp_port
from tests.integration.harness import running_paramedic

pytestmark = pytest.mark.integration

ENGINE = str(REPO / "examples" / "engine.py")


def heartbeat_config(
    tmp_path: Path, *, restart: str = "never", detector: str = "timeout", start_delay: float = 0.0
) -> str:
    (tmp_path / "hb.key").write_text("k" * 32)
    udp = free_udp_port()
    return f"""
heartbeat:
  listen: 127.0.0.1:{udp}
  key_file: hb.key
services:
  engine:
    process:
      argv: [{sys.executable!r}, {ENGINE!r}, --start-delay, "{start_delay}",
             --port, "{free_port()}"]
      env:
        PARAMEDIC_HEARTBEAT_ADDR: 127.0.0.1:{udp}
        PARAMEDIC_HEARTBEAT_KEY_FILE: hb.key
      stop_timeout: 300ms
      restart: {{policy: {restart}}}
    heartbeat: {{interval: 100ms, timeout: 300ms, detector: {detector}, startup_grace: 3s}}
    health: {{up_after: 2, evaluate_every: 50ms}}
"""


SILENT = re.compile(
    r"^heartbeat silent (\d+) ms \(timeout 300 ms\), last seq (\d+) from instance [0-9a-f]{4}$"
)


async def test_sigstop_is_a_hang_within_the_timeout(tmp_path: Path) -> None:
    """SIGSTOP of a heartbeating engine: one hang incident, silent just past 300 ms."""
    async with running_paramedic(tmp_path, heartbeat_config(tmp_path)) as (p, timeline):
        await timeline.wait_for("service.up")
        pid = p.parts.processes["engine"].pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            detected = await timeline.wait_for("failure.detected", within=5)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert isinstance(detected, FailureDetected)
        assert "hang" == detected.failure_kind
        match = SILENT.match(detected.reason)
        assert match is not None, detected.reason
        assert 300 <= int(match[1]) < 400
        assert 1 == len(timeline.of("failure.detected"))


async def test_sigstop_hang_is_killed_and_restarted_by_the_watchdog(tmp_path: Path) -> None:
    """A stopped engine is killed (SIGTERM cannot reach it, SIGKILL does) and restarted."""
    config = heartbeat_config(tmp_path, restart="always")
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        first = p.parts.processes["engine"].pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)
        killed = await timeline.wait_for("watchdog.killed_hung")
        assert first == killed.pid  # type: ignore[attr-defined]
        exited = await timeline.wait_for("process.exited")
        assert ("SIGKILL", True) == (exited.signal, exited.expected)  # type: ignore[attr-defined]
        await timeline.wait_for("process.spawned", lambda e: e.pid != first)  # type: ignore[attr-defined]
        cleared = await timeline.wait_for("failure.cleared", within=15)
        assert timeline.of("failure.detected")[0].incident == cleared.incident  # type: ignore[attr-defined]
        assert 1 == len(timeline.of("failure.detected"))


async def test_stalled_trading_loop_is_a_hang_while_the_process_lives(tmp_path: Path) -> None:
    """The engine's loop stops calling beat() but its sender thread runs: a stall, not silence."""
    config = heartbeat_config(tmp_path)
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        port = p.parts.config.services["engine"].process.argv[-1]  # type: ignore[union-attr]
        async with httpx.AsyncClient() as client:
            await client.post(f"http://127.0.0.1:{port}/chaos/hang", timeout=5)
        detected = await timeline.wait_for("failure.detected", within=10)
        assert ("hang", "heartbeat:stall") == (detected.failure_kind, detected.source)  # type: ignore[attr-defined]
        assert detected.reason.startswith("trading loop stalled: sender alive but no beat() for ")  # type: ignore[attr-defined]
        assert p.parts.processes["engine"].running
        assert 1 == len(timeline.of("failure.detected"))


async def test_a_slow_booting_replacement_is_not_killed_as_hung(tmp_path: Path) -> None:
    """kill -9, restart, and the replacement takes 500 ms to send its first heartbeat: the old
    instance's silence must not get the healthy new process killed (startup grace: 1 s)."""
    config = heartbeat_config(tmp_path, restart="always", start_delay=0.5)
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        first = p.parts.processes["engine"].pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await timeline.wait_for("heartbeat.restart_seen")
        await timeline.wait_for("failure.cleared", within=15)
        assert [] == timeline.of("watchdog.killed_hung")
        assert 1 == len(timeline.of("process.restart_scheduled"))


async def test_restart_faster_than_the_timeout_is_still_seen(tmp_path: Path) -> None:
    """kill -9 and an immediate restart: the new instance id is recorded as a restart."""
    config = heartbeat_config(tmp_path, restart="always")
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        first = p.parts.processes["engine"].pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        seen = await timeline.wait_for("heartbeat.restart_seen")
        assert seen.old_instance != seen.new_instance  # type: ignore[attr-defined]
        [incident] = timeline.of("failure.detected")
        assert "crash" == incident.failure_kind  # type: ignore[attr-defined]
