"""RecoveryOrchestrator against real processes: a warm restart from a real checkpoint file,
and the hot promotion of a real standby over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from paramedic.config.recovery_plan import RecoveryPlan
from paramedic.config.recovery_policy import RecoveryPolicy
from paramedic.core.clock import SystemClock
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureDetected
from paramedic.core.incident_events import RecoveryDecided, RecoveryFinished, RecoveryStepFinished
from paramedic.recovery.hooks import RecoveryHooks
from paramedic.recovery.orchestrator import RecoveryOrchestrator

pytestmark = pytest.mark.integration

ENGINE = """
import pathlib, sys, time
print(pathlib.Path(sys.argv[1]).read_text().strip(), flush=True)
time.sleep(60)
"""

STANDBY = """
import http.server, json
role = {"role": "standby"}
class H(http.server.BaseHTTPRequestHandler):
    def send(self, doc):
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/standby":
            self.send({"available": True, "synced": True, "lag_seconds": 0.2})
        else:
            self.send(role)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        role["role"] = "primary"
        self.send({"promoted": True, **role})
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""

ANY_TIME = {"approval": {"require": {"market_open": ["manual"], "market_closed": ["manual"]}}}


class Child:
    """One real child process; its first stdout line is what it reports."""

    def __init__(self, script: str, *args: str) -> None:
        self.argv = [sys.executable, "-c", script, *args]
        self.proc: asyncio.subprocess.Process | None = None
        self.reported: str | None = None

    async def restart(self) -> str | None:
        await self.stop()
        self.proc = await asyncio.create_subprocess_exec(*self.argv, stdout=asyncio.subprocess.PIPE)
        return f"spawned pid {self.proc.pid}"

    async def stop(self) -> str | None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        return None

    async def wait_healthy(self, timeout: float) -> bool:  # noqa: ASYNC109
        assert self.proc is not None
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            return False
        self.reported = line.decode().strip()
        return bool(self.reported)

    def pid(self) -> int | None:
        running = self.proc is not None and self.proc.returncode is None
        return self.proc.pid if running and self.proc is not None else None

    def hooks(self) -> RecoveryHooks:
        return RecoveryHooks(
            self.restart, self.stop, self.wait_healthy, self.wait_healthy, self.pid
        )


def orchestrator(
    tmp: Path, plan: dict[str, Any], child: Child, events: list[Event]
) -> RecoveryOrchestrator:
    async def record(event: Event) -> None:
        events.append(event)

    return RecoveryOrchestrator(
        "engine",
        RecoveryPlan.model_validate(plan),
        RecoveryPolicy.model_validate(ANY_TIME),
        clock=SystemClock(),
        record=record,
        hooks=child.hooks(),
        session=None,
        base_dir=tmp,
    )


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        return json.loads(await answer.read())


def crash(clock: SystemClock) -> FailureDetected:
    return FailureDetected(
        at=clock.now(),
        service="engine",
        incident="inc_real",
        failure_kind="crash",
        reason="pid 1 killed by SIGKILL",
        source="process",
    )


async def test_warm_restart_from_a_real_checkpoint_file(tmp_path: Path) -> None:
    """The checkpoint file is recent, so warm is chosen; the restarted engine reads it at start
    and reports its contents on its stdout pipe; immediate validation sees it running."""
    (tmp_path / "checkpoint.json").write_text('{"AAPL": 100, "seq": 41}\n')
    engine = Child(ENGINE, str(tmp_path / "checkpoint.json"))
    plan = {
        "methods": {
            "warm": {
                "steps": [
                    {"name": "restart", "timeout": "10s", "restart_process": {}},
                    {"name": "healthy", "timeout": "10s", "wait_healthy": {}},
                ]
            }
        },
        "checkpoint": {"path": "checkpoint.json"},
        "validation": {"immediate": [{"name": "running", "process": {}}]},
    }
    events: list[Event] = []
    orch = orchestrator(tmp_path, plan, engine, events)
    try:
        await orch.on_failure(crash(SystemClock()))
        await orch.settle()
        decided = [e for e in events if isinstance(e, RecoveryDecided)]
        assert "warm" == decided[0].method
        assert re.match(r"warm restart: checkpoint [\d.]+ m?s old", decided[0].sentence)
        assert '{"AAPL": 100, "seq": 41}' == engine.reported
        assert "RECOVERED" == orch.status()["state"]
        assert [True, True] == [e.ok for e in events if isinstance(e, RecoveryStepFinished)]
        assert [True] == [e.ok for e in events if isinstance(e, RecoveryFinished)]
    finally:
        await orch.close()
        await engine.stop()


async def test_hot_promotion_of_a_real_standby(tmp_path: Path) -> None:
    """A real standby answers synced: hot is chosen, /promote flips its role to primary, and
    the validation reads the new role back over HTTP before RECOVERED."""
    standby = Child(STANDBY)
    await standby.restart()
    assert await standby.wait_healthy(10)
    base = f"http://127.0.0.1:{standby.reported}"
    plan = {
        "methods": {
            "hot": {
                "steps": [
                    {
                        "name": "promote",
                        "timeout": "5s",
                        "promote_standby": {
                            "http": {"url": f"{base}/promote", "expect_json": {"role": "primary"}}
                        },
                    }
                ]
            }
        },
        "standby": {"check": {"http": {"url": f"{base}/standby", "method": "GET"}}},
        "validation": {
            "immediate": [
                {
                    "name": "primary",
                    "http": {
                        "url": f"{base}/role",
                        "method": "GET",
                        "expect_json": {"role": "primary"},
                    },
                }
            ]
        },
    }
    events: list[Event] = []
    orch = orchestrator(tmp_path, plan, standby, events)
    try:
        assert {"role": "standby"} == await get_json(f"{base}/role")
        await orch.on_failure(crash(SystemClock()))
        await orch.settle()
        decided = [e for e in events if isinstance(e, RecoveryDecided)]
        assert "hot restart: standby synced (lag 200 ms)" == decided[0].sentence
        assert "RECOVERED" == orch.status()["state"]
        assert {"role": "primary"} == await get_json(f"{base}/role")
    finally:
        await orch.close()
        await standby.stop()
