"""The incident report of a scripted incident matches its golden files (issue 13, item 7):
a real `paramedic run`, the example engine as its child killed with SIGKILL, an approval-gated
cold recovery with two steps, loopback receivers as the on-call's pager and the team lead's
chat, an ack and an approval through the CLI, the lessons through the CLI, then
`paramedic incident report ID --format md` and `--format json`.

Timestamps, ids, durations, pids, ports and paths are normalised before the comparison; the
JSON also validates against `docs/schemas/incident-report.schema.json`.

Regenerate the golden files after an intended change of the report:
`PARAMEDIC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/integration/test_incident_report_real.py`,
then read the diff before committing it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import REPO, free_port
from tests.integration.configs import probed_engine
from tests.integration.runner import RunningParamedic, run_cli, started, until

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
ENV = {"OPS_TOKEN": TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}
GOLDEN = REPO / "tests" / "golden"
SCHEMA = REPO / "docs" / "schemas" / "incident-report.schema.json"
UPDATE = os.environ.get("PARAMEDIC_UPDATE_GOLDEN") == "1"


def write_config(tmp_path: Path, hook: str) -> Path:
    """engine (tier 1): a cold restart (two steps) needs an approval; immediate validation
    checks the process and /health; resumption phases of 200 ms, all over before the watch
    period of 1 s ends (so HEALTHY comes from the watch period, in every run)."""
    port = free_port()
    path = tmp_path / "paramedic.yaml"
    path.write_text(
        f"""
api:
  listen: 127.0.0.1:{free_port()}
  tokens: [{{name: olga, role: operator, token_env: OPS_TOKEN}}]
store: {{path: var/p.db}}
dashboard_url: http://console.example/incidents
channels:
  pagerduty: {{webhook: {{url: "{hook}/pager", secret_env: HOOK_SECRET}}}}
  slack: {{webhook: {{url: "{hook}/chat", secret_env: HOOK_SECRET}}}}
recovery:
  target_rto: 30s
  watch_period: 1s
  approval:
    timeout: 5m
    require: {{market_open: [cold, manual], market_closed: [cold, manual]}}
services:
{probed_engine(port, tier=1)}    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s}}
      validation:
        immediate:
          - {{name: process, process: {{}}}}
          - {{name: health, http: {{url: "http://127.0.0.1:{port}/health"}}}}
      resumption:
        phases:
          - {{name: monitoring_only, size_multiplier: 0.0, duration: 200ms}}
          - {{name: reduced, size_multiplier: 0.1, duration: 200ms}}
          - {{name: normal, size_multiplier: 1.0}}
