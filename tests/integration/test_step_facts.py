"""A recovery step is told what the decision saw, through a real `paramedic run`.

The example engine (examples/engine.py) is killed with SIGKILL. Its plan has a fresh
checkpoint file and a standby check that answers in a format of its own (`{"in_sync": true}`),
so warm is chosen, never hot, and the decision's sentence says what the check should have
answered. The warm method's first step is a program that writes out its PARAMEDIC_*
environment and the facts file it was given; the test reads both, then checks the file was
removed after the step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from paramedic.recovery.sources import STANDBY_FORMAT
from tests.conftest import REPO, free_port
from tests.integration.configs import SLEEPER
from tests.integration.runner import OPERATOR_TOKEN, RunningParamedic, config_file, started, until

pytestmark = pytest.mark.integration

ENGINE = str(REPO / "examples" / "engine.py")

# The step's program: its environment and its facts file (content, modes, path) to argv[1],
# with INCIDENT replaced by the incident's id (a later incident's run writes elsewhere).
REPORT = """
import json, os, stat, sys
path = os.environ["PARAMEDIC_FACTS_FILE"]
target = sys.argv[1].replace("INCIDENT", os.environ["PARAMEDIC_INCIDENT"])
doc = {
    "env": {k: v for k, v in os.environ.items() if k.startswith("PARAMEDIC_")},
    "facts": json.load(open(path)),
    "file_mode": stat.S_IMODE(os.stat(path).st_mode),
    "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode),
}
with open(target + ".tmp", "w") as out:
    json.dump(doc, out)
os.replace(target + ".tmp", target)
"""


def write_config(tmp_path: Path, report: Path) -> Path:
    port = free_port()
    standby = [sys.executable, "-c", "print('{\"in_sync\": true}')"]
    step = [sys.executable, "-c", REPORT, str(report)]
    promote = [sys.executable, "-c", "1"]
    return config_file(
        tmp_path,
        f"""recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
services:
  engine:
    process:
      argv: [{sys.executable!r}, {ENGINE!r}, --port, "{port}"]
      stop_timeout: 2s
    probes:
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 100ms, timeout: 100ms}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        hot:
          steps:
            - {{name: Promote, promote_standby: {{command: {{argv: {json.dumps(promote)}}}}}}}
        warm:
          steps:
            - {{name: Load checkpoint, command: {{argv: {json.dumps(step)}}}, timeout: 10s}}
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s}}
      checkpoint: {{path: state/checkpoint.bin}}
      standby: {{check: {{command: {{argv: {json.dumps(standby)}}}}}}}
""",
    )


def events(p: RunningParamedic, kind: str) -> list[dict[str, Any]]:
    page = p.get("/api/timeline", params={"limit": 1000}).json()
    return [e for e in page["events"] if e["kind"] == kind]


async def test_a_warm_step_reads_the_decisions_facts_and_their_file_is_removed(
    tmp_path: Path,
) -> None:
    """kill -9 the engine; warm is decided on a 0.x s old checkpoint with the standby's
    wrong answer named in the sentence; the step's environment and facts file carry the
    checkpoint path and age, the incident and its kind; the file was 0600 and is gone."""
    (tmp_path / "state").mkdir()
    checkpoint = tmp_path / "state" / "checkpoint.bin"
    checkpoint.write_bytes(b"positions")
    report = tmp_path / "report-INCIDENT.json"
    p = await started(write_config(tmp_path, report), env={"OPS_TOKEN": OPERATOR_TOKEN})
    pids: list[int] = []
    try:
        await until("the engine up", lambda: events(p, "service.up"))
        [spawned] = events(p, "process.spawned")[-1:]
        pids.append(spawned["payload"]["pid"])
        os.utime(checkpoint, (time.time(), time.time()))  # fresh at the crash
        os.kill(spawned["payload"]["pid"], signal.SIGKILL)
        [decided] = await until("the decision", lambda: events(p, "recovery.decided"))
        mine = Path(str(report).replace("INCIDENT", decided["payload"]["incident"]))
        doc = json.loads(await until("the step's report", lambda: _read(mine)))
        finished = await until(
            "the run's end", lambda: _all_three(events(p, "recovery.step_finished"))
        )
        pids += [e["payload"]["pid"] for e in events(p, "process.spawned")]
    finally:
        p.ensure_dead()
        for pid in pids:
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    incident = decided["payload"]["incident"]
    sentence = decided["payload"]["sentence"]
    assert "warm" == decided["payload"]["method"]
    assert sentence.startswith("warm restart: checkpoint ")
    expected = (
        'standby unknown, treated as none: the standby check answered {"in_sync": true}'
        f" (available is not true or false); expected {STANDBY_FORMAT}"
    )
    assert expected in sentence
    assert [True, True, True] == [e["payload"]["ok"] for e in finished]

    env, facts = doc["env"], doc["facts"]
    assert str(checkpoint) == env["PARAMEDIC_CHECKPOINT_PATH"] == facts["checkpoint_path"]
    assert 0.0 <= float(env["PARAMEDIC_CHECKPOINT_AGE_SECONDS"]) < 60.0
    assert facts["checkpoint_age_seconds"] == float(env["PARAMEDIC_CHECKPOINT_AGE_SECONDS"])
    assert incident == env["PARAMEDIC_INCIDENT"] == facts["incident"]
    assert "crash" == env["PARAMEDIC_FAILURE_KIND"] == facts["failure_kind"]
    assert "SIGKILL" in env["PARAMEDIC_INCIDENT_SENTENCE"]
    assert ("engine", "warm") == (env["PARAMEDIC_SERVICE"], env["PARAMEDIC_METHOD"])
    assert sentence == env["PARAMEDIC_DECISION"] == facts["decision"]
    assert "false" == env["PARAMEDIC_STANDBY_AVAILABLE"]
    assert [expected] == facts["problems"]
    assert (0o600, 0o700) == (doc["file_mode"], doc["dir_mode"])
    assert _gone(Path(env["PARAMEDIC_FACTS_FILE"]))


def _gone(path: Path) -> bool:
    """Neither the facts file nor its private folder is left behind."""
    return not path.exists() and not path.parent.exists()


def _all_three(steps: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return steps if len(steps) >= 3 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def resume_config(tmp_path: Path, report: Path, healthy: Path) -> Path:
    step = [sys.executable, "-c", REPORT, str(report)]
    probe = [
        sys.executable,
        "-c",
        f"import os, sys; sys.exit(not os.path.exists({str(healthy)!r}))",
    ]
    return config_file(
        tmp_path,
        f"""recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
