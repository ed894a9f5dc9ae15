"""The edges of recovery through a real paramedic with real children: repeated crashes, a
failing validation, an unanswered approval, the evidence kept, a lost standby."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from paramedic.runtime.app import Paramedic
from tests.integration.configs import NO_APPROVAL, SLEEPER, engine_plan
from tests.integration.harness import api, kill_engine, running_paramedic

pytestmark = pytest.mark.integration

OPERATOR = "operator-token-0123456789"
ENV = {"OPS": OPERATOR}
TOKENS = """
  tokens:
    - {name: olga, role: operator, token_env: OPS}
"""
FAILING_REBUILD = f"""\
            - name: Rebuild
              command: {{argv: [{sys.executable!r}, "-c", "raise SystemExit(3)"]}}
"""


async def test_repeated_crashes_go_to_manual_whether_or_not_recovered(tmp_path: Path) -> None:
    """failures_limit 3 in 10 min: two crashes are recovered automatically (warm); the third
    crash of the service in the window is decided manual, although no recovery ever failed."""
    decision = "  decision: {failures_limit: 3, failures_window: 10m}\n"
    config = engine_plan(recovery=NO_APPROVAL + decision)
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        for _ in range(2):
            await kill_engine(p, timeline)
            decided = await timeline.wait_for("recovery.decided")
            assert "cold" == decided.method  # type: ignore[attr-defined]
            finished = await timeline.wait_for("recovery.finished", within=20)
            assert finished.ok  # type: ignore[attr-defined]
        await kill_engine(p, timeline)
        decided = await timeline.wait_for("recovery.decided")
        assert ("manual", "manual: 3 failures of engine in 10 min") == (
            decided.method,  # type: ignore[attr-defined]
            decided.sentence,  # type: ignore[attr-defined]
        )
        escalated = await timeline.wait_for(
            "escalation.triggered",
            lambda e: e.trigger == "repeated_failures",  # type: ignore[attr-defined]
        )
        assert "3 failures of engine within 10 min" == escalated.reason  # type: ignore[attr-defined]


async def test_a_failed_method_preserves_the_services_own_output(tmp_path: Path) -> None:
    """No `preserve:` section at all: a failed cold restart still snapshots what paramedic
    captured of the engine's output, in <store folder>/snapshots, and the manifest names the
    service and, apart, the method."""
    import json

    config = engine_plan(FAILING_REBUILD)
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        await kill_engine(p, timeline)
        note = await timeline.wait_for(
            "note.added",
            lambda e: "preserved" in e.text,  # type: ignore[attr-defined]
            within=20,
        )
    folders = list((tmp_path / "snapshots").iterdir())
    assert 1 == len(folders), note
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    assert ("engine", "cold") == (manifest["service"], manifest["method"])
    logs = [f for f in manifest["files"] if f["source"] == str(tmp_path / "logs" / "engine.log")]
    assert 1 == len(logs), manifest
    assert "engine up\n" == (folders[0] / logs[0]["path"]).read_text()


def approval_config(timeout: str) -> str:
    approval = f"""\
  approval:
    timeout: {timeout}
    require: {{market_open: [cold, manual], market_closed: [cold, manual]}}