"""
    )
    return path


def events(p: RunningParamedic, kind: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = p.get("/api/timeline", params={"limit": 1000}).json()["events"]
    return [e for e in listed if e["kind"] == kind]


async def cli(url: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """`python -m paramedic.cli ARGS` as a user runs it (token from the environment)."""
    return await run_cli(url, *args, token=TOKEN, columns=200, stdin=stdin)


_SUBS = [
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)?"), "<time>"),
    (re.compile(r"\binc_[0-9a-z]{26}\b"), "<incident>"),
    (re.compile(r"\b[a-z]+_[0-9a-z]{26}\b"), "<id>"),
    (re.compile(r"\bpid \d+"), "pid <pid>"),
    (re.compile(r"\(market (open|closed)\)"), "(market <open or closed>)"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"-?\d+(\.\d+)? ?(ms|µs|s|min|h)\b"), "<duration>"),
]


def normalise(text: str, tmp: Path) -> str:
    """Times, ids, pids, ports, durations and the temporary folder replaced by placeholders."""
    text = text.replace(str(tmp), "<tmp>")
    for pattern, placeholder in _SUBS:
        text = pattern.sub(placeholder, text)
    return text


_MEASURED = {"t_s", "duration_s", "seconds", "time_to_acknowledge_s"}
_CLOCKED = {"market_open"}  # whether the market is open depends on when the test runs


def _normalised_value(key: str, value: Any, tmp: Path) -> Any:
    if key in _MEASURED:
        return None if value is None else "<number>"
    if key in _CLOCKED:
        return "<bool>"
    return normalise_json(value, tmp)


def normalise_json(value: Any, tmp: Path) -> Any:
    """The JSON report with measured numbers as `<number>` (null stays null) and every
    string normalised like the Markdown."""
    if isinstance(value, dict):
        return {k: _normalised_value(k, v, tmp) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise_json(v, tmp) for v in value]
    if isinstance(value, str):
        return normalise(value, tmp)
    return value


def stable_md(md: str) -> str:
    """The Markdown with the timeline's rows sorted. Events written by different rooms in
    the same few milliseconds (the failure clearing while the health wait finishes, the
    alert kept firing) interleave differently from run to run; that the real timeline is in
    time order is asserted on the JSON, before its rows are sorted the same way here."""
    head, sep, table = md.partition("## Timeline\n")
    lines = table.splitlines()
    return head + sep + "\n".join(lines[:3] + sorted(lines[3:])) + "\n"


def compare(name: str, actual: str) -> None:
    golden = GOLDEN / name
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.read_text(encoding="utf-8") == actual


async def test_the_report_of_a_scripted_incident_matches_its_golden_files(tmp_path: Path) -> None:
    """kill -9 the engine; the on-call acks the crash's page with `paramedic ack`, approves
    the cold restart with `paramedic approve`; the recovery runs its two steps, validates,
    resumes through three phases and closes HEALTHY; `paramedic incident lessons` writes the
    lessons three times (from a file, as an argument, from standard input: the last counts).
    The Markdown (to a file) and JSON (by id prefix) reports match the golden files after
    normalisation; the JSON validates against its schema; the checklist has validation,
    documentation, metrics and lessons ticked, and "stakeholders notified" exactly when the
    report lists a delivered all-clear page."""
    async with LoopbackReceiver() as hook:
        p = await started(write_config(tmp_path, hook.url), env=ENV)
        try:
            await until("the engine up", lambda: events(p, "service.up"))
            [pid] = [e["payload"]["pid"] for e in events(p, "process.spawned")]
            os.kill(pid, signal.SIGKILL)
            [asked] = await until("the approval request", lambda: events(p, "approval.requested"))
            incident = asked["payload"]["incident"]
            failure = f"{incident}:failure"
            await until(
                "the crash's page",
                lambda: any(a["id"] == failure for a in p.get("/api/alerts").json()["alerts"]),
            )
            code, out, err = await cli(p.url, "ack", failure, "-r", "on it")
            assert 0 == code, err
            code, out, err = await cli(p.url, "approve", incident, "-r", "cold restart is safe")
            assert (0, f"approved {incident}\n") == (code, out), err

            def healthy() -> bool:
                return p.get(f"/api/incidents/{incident}").json()["state"] == "HEALTHY"

            await until("the incident closed", healthy)
            await until(
                "every page resolved",
                lambda: (
                    not p.get("/api/alerts?state=firing").json()["alerts"]
                    and not p.get("/api/alerts?state=acknowledged").json()["alerts"]
                ),
            )
            said = f"lessons learned of {incident} recorded\n"
            draft = tmp_path / "lessons.md"
            draft.write_text("A first draft.\n")
            code, out, err = await cli(p.url, "incident", "lessons", incident, "--file", str(draft))
            assert (0, said) == (code, out), err
            lesson = "Alert on the engine's memory before it is killed.\nRehearse cold restarts."
            code, out, err = await cli(p.url, "incident", "lessons", incident, lesson)
            assert (0, said) == (code, out), err
            final = lesson + "\n\nFrom standard input."
            code, out, err = await cli(
                p.url, "incident", "lessons", incident, "--file", "-", stdin=final
            )
            assert (0, said) == (code, out), err

            written = tmp_path / "report.md"
            code, _, err = await cli(
                p.url, "incident", "report", incident, "--format", "md", "-o", str(written)
            )
            assert (0, f"wrote {written}\n") == (code, err)
            md = written.read_text(encoding="utf-8")
            prefix = incident[:20]  # a unique prefix (ULID time and some of its random part)
            code, raw, err = await cli(p.url, "incident", "report", prefix, "--format", "json")
            assert 0 == code, err
            report = json.loads(raw)
            jsonschema.validate(report, json.loads(SCHEMA.read_text(encoding="utf-8")))
            assert (final, 3) == (report["lessons"]["text"], report["lessons"]["revisions"])
            done = {i["item"]: i["done"] for i in report["checklist"]}
            all_clear = any(
                d["status"] == "delivered"
                for x in report["pages"]
                if x["alert"] == f"{incident}:all-clear"
                for d in x["deliveries"]
            )
            assert {
                "validation_complete": True,
                "stakeholders_notified": all_clear,
                "incident_documented": True,
                "metrics_updated": True,
                "lessons_learned": True,
            } == done
            assert report["rto"]["met"] is True
            assert 0 < report["time_to_acknowledge_s"] < report["rto"]["seconds"] + 30
            walls = [e["at"] for e in report["timeline"]]
            assert sorted(walls) == walls
            compare("incident-report.md", stable_md(normalise(md, tmp_path)))
            normalised = normalise_json(report, tmp_path)
            normalised["timeline"].sort(key=lambda e: (e["kind"], e["summary"]))
            compare("incident-report.json", json.dumps(normalised, indent=2, sort_keys=True) + "\n")
            p.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(p.wait, 15)
        finally:
            await asyncio.to_thread(p.ensure_dead)
