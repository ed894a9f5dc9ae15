"""Recovery steps against real things: programs, process groups, a loopback HTTP server."""

from __future__ import annotations

import os
import select
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from paramedic.checks import CheckResult
from paramedic.config.recovery_plan import MethodConfig, StepConfig
from paramedic.recovery.hooks import RecoveryHooks, StepContext
from paramedic.recovery.runner import build_step, build_steps, run_method

pytestmark = pytest.mark.integration


class Api:
    """A standby-style API whose answers the test sets."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.answer: dict[str, Any] = {"promoted": True, "role": "primary"}
        self.status = 200
        app = web.Application()
        app.router.add_post("/promote", self.promote)
        self.runner = web.AppRunner(app)
        self.port = 0

    async def promote(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.json_response(self.answer, status=self.status)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    srv = Api()
    await srv.runner.setup()
    site = web.TCPSite(srv.runner, "127.0.0.1", 0)
    await site.start()
    srv.port = srv.runner.addresses[0][1]
    yield srv
    await srv.runner.cleanup()


@pytest.fixture
async def ctx() -> AsyncIterator[StepContext]:
    async with aiohttp.ClientSession() as session:
        yield StepContext(service="engine", session=session, env={"DESK": "eq"})


def running(pid: int) -> bool:
    """Still alive 5 s after the kill; waits on the pid's pidfd (readable once it has died)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        return not select.select([fd], [], [], 5.0)[0]
    finally:
        os.close(fd)


def step(**raw: Any) -> StepConfig:
    return StepConfig.model_validate(raw)


async def test_command_step_ok_sees_context_env(ctx: StepContext) -> None:
    """A command step exits 0, runs with the context's env, and says so."""
    argv = [
        sys.executable,
        "-c",
        "import os, sys; sys.exit(0 if os.environ['DESK'] == 'eq' else 3)",
    ]
    built = build_step(step(name="flush", timeout="5s", command={"argv": argv}))
    outcome = await built.action(ctx)
    assert (True, True) == (outcome.ok, outcome.outcome_known)
    assert outcome.sentence.startswith(f"{sys.executable} exited 0 in ")


async def test_command_step_failure_names_exit_and_last_line(ctx: StepContext) -> None:
    """A failing command's outcome carries its exit code and last output line."""
    argv = [sys.executable, "-c", "print('checkpoint unreadable'); raise SystemExit(4)"]
    result = await run_method("warm", [build_step(step(name="load", command={"argv": argv}))], ctx)
    assert False is result.ok
    assert "load" == result.failed_step
    assert result.sentence.startswith("warm recovery failed at step 1/1 (load): ")
    assert f"{sys.executable} exited 4 in " in result.sentence
    assert result.sentence.endswith(" ms: checkpoint unreadable")


async def test_command_timeout_kills_the_whole_process_group(
    ctx: StepContext, tmp_path: Path
) -> None:
    """On timeout the step's process group (child and grandchild) is killed; outcome unknown."""
    pids = tmp_path / "pids"
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(60)\n"
    )
    built = build_step(
        step(name="hang", timeout="1s", command={"argv": [sys.executable, "-c", script]})
    )
    result = await run_method("cold", [built], ctx)
    outcome = result.steps[0].outcome
    assert (False, False) == (outcome.ok, outcome.outcome_known)
    assert "hang timed out after 1 s; whether it took effect is unknown" == outcome.sentence
    assert [] == [pid for pid in map(int, pids.read_text().split()) if running(pid)]


async def test_http_step_checks_status_and_json(api: Api, ctx: StepContext) -> None:
    """An http step sends its JSON body and passes only if status and expect_json match."""
    cfg = {
        "url": api.url("/promote"),
        "body": {"who": "standby-1"},
        "expect_json": {"role": "primary"},
    }
    ok = await build_step(step(name="promote", promote_standby={"http": cfg})).action(ctx)
    assert [{"who": "standby-1"}] == api.received
    assert True is ok.ok
    assert ok.sentence.startswith(f"promote standby: POST {api.url('/promote')} -> 200 in ")
    api.answer = {"role": "replica"}
    bad = await build_step(step(name="promote", http=cfg)).action(ctx)
    assert False is bad.ok
    assert bad.sentence.endswith('; role is "replica", expected "primary"')


async def test_http_step_refused_is_a_known_failure(ctx: StepContext) -> None:
    """Connection refused means the request never arrived: a failure whose outcome is known."""
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/promote"
    outcome = await build_step(step(name="p", http={"url": url})).action(ctx)
    assert CheckResult(False, f"POST {url} failed: refused", outcome.duration, True) == outcome


async def custom_step(ctx: StepContext) -> CheckResult:
    """Used by the python entry point test below."""
    return CheckResult(True, f"replayed orders for {ctx.service}", 0.0)


async def test_python_entry_point_step(ctx: StepContext) -> None:
    """A python step resolves `module:function` at build time and runs it with the context."""
    built = build_step(step(name="replay", python={"entry_point": f"{__name__}:custom_step"}))
    assert CheckResult(True, "replayed orders for engine", 0.0) == await built.action(ctx)


async def test_failing_step_stops_method_and_callbacks_are_awaited_in_order(
    ctx: StepContext,
) -> None:
    """Callbacks run start/finish per step before the next starts; a failure stops the method."""
    log: list[str] = []
    restarted: list[str] = []

    async def restart() -> str:
        restarted.append("yes")
        return "engine restarted as pid 42"

    async def never_healthy(within: float) -> bool:
        log.append(f"waiting {within:g}")
        return False

    ctx.hooks = RecoveryHooks(restart_process=restart, wait_healthy=never_healthy)

    async def started(name: str) -> None:
        log.append(f"start {name}")

    async def finished(name: str, outcome: CheckResult) -> None:
        log.append(f"end {name} {outcome.ok}")

    method = MethodConfig.model_validate(
        {
            "steps": [
                {"name": "restart", "restart_process": {}},
                {"name": "healthy", "timeout": "2s", "wait_healthy": {}},
                {"name": "never", "command": {"argv": ["false"]}},
            ]
        }
    )
    result = await run_method(
        "hot", build_steps(method), ctx, on_step_started=started, on_step_finished=finished
    )
    expected = [
        "start restart",
        "end restart True",
        "start healthy",
        "waiting 2",
        "end healthy False",
    ]
    assert expected == log
    assert (False, "healthy", True) == (result.ok, result.failed_step, result.outcome_known)
    assert "engine restarted as pid 42" == result.steps[0].outcome.sentence
    assert "hot recovery failed at step 2/3 (healthy): not healthy within 2 s" == result.sentence
    assert ["yes"] == restarted