"""
    return TOKENS + engine_plan(recovery=approval)


async def test_a_late_approval_still_works_and_the_escalation_goes_on(tmp_path: Path) -> None:
    """approval.timeout 300ms and nobody answers: it escalates, and again after another
    timeout; a late approval is then accepted (audited), and the cold restart runs."""
    async with running_paramedic(tmp_path, approval_config("300ms"), env=ENV) as (p, timeline):
        await timeline.wait_for("service.up")
        await kill_engine(p, timeline)
        incident = (await timeline.wait_for("approval.requested")).incident  # type: ignore[attr-defined]
        first = await timeline.wait_for("approval.timed_out")
        second = await timeline.wait_for("approval.timed_out")
        assert first.waited_s < second.waited_s  # type: ignore[attr-defined]
        assert 2 <= len(
            [e for e in timeline.of("escalation.triggered") if e.trigger == "approval_timeout"]  # type: ignore[attr-defined]
        )
        async with api(p, OPERATOR) as operator:
            late = await operator.post(
                f"/api/incidents/{incident}/approve", json={"reason": "was in a tunnel"}
            )
            assert 200 == late.status_code, late.text
            granted = await timeline.wait_for("approval.granted")
            assert ("olga", True) == (granted.by, granted.late)  # type: ignore[attr-defined]
            finished = await timeline.wait_for("recovery.finished", within=20)
            assert finished.ok  # type: ignore[attr-defined]
            assert "RECOVERED" == (await operator.get("/recovery/status")).json()["state"]
        audit = await p.parts.store.audit_log(target=incident)
        assert [("olga", "approve", "was in a tunnel")] == [
            (a.actor, a.action, a.reason) for a in audit
        ]


async def test_an_operator_takes_it_to_manual_then_resolves_it(tmp_path: Path) -> None:
    """After an approval timeout: `POST .../manual` needs an operator and a reason, moves the
    incident to MANUAL_RECOVERY (audited) and nothing runs; `POST .../resolve` hands it back:
    RECOVERED, gradual resumption from 0x. The CLI does the same."""
    import asyncio

    from typer.testing import CliRunner

    from paramedic.cli.main import app

    async with running_paramedic(tmp_path, approval_config("200ms"), env=ENV) as (p, timeline):
        await timeline.wait_for("service.up")
        await kill_engine(p, timeline)
        incident = (await timeline.wait_for("approval.requested")).incident  # type: ignore[attr-defined]
        await timeline.wait_for("approval.timed_out")
        async with api(p) as anonymous, api(p, OPERATOR) as operator:
            path = f"/api/incidents/{incident}/manual"
            assert 401 == (await anonymous.post(path, json={"reason": "x"})).status_code
            missing = await operator.post(path, json={})
            assert 422 == missing.status_code
            assert "reason" in missing.text
            taken = await operator.post(path, json={"reason": "restarting it by hand"})
            assert 200 == taken.status_code, taken.text
            status = (await operator.get("/recovery/status")).json()
            assert ("MANUAL_RECOVERY", "Manual recovery") == (
                status["state"],
                status["current_step"],
            )
            assert "olga took over manually: restarting it by hand" == status["status_message"]
            again = await operator.post(path, json={"reason": "twice"})
            assert 409 == again.status_code
            sizing = (await operator.get("/api/services/engine/resumption")).json()
            assert ("halted", False) == (sizing["phase"], sizing["should_trade"])
            host, port = p.parts.api.address
            env = {"PARAMEDIC_URL": f"http://{host}:{port}", "PARAMEDIC_TOKEN": OPERATOR}
            result = await asyncio.to_thread(
                CliRunner().invoke,
                app,
                ["resolve-incident", incident, "--reason", "engine restarted by hand"],
                env=env,
            )
            assert 0 == result.exit_code, result.output
            assert f"resolved {incident}" in result.output
            listed = (await operator.get("/api/incidents")).json()["incidents"]
            assert "RECOVERED" == listed[0]["state"]
            sizing = (await operator.get("/api/services/engine/resumption")).json()
            assert ("monitoring_only", 0.0) == (sizing["phase"], sizing["size_multiplier"])
        assert [] == timeline.of("recovery.step_started")
        audit = await p.parts.store.audit_log(target=incident)
        assert {("olga", "take_manual"), ("olga", "resolve_incident")} == {
            (a.actor, a.action) for a in audit
        }


async def test_cli_manual_takes_over_an_incident(tmp_path: Path) -> None:
    """`paramedic manual INCIDENT --reason` is the CLI's way to the same endpoint."""
    import asyncio

    from typer.testing import CliRunner

    from paramedic.cli.main import app

    async with running_paramedic(tmp_path, approval_config("1h"), env=ENV) as (p, timeline):
        await timeline.wait_for("service.up")
        await kill_engine(p, timeline)
        incident = (await timeline.wait_for("approval.requested")).incident  # type: ignore[attr-defined]
        host, port = p.parts.api.address
        env = {"PARAMEDIC_URL": f"http://{host}:{port}", "PARAMEDIC_TOKEN": OPERATOR}
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["manual", incident, "--reason", "mine now"], env=env
        )
        assert 0 == result.exit_code, result.output
        assert f"{incident} is in manual recovery" in result.output
        moved = await timeline.wait_for(
            "incident.transitioned",
            lambda e: e.to_state == "MANUAL_RECOVERY",  # type: ignore[attr-defined]
        )
        assert "olga took over manually: mine now" == moved.reason  # type: ignore[attr-defined]


