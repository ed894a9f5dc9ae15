"""A step's facts file never outlives the step, not even a kill -9 of paramedic (through a
real `paramedic run`, a real engine killed with SIGKILL).

The engine's cold plan restarts it, then runs a program that writes out the facts file it
was given (path, content, modes, its own pid) and, while a marker file exists, sleeps. The
first paramedic is killed -9 while that program sleeps: its facts file is still on disk.
The next paramedic, on the same store, ends the orphaned program and removes the file with
its folder before anything else runs; the cut-off step goes to a human. Once the incident is
resolved by hand, the engine is killed again: the new run's step gets a fresh, valid file of
the new incident, and when the run is over no facts file is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.configs import SLEEPER
from tests.integration.runner import (
    OPERATOR_TOKEN,
    RunningParamedic,
    config_file,
    pid_alive,
    started,
    until,
)
from tests.integration.test_resolve_recovered import ENV, events

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

# argv[1]: the report (INCIDENT replaced by the incident's id); argv[2]: sleep while it exists.
REPORT = """
import json, os, stat, sys, time
path = os.environ["PARAMEDIC_FACTS_FILE"]
target = sys.argv[1].replace("INCIDENT", os.environ["PARAMEDIC_INCIDENT"])
doc = {
    "path": path,
    "pid": os.getpid(),
    "facts": json.load(open(path)),
    "file_mode": stat.S_IMODE(os.stat(path).st_mode),
    "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode),
}
with open(target + ".tmp", "w") as out:
    json.dump(doc, out)
os.replace(target + ".tmp", target)
while os.path.exists(sys.argv[2]):
    time.sleep(0.05)
"""


def write_config(tmp_path: Path, report: Path, slow: Path) -> Path:
    step = [sys.executable, "-c", REPORT, str(report), str(slow)]
    return config_file(
        tmp_path,
        f"""recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
services:
  engine:
    process: {{argv: {SLEEPER}}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Report, command: {{argv: {json.dumps(step)}}}, timeout: 60s}}
""",
    )


def read(path: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return doc


def on_disk(path: Path) -> bool:
    return path.exists()


def kill_engine(p: RunningParamedic) -> int:
    pid: int = events(p, "process.spawned")[-1]["payload"]["pid"]
    os.kill(pid, signal.SIGKILL)
    return pid


def opened(p: RunningParamedic) -> list[str]:
    return [e["payload"]["incident"] for e in events(p, "incident.opened")]


async def test_a_kill_9_mid_step_leaves_no_facts_file_and_the_next_step_gets_a_fresh_one(
    tmp_path: Path,
) -> None:
    """kill -9 paramedic while a step holds its facts file (0600 in a 0700 `step-*` folder
    under var/p.db.facts): the file is left behind. Restart: the orphaned step is ended and
    the file and its folder are gone before the API answers. The next incident's step reads
    a fresh file of its own incident; at the end the facts folder is empty."""
    report, slow = tmp_path / "report-INCIDENT.json", tmp_path / "slow"
    facts_dir = tmp_path / "var" / "p.db.facts"
    slow.touch()
    config = write_config(tmp_path, report, slow)
    pids: list[int] = []
    first = await started(config, ENV)
    try:
        await until("the engine up", lambda: events(first, "service.up"))
        pids.append(kill_engine(first))
        [incident] = await until("the incident", lambda: opened(first))
        mine = Path(str(report).replace("INCIDENT", incident))
        cut = await until("the step's report", lambda: read(mine))
        pids += [cut["pid"], *first.child_pids()]
        first.signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
    finally:
        await asyncio.to_thread(first.ensure_dead)
    left = Path(cut["path"])
    try:
        assert on_disk(left)  # what a kill -9 mid-step leaves, without the sweep
        assert (facts_dir, "facts.json") == (left.parent.parent, left.name)
        assert left.parent.name.startswith("step-")
        assert (0o600, 0o700) == (cut["file_mode"], cut["dir_mode"])
        assert 0o700 == stat.S_IMODE(facts_dir.stat().st_mode)
        second = await started(config, ENV)
        try:
            assert not on_disk(left)
            assert not on_disk(left.parent)
            assert [] == list(facts_dir.iterdir())
            assert not pid_alive(cut["pid"])
            [ended] = events(second, "process.orphan_ended")
            assert cut["pid"] == ended["payload"]["pid"]
            status = second.get("/recovery/status").json()
            assert "MANUAL_RECOVERY" == status["state"]
            answer = second.post(
                f"/api/incidents/{incident}/resolve", json={"reason": "checked"}, headers=AUTH
            )
            assert 200 == answer.status_code, answer.text
            await until(
                "the incident closed", lambda: second.get("/recovery/status").json()["state"]
            )
            slow.unlink()
            pids.append(kill_engine(second))
            [again] = await until("a second incident", lambda: opened(second)[1:])
            fresh = await until(
                "the new step's report",
                lambda: read(Path(str(report).replace("INCIDENT", again))),
            )

            def run_over() -> list[dict[str, Any]]:
                return [
                    e
                    for e in events(second, "recovery.step_finished")
                    if e["payload"]["step"] == "Report" and e["payload"]["ok"]
                ]

            await until("the step's end", run_over)
            assert [] == list(facts_dir.iterdir())
            pids += second.child_pids()
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 20)
        finally:
            await asyncio.to_thread(second.ensure_dead)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert fresh["path"] != cut["path"]
    assert Path(fresh["path"]).parent.parent == facts_dir
    assert (0o600, 0o700) == (fresh["file_mode"], fresh["dir_mode"])
    assert (again, "engine", "cold", "crash") == (
        fresh["facts"]["incident"],
        fresh["facts"]["service"],
        fresh["facts"]["method"],
        fresh["facts"]["failure_kind"],
    )
    assert fresh["facts"]["decision"].startswith("cold restart")
    assert not on_disk(Path(fresh["path"]))
