"""Recovery through the API with a real process: approvals need an operator, by name."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.integration.configs import engine_plan
from tests.integration.harness import api, running_paramedic

pytestmark = pytest.mark.integration

OPERATOR, VIEWER = "operator-token-0123456789", "viewer-token-0123456789"
ENV = {"OPS": OPERATOR, "VIEW": VIEWER}

TOKENS = """
  tokens:
    - {name: olga, role: operator, token_env: OPS}
    - {name: vic, role: viewer, token_env: VIEW}
"""
APPROVE_COLD = """\
  approval:
    require: {market_open: [cold, manual], market_closed: [cold, manual]}
"""
CONFIG = TOKENS + engine_plan(recovery=APPROVE_COLD)


async def crash_and_wait_for_approval(p: object, timeline: object) -> str:
    await timeline.wait_for("service.up")  # type: ignore[attr-defined]
    pid = p.parts.processes["engine"].pid  # type: ignore[attr-defined]
    os.kill(pid, signal.SIGKILL)
    requested = await timeline.wait_for("approval.requested")  # type: ignore[attr-defined]
    return str(requested.incident)


async def test_approval_needs_an_operator_then_the_recovery_runs(tmp_path: Path) -> None:
    """Awaiting approval: nothing runs; no token 401, viewer 403; the operator's approval is
    recorded with their name and reason, and the cold restart then runs to RECOVERED."""
    async with running_paramedic(tmp_path, CONFIG, env=ENV) as (p, timeline):
        incident = await crash_and_wait_for_approval(p, timeline)
        async with (
            api(p, None) as anonymous,
            api(p, VIEWER) as viewer,
            api(p, OPERATOR) as operator,
        ):
            status = (await anonymous.get("/recovery/status")).json()
            assert "AWAITING_APPROVAL" == status["state"]
            assert not p.parts.processes["engine"].running  # no action before a human says so
            body = {"reason": "positions reconciled by hand"}
            assert (
                401
                == (
                    await anonymous.post(f"/api/incidents/{incident}/approve", json=body)
                ).status_code
            )
            refused = await viewer.post(f"/api/incidents/{incident}/approve", json=body)
            assert (403, "role operator required; token 'vic' has role viewer") == (
                refused.status_code,
                refused.json()["detail"],
            )
            approved = await operator.post(f"/api/incidents/{incident}/approve", json=body)
            assert 200 == approved.status_code, approved.text
            granted = await timeline.wait_for("approval.granted")
            assert ("olga", "positions reconciled by hand") == (granted.by, granted.why)  # type: ignore[attr-defined]
            finished = await timeline.wait_for("recovery.finished", within=20)
            assert finished.ok  # type: ignore[attr-defined]
            assert "RECOVERED" == (await anonymous.get("/recovery/status")).json()["state"]
            again = await operator.post(f"/api/incidents/{incident}/approve", json=body)
            assert 409 == again.status_code
        assert p.parts.processes["engine"].running


async def test_rejection_leaves_it_to_a_human_and_runs_nothing(tmp_path: Path) -> None:
    """A rejected recovery goes to MANUAL_RECOVERY; no step is started, the process stays down."""
    async with running_paramedic(tmp_path, CONFIG, env=ENV) as (p, timeline):
        incident = await crash_and_wait_for_approval(p, timeline)
        async with api(p, OPERATOR) as operator:
            rejected = await operator.post(
                f"/api/incidents/{incident}/reject",
                json={"reason": "exchange says positions differ"},
            )
            assert 200 == rejected.status_code, rejected.text
            await timeline.wait_for("approval.rejected")
            status = (await operator.get("/recovery/status")).json()
            assert "MANUAL_RECOVERY" == status["state"]
            detail = (await operator.get(f"/api/incidents/{incident}")).json()
        assert [] == timeline.of("recovery.step_started")
        assert not p.parts.processes["engine"].running
        assert "AWAITING_APPROVAL" in [h["to"] for h in detail["history"]]


async def test_cli_approve_history_incident_and_the_recovery_gauges(tmp_path: Path) -> None:
    """`paramedic approve` (token from PARAMEDIC_TOKEN) runs the recovery; `history` and
    `incident` show it; /metrics has recovery_system_state, _progress_pct, _rto_seconds,
    recovery_state and the recovery-history histogram's row for this cold crash recovery."""
    import asyncio

    from typer.testing import CliRunner

    from paramedic.cli.main import app

    async with running_paramedic(tmp_path, CONFIG, env=ENV) as (p, timeline):
        incident = await crash_and_wait_for_approval(p, timeline)
        host, port = p.parts.api.address
        env = {
            "PARAMEDIC_URL": f"http://{host}:{port}",
            "PARAMEDIC_TOKEN": OPERATOR,
            "COLUMNS": "200",
        }
        runner = CliRunner()

        def cli(*args: str) -> str:
            result = runner.invoke(app, list(args), env=env)
            assert 0 == result.exit_code, result.output
            return result.output

        assert f"approved {incident}" in await asyncio.to_thread(
            cli, "approve", incident, "--reason", "checked the book"
        )
        await timeline.wait_for("recovery.finished", within=20)
        history = await asyncio.to_thread(cli, "history")
        assert "crash" in history
        assert "cold" in history
        shown = await asyncio.to_thread(cli, "incident", incident)
        assert "Restart engine" in shown
        assert "Total recovery time:" in shown
        assert "[x] Post-recovery validation complete" in shown  # the checklist, ticked
        assert "[ ] Lessons learned captured: no lessons written yet" in shown
        async with api(p, None) as client:
            metrics = (await client.get("/metrics")).text
        assert 'recovery_system_state{service="engine"} 5.0' in metrics  # RECOVERED
        assert 'recovery_progress_pct{service="engine"} 100.0' in metrics
        assert 'recovery_rto_seconds{service="engine"}' in metrics
        assert 'recovery_state{service="engine"} 0.0' in metrics  # healthy again
        history_count = (
            'paramedic_recovery_duration_seconds_count{failure_kind="crash",'
            'method="cold",outcome="recovered",service="engine"} 1.0'
        )
        assert history_count in metrics


async def test_a_failed_gate_holds_resumption_at_monitoring_only(tmp_path: Path) -> None:
    """After a real recovery, the monitoring-only phase's gate fails (the positions check
    cannot reach its service): trading stays at 0.0, held, and a human is paged."""
    from tests.conftest import free_port

    closed = free_port()
    resumption = f"""\
      resumption:
        retry_gate_every: 1h
        phases:
          - name: monitoring_only
            size_multiplier: 0.0
            duration: 200ms
            gate: [{{name: positions reachable, tcp: {{host: 127.0.0.1, port: {closed}}}}}]
          - {{name: normal, size_multiplier: 1.0}}
"""
    config = engine_plan(plan=resumption)
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        os.kill(p.parts.processes["engine"].pid, signal.SIGKILL)  # type: ignore[arg-type]
        await timeline.wait_for("recovery.finished", within=20)
        escalation = await timeline.wait_for(
            "escalation.triggered",
            lambda e: e.trigger == "validation_failed",
            within=10,  # type: ignore[attr-defined]
        )
        assert "positions reachable" in escalation.reason  # type: ignore[attr-defined]
        async with api(p, None) as client:
            sizing = (await client.get("/api/services/engine/resumption")).json()
        assert ("monitoring_only", 0.0, False) == (
            sizing["phase"],
            sizing["size_multiplier"],
            sizing["should_trade"],
        )