def validation_config(validation: str, resumption: str) -> str:
    plan = f"      validation:\n{validation}\n      resumption:\n{resumption}\n"
    return engine_plan(recovery=NO_APPROVAL + "  watch_period: 300ms\n", plan=plan)


async def three_views(p: Paramedic) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """/recovery/status, the engine's newest incident, and its resumption, read together."""
    async with api(p) as client:
        status = (await client.get("/recovery/status")).json()
        incident = (await client.get("/api/incidents")).json()["incidents"][0]
        sizing = (await client.get("/api/services/engine/resumption")).json()
    return status, incident, sizing


async def test_a_failed_short_window_check_halts_trading_and_goes_to_a_human(
    tmp_path: Path,
) -> None:
    """The recovery passes its immediate checks, then the short-window `positions` check
    fails: trading is halted (0x, never ramped), the incident goes to MANUAL_RECOVERY with
    the check named, the recovery is recorded as failed (never as a success), and the
    escalation names the check. Status, incidents and resumption agree."""
    from tests.conftest import free_port

    port = free_port()
    validation = f"""\
        short: [{{name: positions, tcp: {{host: 127.0.0.1, port: {port}}}}}]
        short_every: 200ms
        short_window: 1s"""
    resumption = """\
        phases:
          - {name: monitoring_only, size_multiplier: 0.0, duration: 100ms}
          - {name: reduced, size_multiplier: 0.1, duration: 5s}
          - {name: normal, size_multiplier: 1.0}"""
    config = validation_config(validation, resumption)
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        incident = (await kill_engine(p, timeline)).incident
        manual = await timeline.wait_for(
            "incident.transitioned",
            lambda e: e.to_state == "MANUAL_RECOVERY",  # type: ignore[attr-defined]
            within=20,
        )
        status, listed, sizing = await three_views(p)
        async with api(p) as client:
            history = (await client.get("/api/recoveries")).json()["recoveries"]
    escalation = next(
        e
        for e in timeline.of("escalation.triggered")
        if e.trigger == "validation_failed"  # type: ignore[attr-defined]
    )
    assert ("positions",) == escalation.checks  # type: ignore[attr-defined]
    page = next(e for e in timeline.of("failure.detected") if e.source == "validation")  # type: ignore[attr-defined]
    assert ("validation_failed", True) == (page.failure_kind, page.needs_human)  # type: ignore[attr-defined]
    assert "positions" in page.reason  # type: ignore[attr-defined]
    paged = next(e for e in timeline.of("alert.raised") if page.incident in e.alert_id)  # type: ignore[attr-defined]
    assert "P0" == paged.severity  # type: ignore[attr-defined]
    assert escalation.reason.startswith("short validation failed: positions: connect")  # type: ignore[attr-defined]
    assert "positions" in manual.reason  # type: ignore[attr-defined]
    assert ("MANUAL_RECOVERY", "MANUAL_RECOVERY", incident) == (
        status["state"],
        listed["state"],
        listed["id"],
    )
    assert "System fully recovered" not in status["status_message"]
    assert ("halted", 0.0, False) == (
        sizing["phase"],
        sizing["size_multiplier"],
        sizing["should_trade"],
    )
    assert [False] == [r["success"] for r in history if r["incident"] == incident]