services:
  engine:
    process: {{argv: {SLEEPER}}}
    probes:
      - {{name: ready, role: readiness, command: {{argv: {json.dumps(probe)}}},
          period: 200ms, timeout: 200ms, failure_threshold: 3}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 60s}}
            - {{name: Report, command: {{argv: {json.dumps(step)}}}, timeout: 10s}}
""",
        operator=None,
    )


async def test_a_run_resumed_after_kill_9_tells_its_steps_the_first_decisions_facts(
    tmp_path: Path,
) -> None:
    """paramedic is killed (-9) while the run waits at its first step; the next paramedic
    resumes the run without deciding again, and the step after the wait is told the facts
    of the decision the first paramedic recorded (its sentence and time), in a fresh file
    under paramedic's facts folder (var/p.db.facts), removed after the step."""
    report, healthy = tmp_path / "report-INCIDENT.json", tmp_path / "healthy"
    healthy.touch()
    config = resume_config(tmp_path, report, healthy)
    first = RunningParamedic(config)
    pids: list[int] = []
    try:
        await asyncio.to_thread(first.wait_started)
        await until("the engine up", lambda: events(first, "service.up"))
        pids += first.child_pids()
        healthy.unlink()
        os.kill(pids[0], signal.SIGKILL)
        await asyncio.to_thread(first.wait_for_line, "step 1/2 started: Wait until healthy")
        [decided] = events(first, "recovery.decided")
        first.signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
        second = await started(config)
        try:
            healthy.touch()
            mine = Path(str(report).replace("INCIDENT", decided["payload"]["incident"]))
            doc = json.loads(await until("the step's report", lambda: _read(mine)))
            pids += second.child_pids()
            incident = decided["payload"]["incident"]
            again = events(second, "recovery.decided")
            assert [decided["id"]] == [
                e["id"] for e in again if e["payload"]["incident"] == incident
            ]
        finally:
            second.ensure_dead()
    finally:
        first.ensure_dead()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    env = doc["env"]
    assert decided["payload"]["sentence"] == env["PARAMEDIC_DECISION"]
    assert dict(decided["payload"]["facts"])["decided_at"] == env["PARAMEDIC_DECIDED_AT"]
    assert ("cold", "crash") == (env["PARAMEDIC_METHOD"], env["PARAMEDIC_FAILURE_KIND"])
    assert decided["payload"]["incident"] == env["PARAMEDIC_INCIDENT"]
    resumed = Path(env["PARAMEDIC_FACTS_FILE"])  # a fresh file, in paramedic's own folder
    assert tmp_path / "var" / "p.db.facts" == resumed.parent.parent
    assert _gone(resumed)
