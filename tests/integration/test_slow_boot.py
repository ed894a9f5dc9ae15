"""A slow boot is a boot, not a degradation (issue 10 defect 12).

The service is the example engine started with `--start-delay`: it binds its port only after
the delay, so its readiness probe is refused until then. There is no startup probe.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from paramedic.core.failure_events import FailureDetected
from tests.conftest import REPO, free_port
from tests.integration.harness import running_paramedic
from tests.integration.runner import RunningParamedic
from tests.integration.test_watched_at_start import events, poll

pytestmark = pytest.mark.integration

ENGINE = str(REPO / "examples" / "engine.py")


def slow_engine(port: int, delay: float, grace: str = "") -> str:
    extra = f", startup_grace: {grace}" if grace else ""
    return f"""
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, {ENGINE!r}, --port, "{port}", --start-delay, "{delay}"]
      stop_timeout: 1s
      restart: {{policy: never}}
    probes:
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 100ms, timeout: 80ms, failure_threshold: 2{extra}}}
    health: {{up_after: 2, evaluate_every: 50ms}}
"""


def test_readiness_refused_during_a_slow_boot_raises_nothing(
    tmp_path: Path, running: list[RunningParamedic]
) -> None:
    """`paramedic run`, the engine's readiness refused for its first 1.5 s: no failure, no
    alert; paramedic's log says "not ready yet"; the service comes up at its first pass."""
    port = free_port()
    config = tmp_path / "paramedic.yaml"
    config.write_text(
        f"api:\n  listen: 127.0.0.1:{free_port()}\nstore:\n  path: p.db\n" + slow_engine(port, 1.5)
    )
    p = RunningParamedic(config)
    running.append(p)
    p.wait_started()
    poll(p, "service.up", within=20)
    assert [] == events(p, "failure.detected")
    assert [] == events(p, "alert.raised")
    [held] = [line for line in p.output if "not ready yet" in line]
    assert "engine: not ready yet: " in held
    assert "s since start, readiness probe ready: GET http://127.0.0.1:" in held
    assert "refused (startup grace 30 s)" in held


async def test_a_boot_longer_than_the_grace_is_a_startup_degradation_not_latency(
    tmp_path: Path,
) -> None:
    """The engine takes 4 s, its grace is 1 s: one degradation saying the probe has not passed
    since the process started; the page's reason does not speak of latency."""
    port = free_port()
    config = slow_engine(port, 4, grace="1s")
    async with running_paramedic(tmp_path, config) as (_p, timeline):
        detected = await timeline.wait_for("failure.detected", within=20)
        assert isinstance(detected, FailureDetected)
        assert "degradation" == detected.failure_kind
        assert detected.reason.startswith("readiness probe ready has not passed once in 1.")
        assert "s since the process started (startup grace 1 s): GET http://" in detected.reason
        raised = await timeline.wait_for("alert.raised")
        assert "P2: degraded: running but not fit to trade: degradation on engine (tier 1)" == (
            raised.severity_reason  # type: ignore[attr-defined]
        )
        assert "latency" not in raised.severity_reason  # type: ignore[attr-defined]
        await timeline.wait_for("failure.cleared", within=20)  # it does come up in the end
