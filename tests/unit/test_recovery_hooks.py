"""The hooks are declared once (`RecoveryHooks`) and reach steps through `StepContext`."""

from __future__ import annotations

from typing import Any, cast

import aiohttp

from paramedic.config.recovery_plan import MethodConfig
from paramedic.recovery.hooks import RecoveryHooks, StepContext
from paramedic.recovery.runner import build_steps, run_method

NO_SESSION = cast(aiohttp.ClientSession, None)  # these steps make no HTTP call


def method(*steps: dict[str, Any]) -> MethodConfig:
    return MethodConfig.model_validate({"steps": list(steps)})


async def test_a_hook_not_given_fails_its_step_with_a_sentence() -> None:
    """A run given no restart hook ends at that step, naming the missing hook, instead of
    raising into the supervisor."""
    steps = build_steps(method({"name": "restart", "restart_process": {}}))
    result = await run_method("hot", steps, StepContext(service="engine", session=NO_SESSION))
    expected = (
        "hot recovery failed at step 1/1 (restart): restart_process failed:"
        " no restart_process hook was given to this recovery run"
    )
    assert expected == result.sentence


async def test_steps_use_the_hooks_the_orchestrator_was_given() -> None:
    """The same `RecoveryHooks` the runtime builds is what the steps call: no field-by-field
    copy that could miss one."""
    calls: list[str] = []

    async def restart() -> str:
        calls.append("restart")
        return "restarted as pid 42"

    async def healthy(within: float) -> bool:
        calls.append(f"healthy within {within:g}")
        return True

    hooks = RecoveryHooks(restart_process=restart, wait_healthy=healthy)
    steps = build_steps(
        method(
            {"name": "restart", "restart_process": {}},
            {"name": "wait", "wait_healthy": {}, "timeout": "2s"},
        )
    )
    ctx = StepContext(service="engine", session=NO_SESSION, hooks=hooks)
    result = await run_method("hot", steps, ctx)
    assert result.ok
    assert ["restart", "healthy within 2"] == calls
    assert "restarted as pid 42" == result.steps[0].outcome.sentence