async def test_a_held_gate_keeps_the_incident_open_and_says_so(tmp_path: Path) -> None:
    """The monitoring-only gate fails and is held: the watch period passes but the incident
    stays RECOVERED (never HEALTHY), /recovery/status says trading is held (not "fully
    recovered"), /api/incidents says the same, and the resumption is held at 0x."""
    from tests.conftest import free_port

    port = free_port()
    resumption = f"""\
        retry_gate_every: 1h
        phases:
          - name: monitoring_only
            size_multiplier: 0.0
            duration: 100ms
            gate: [{{name: positions reachable, tcp: {{host: 127.0.0.1, port: {port}}}}}]
          - {{name: normal, size_multiplier: 1.0}}"""
    config = validation_config("        immediate: []", resumption)
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        incident = (await kill_engine(p, timeline)).incident
        await timeline.wait_for(
            "escalation.triggered",
            lambda e: e.trigger == "validation_failed",  # type: ignore[attr-defined]
            within=20,
        )
        notes = [e.text for e in timeline.of("note.added")]  # type: ignore[attr-defined]
        if not any("watch period" in n for n in notes):  # it may come before the hold
            await timeline.wait_for(
                "note.added",
                lambda e: "watch period" in e.text,  # type: ignore[attr-defined]
                within=20,
            )
        status, listed, sizing = await three_views(p)
    assert [] == [
        e
        for e in timeline.of("incident.transitioned")
        if e.to_state == "HEALTHY"  # type: ignore[attr-defined]
    ]
    assert ("RECOVERED", "RECOVERED", False, incident) == (
        status["state"],
        listed["state"],
        listed["closed"],
        listed["id"],
    )
    assert "Resumption held" == status["current_step"]
    assert "positions reachable" in status["status_message"]
    assert "System fully recovered" not in status["status_message"]
    assert ("monitoring_only", 0.0, False, True) == (
        sizing["phase"],
        sizing["size_multiplier"],
        sizing["should_trade"],
        listed["resumption"]["held"],
    )


async def test_progress_only_goes_up_and_a_failure_keeps_its_figure(tmp_path: Path) -> None:
    """A real cold restart that recovers: progress 0 -> 33 -> 66 -> 95 -> 100, never down
    (steps are counted with validation as the last share, as in the seed's log)."""
    config = engine_plan()
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        await kill_engine(p, timeline)
        await timeline.wait_for("recovery.finished", within=20)
        first = [e.percentage for e in timeline.of("recovery.progress")]  # type: ignore[attr-defined]
        lines = list(p.parts.recovery["engine"].log_lines)
    assert [0, 33, 66, 95, 100] == first
    assert "[RECOVERY] [95%] Validating recovered state" in lines


async def test_a_failed_run_logs_its_last_figure_not_minus_one(tmp_path: Path) -> None:
    """The only method fails at its first step: the progress and the log keep 0 %, the state
    says it failed; no -1 anywhere."""
    config = engine_plan(FAILING_REBUILD)
    async with running_paramedic(tmp_path, config) as (p, timeline):
        await timeline.wait_for("service.up")
        await kill_engine(p, timeline)
        await timeline.wait_for("recovery.finished", within=20)
        failed = [e for e in timeline.of("recovery.progress") if e.state == "RECOVERY_FAILED"]  # type: ignore[attr-defined]
        lines = list(p.parts.recovery["engine"].log_lines)
    assert [0] == [e.percentage for e in failed]  # type: ignore[attr-defined]
    assert any(line.startswith("[RECOVERY] [0%] Recovery failed:") for line in lines), lines
    assert not any("[-1%]" in line for line in lines)


