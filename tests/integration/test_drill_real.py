"""Drills through a real `paramedic run` (issue 15, items 2 and 3).

The example engine (examples/engine.py) is supervised with a cold-restart plan; its pages go
to signed webhooks on one loopback receiver (`/pagerduty` for the on-call contact, `/slack`
for the team, which the default P0 route also pages). `paramedic drill` (the real CLI)
kills it, stops it (SIGSTOP) and, through its `disconnect` chaos hook, cuts its exchange;
each drill's report names the layer that convicted, the decision, the path to HEALTHY, the
RTO and every page with its delivery time; every page of a drill reads DRILL and reached the
on-call contact only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

import httpx
import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import REPO, free_port
from tests.integration.runner import OPERATOR_TOKEN, config_file, started, until
from tests.integration.test_resolve_recovered import ENV, cli, engines_ended, events

AUTH = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

pytestmark = pytest.mark.integration

ENGINE = str(REPO / "examples" / "engine.py")


def write_config(
    tmp_path: Path, hook: str, port: int, *, pager: str = "", dashboard: str = ""
) -> Path:
    """The engine (tier 1, cold-restart plan, a `disconnect` chaos hook); oncall's channel
    `pagerduty` posts to `pager` (default: the receiver's /pagerduty), the team's `slack`
    to the receiver's /slack."""
    base = f"http://127.0.0.1:{port}"
    return config_file(
        tmp_path,
        f"""dashboard_url: "{dashboard}"
channels:
  pagerduty: {{webhook: {{url: "{pager or hook + "/pagerduty"}", secret_env: HOOK_SECRET}}}}
  slack: {{webhook: {{url: "{hook}/slack", secret_env: HOOK_SECRET}}}}
recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
  decision: {{failures_limit: 10}}
  watch_period: 500ms
  target_rto: 20s
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, {ENGINE!r}, --port, "{port}"]
      stop_timeout: 1s
    probes:
      - {{name: live, role: liveness, http: {{url: "{base}/livez", read_health: false}},
          period: 100ms, timeout: 80ms, failure_threshold: 2}}
      - {{name: ready, role: readiness, http: {{url: "{base}/health"}},
          period: 100ms, timeout: 80ms, failure_threshold: 10}}
    health: {{up_after: 2, evaluate_every: 50ms}}
    chaos:
      disconnect: {{http: {{url: "{base}/chaos/disconnect"}}}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s}}
      validation:
        immediate: []
      resumption:
        phases:
          - {{name: monitoring_only, size_multiplier: 0.0, duration: 100ms}}
          - {{name: normal, size_multiplier: 1.0}}
""",
    )


async def drill(url: str, kind: str, *more: str) -> dict[str, Any]:
    """`paramedic drill engine --kind KIND --json MORE`: waits for the end, exit 0."""
    env = {**os.environ, "PARAMEDIC_URL": url, "PARAMEDIC_TOKEN": OPERATOR_TOKEN}
    argv = ["drill", "engine", "--kind", kind, "--timeout", "40s", "--json", *more]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paramedic.cli", *argv, env=env, stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 90)
    out, err = stdout.decode(), stderr.decode()
    assert 0 == proc.returncode, err + out
    report: dict[str, Any] = json.loads(out)
    if report["outcome"] != "HEALTHY":
        return report
    # The drill ends at HEALTHY; the incident's all-clear is committed right after it. The
    # report is read from the store, so read it again once the all-clear is delivered.

    def closed() -> dict[str, Any] | None:
        got = httpx.get(f"{url}/api/drills/{report['id']}", headers=AUTH, timeout=5)
        again: dict[str, Any] = got.json()
        pages = again["pages"]
        done = any(str(p["alert"]).endswith(":all-clear") for p in pages)
        return again if done and all(p["status"] == "delivered" for p in pages) else None

    return await until("the drill's all-clear delivered", closed)


async def drill_started(url: str, kind: str) -> str:
    """`paramedic drill engine --kind KIND --no-wait`: the drill's id."""
    code, out, err = await cli(url, "drill", "engine", "--kind", kind, "--no-wait")
    assert 0 == code, err
    return out.strip()


def assert_drill_pages(
    report: dict[str, Any], hook: LoopbackReceiver, before: int, to: str = "oncall"
) -> None:
    """Every page of the drill was delivered, to `to` on pagerduty, titled DRILL; the
    receiver got nothing else about the engine since `before` (no /slack: the team was not
    paged). paramedic's own alerts (a loaded machine's loop lag) are not the drill's."""
    triggers = [p for p in report["pages"] if p["action"] == "trigger"]
    assert triggers, report
    for page in report["pages"]:
        assert (to, "pagerduty", "delivered") == (
            page["receiver"],
            page["channel"],
            page["status"],
        )
        assert page["delivered_at"] is not None
        assert "[DRILL]" in page["title"]
    arrived = [r for r in hook.requests[before:] if r.json()["labels"].get("service") == "engine"]
    others = [r.json()["title"] for r in hook.requests[before:] if r not in arrived]
    assert {"/pagerduty"} == {r.path for r in arrived}, [r.json()["title"] for r in arrived]
    assert not [t for t in others if "engine" in t], others
    assert all("[DRILL]" in r.json()["title"] for r in arrived)
    assert {to} == {r.json()["labels"]["receiver"] for r in arrived}
    assert len(arrived) == len(report["pages"])


async def test_drills_measure_detection_decision_rto_and_pages(tmp_path: Path) -> None:
    """crash (SIGKILL): convicted as a crash by the process watch, decision cold, path to
    HEALTHY, RTO under the 20 s target, the DRILL P0 delivered to oncall only. hang (SIGSTOP):
    convicted as a hang by the liveness probe, restarted cold. disconnect (the engine's
    chaos hook over HTTP): a network partition read from /health. `--contacts backup-oncall`:
    the pages reach the backup alone. A kind without a hook is refused naming the key to
    add; `drill report` prints the Markdown; the metric is set."""
    port = free_port()
    async with LoopbackReceiver() as hook, engines_ended(tmp_path) as pids:
        p = await started(write_config(tmp_path, hook.url, port), ENV)
        try:
            await until("the engine up", lambda: events(p, "service.up"))

            report = await drill(p.url, "crash")
            assert ("finished", "HEALTHY", True) == (
                report["state"],
                report["outcome"],
                report["ok"],
            )
            assert report["injected"]["how"].startswith("SIGKILL sent to process")
            assert "crash" == report["detected"]["failure_kind"]
            assert report["detected"]["layer"]
            assert 0 < report["detected"]["time_to_detect_s"] < 5
            assert "cold" == report["decision"]["method"]
            assert report["decision"]["reason"]
            assert "HEALTHY" == report["path"][-1]
            assert "RECOVERY_IN_PROGRESS" in report["path"]
            assert report["rto_met"] is True
            assert 0 < report["rto_s"] < 20
            assert ["oncall"] == report["contacts"]
            assert_drill_pages(report, hook, 0)
            crash_pages = len(hook.requests)

            code, out, _ = await cli(p.url, "drill", "report", report["id"])
            assert 0 == code
            assert "-> HEALTHY" in out
            assert "- decision: cold: cold restart" in out
            assert "| oncall | pagerduty | trigger | delivered |" in out

            hang = await drill(p.url, "hang")
            assert hang["injected"]["how"].startswith("SIGSTOP sent to process")
            assert ("hang", "live") == (
                hang["detected"]["failure_kind"],
                hang["detected"]["layer"].removeprefix("probe:"),
            )
            assert "HEALTHY" == hang["outcome"]
            assert_drill_pages(hang, hook, crash_pages)
            hang_pages = len(hook.requests)

            cut = await drill(p.url, "disconnect")
            assert cut["injected"]["ok"] is True
            assert "network_partition" == cut["detected"]["failure_kind"]
            assert "HEALTHY" == cut["outcome"]
            assert_drill_pages(cut, hook, hang_pages)
            cut_pages = len(hook.requests)

            backup = await drill(p.url, "crash", "--contacts", "backup-oncall")
            assert ["backup-oncall"] == backup["contacts"]
            assert_drill_pages(backup, hook, cut_pages, to="backup-oncall")

            code, _, err = await cli(p.url, "drill", "engine", "--kind", "latency")
            assert 2 == code
            assert "no chaos hook for latency" in err
            assert "services.engine.chaos.latency" in err

            metrics = p.get("/metrics").text
            assert 'paramedic_drill_last_success_timestamp_seconds{service="engine"}' in metrics
            history = p.get("/api/drills").json()["drills"]
            assert ["crash", "disconnect", "hang", "crash"] == [d["kind"] for d in history]
        finally:
            pids += p.child_pids()
            p.ensure_dead()