def test_a_crash_without_a_recovery_plan_is_an_incident_users_find(tmp_path: Path) -> None:
    """`paramedic run`, two plain services, no recovery plan anywhere: `restarted` is
    restarted by its watchdog, `dead` (policy never) stays down. /api/incidents lists both
    crashes with the failure's incident id; the restarted one is closed HEALTHY, the dead one
    is open, and /recovery/status shows the open one (not "no service has a recovery plan");
    its resumption is halted."""
    from tests.conftest import free_port
    from tests.integration.runner import RunningParamedic, wait_until

    config = tmp_path / "paramedic.yaml"
    config.write_text(
        f"""
store: {{path: var/p.db}}
api: {{listen: 127.0.0.1:{free_port()}}}
services:
  restarted:
    process: {{argv: {SLEEPER}}}
    health: {{up_after: 1, evaluate_every: 50ms}}
  dead:
    process: {{argv: {SLEEPER}, restart: {{policy: never}}}}
    health: {{up_after: 1, evaluate_every: 50ms}}
"""
    )
    run = RunningParamedic(config)
    try:
        run.wait_started()

        def events(kind: str) -> list[dict[str, Any]]:
            body = run.get("/api/timeline", params={"limit": 1000}).json()
            return [e for e in body["events"] if e["kind"] == kind]

        spawned = wait_until(
            "both spawned",
            lambda: len(events("process.spawned")) >= 2 and events("process.spawned"),
        )
        for e in spawned:
            os.kill(e["payload"]["pid"], signal.SIGKILL)
        cleared = wait_until("a failure cleared", lambda: events("failure.cleared"))
        failures = wait_until(
            "both failures",
            lambda: len(events("failure.detected")) == 2 and events("failure.detected"),
        )
        by_service = {e["service"]: e["payload"]["incident"] for e in failures}

        def listed() -> dict[str, dict[str, Any]]:
            incidents = run.get("/api/incidents").json()["incidents"]
            return {i["service"]: i for i in incidents}

        incidents = wait_until(
            "the restarted incident closed",
            lambda: listed().get("restarted", {}).get("closed") and listed(),
        )
        status = run.get("/recovery/status").json()
        sizing = run.get("/api/services/dead/resumption").json()
    finally:
        run.ensure_dead()
    assert cleared
    assert by_service == {name: i["id"] for name, i in incidents.items()}
    assert ("HEALTHY", True) == (incidents["restarted"]["state"], incidents["restarted"]["closed"])
    assert ("FAILURE_DETECTED", False) == (incidents["dead"]["state"], incidents["dead"]["closed"])
    assert ("FAILURE_DETECTED", "Failure detected") == (status["state"], status["current_step"])
    assert "killed by SIGKILL" in status["status_message"]
    assert ("halted", False) == (sizing["phase"], sizing["should_trade"])


class Standby:
    """A real HTTP standby on loopback: synced until promoted; then no standby exists until
    `replaced()` (an operator brought a new one up)."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        state = self.state = {"role": "standby", "standby": True}

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                there = bool(state["standby"])
                self._send({"available": there, "synced": there, "lag_seconds": 0.1})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                state["role"], state["standby"] = "primary", False
                self._send({"promoted": True})

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def replaced(self) -> None:
        self.state["standby"] = True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_after_a_hot_promotion_no_standby_is_a_standing_degradation(
    tmp_path: Path,
) -> None:
    """A promote-only hot plan: the crash promotes the real standby and recovers; the standby
    check then answers that none is left, so paramedic records a P2-class failure
    ("degradation": running without a standby) for the service, says so on its status,
    keeps checking, and clears it when a standby is back. It is not a second recovery."""
    standby = Standby()
    config = f"""
recovery:
{NO_APPROVAL}  watch_period: 200ms
services:
  engine:
    process: {{argv: {SLEEPER}, restart: {{policy: never}}}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      standby:
        check: {{http: {{url: "{standby.url}/standby"}}}}
        recheck_every: 100ms
      methods:
        hot:
          steps:
            - {{name: Promote standby, promote_standby: {{http: {{url: "{standby.url}/promote"}}}}}}
      resumption: {{phases: [{{name: normal, size_multiplier: 1.0}}]}}
"""
    try:
        async with running_paramedic(tmp_path, config) as (p, timeline):
            await timeline.wait_for("service.up")
            incident = (await kill_engine(p, timeline)).incident
            decided = await timeline.wait_for("recovery.decided")
            assert "hot" == decided.method  # type: ignore[attr-defined]
            degraded = await timeline.wait_for("failure.detected", within=20)
            assert ("degradation", "standby") == (
                degraded.failure_kind,  # type: ignore[attr-defined]
                degraded.source,  # type: ignore[attr-defined]
            )
            assert degraded.reason.startswith("running without a standby")  # type: ignore[attr-defined]
            assert f"after the hot recovery of incident {incident}" in degraded.reason  # type: ignore[attr-defined]
            status, listed, _sizing = await three_views(p)
            assert 1 == len(p.parts.recovery["engine"].incidents())  # not a second recovery
            assert [] == [
                e for e in timeline.of("failure.cleared") if e.incident == degraded.incident
            ]  # type: ignore[attr-defined]
            standby.replaced()
            cleared = await timeline.wait_for(
                "failure.cleared",
                lambda e: e.incident == degraded.incident,  # type: ignore[attr-defined]
                within=20,
            )
            assert "standby back" in cleared.reason  # type: ignore[attr-defined]
            after = p.parts.recovery["engine"].status()
    finally:
        standby.close()
    assert status["state"] in ("RECOVERED", "HEALTHY")
    assert listed["state"] == status["state"]
    assert status["status_message"].endswith("; running without a standby")
    assert "without a standby" not in after["status_message"]


async def test_a_restart_keeps_the_standby_page_open_while_the_service_is_up(
    tmp_path: Path,
) -> None:
    """The "running without a standby" failure is still open when paramedic restarts: the
    restart neither reads it as the service being down nor clears it when the engine comes
    up (only a standby coming back does), and says so once that happens."""
    standby = Standby()
    config = f"""
recovery:
{NO_APPROVAL}  watch_period: 200ms
services:
  engine:
    process: {{argv: {SLEEPER}, restart: {{policy: never}}}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      standby:
        check: {{http: {{url: "{standby.url}/standby"}}}}
        recheck_every: 100ms
      methods:
        hot:
          steps:
            - {{name: Promote standby, promote_standby: {{http: {{url: "{standby.url}/promote"}}}}}}
      resumption: {{phases: [{{name: normal, size_multiplier: 1.0}}]}}
"""
    try:
        async with running_paramedic(tmp_path, config) as (p, timeline):
            await timeline.wait_for("service.up")
            await kill_engine(p, timeline)
            degraded = await timeline.wait_for(
                "failure.detected",
                lambda e: e.source == "standby",  # type: ignore[attr-defined]
                within=20,
            )
        async with running_paramedic(tmp_path, config) as (p, timeline):
            for _ in range(5):  # several standby re-checks and health evaluations
                await asyncio.sleep(0.2)
            assert [] == [
                e
                for e in timeline.of("failure.cleared")
                if e.incident == degraded.incident  # type: ignore[attr-defined]
            ]
            assert (
                p.parts.recovery["engine"]
                .status()["status_message"]
                .endswith("; running without a standby")
            )
            standby.replaced()
            cleared = await timeline.wait_for(
                "failure.cleared",
                lambda e: e.incident == degraded.incident,  # type: ignore[attr-defined]
                within=20,
            )
            assert "standby back" in cleared.reason  # type: ignore[attr-defined]
    finally:
        standby.close()
