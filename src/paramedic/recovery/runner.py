"""Run one recovery method: its steps in order, each bounded, each reported before the next.

The progress callbacks are awaited, not fired and forgotten: the integrator records each
step as a durable event, and a step must not start before the record that it started (and
that the one before it finished) is on disk. Otherwise a crash of paramedic mid-recovery
would leave a timeline that does not say what was done to the service.

The runner stops at the first failed step: later steps assume earlier ones worked (promoting
a standby that was never synced is worse than doing nothing). Which method to try next is
the decision module's business, not this one's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from paramedic.checks import CheckResult, command_check, http_check
from paramedic.config.recovery_plan import MethodConfig, StepConfig
from paramedic.core.errors import RecoveryError
from paramedic.core.text import duration, one_line
from paramedic.recovery.facts import FACTS_FILE_ENV, facts_file
from paramedic.recovery.hooks import StepContext
from paramedic.recovery.steps import StepAction, hook_step, wait_step

__all__ = [
    "MethodResult",
    "OnStepFinished",
    "OnStepStarted",
    "Step",
    "StepRecord",
    "build_step",
    "build_steps",
    "run_method",
]

OnStepStarted = Callable[[str], Awaitable[None]]
OnStepFinished = Callable[[str, CheckResult], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Step:
    """A built step; `side_effects=False` marks a pure wait: its timeout leaves nothing unknown.
    `reads_facts`: it runs a program or a python step, which get the facts file."""

    name: str
    kind: str
    timeout: float
    expected: float | None
    action: StepAction
    side_effects: bool = True
    reads_facts: bool = False


@dataclass(frozen=True, slots=True)
class StepRecord:
    name: str
    outcome: CheckResult


@dataclass(frozen=True, slots=True)
class MethodResult:
    """A method's end. `outcome_known=False`: the failed step may have half-happened."""

    method: str
    ok: bool
    sentence: str
    steps: tuple[StepRecord, ...]
    failed_step: str | None
    duration: float
    outcome_known: bool = True


async def _run_step(step: Step, ctx: StepContext) -> CheckResult:
    """Never raises except on cancellation from outside: every other end is an outcome."""
    start = time.perf_counter()
    try:
        async with asyncio.timeout(step.timeout) as deadline:
            return await step.action(ctx)
    except TimeoutError:
        took = time.perf_counter() - start
        if deadline.expired():
            sentence = f"{step.name} timed out after {duration(step.timeout)}"
            if step.side_effects:
                sentence += "; whether it took effect is unknown"
            return CheckResult(False, sentence, took, outcome_known=not step.side_effects)
        return CheckResult(False, f"{step.name} failed: timed out", took, not step.side_effects)
    except Exception as exc:  # a custom step's bug must end the method, not the supervisor
        took = time.perf_counter() - start
        detail = one_line(str(exc)) or type(exc).__name__
        return CheckResult(
            False, f"{step.name} failed: {detail}", took, outcome_known=not step.side_effects
        )


async def _run_with_facts(step: Step, ctx: StepContext) -> CheckResult:
    """The step with its facts file, which is gone when this returns."""
    try:
        async with facts_file(ctx.facts, ctx.hooks.facts_dir) as path:
            env = {**ctx.env, FACTS_FILE_ENV: str(path)}
            return await _run_step(step, dataclasses.replace(ctx, env=env))
    except OSError as exc:  # the file could not be written: the step did not run
        return CheckResult(False, f"{step.name} not run: its facts file: {exc}", 0.0)


async def run_method(
    method: str,
    steps: Sequence[Step],
    ctx: StepContext,
    *,
    on_step_started: OnStepStarted | None = None,
    on_step_finished: OnStepFinished | None = None,
) -> MethodResult:
    """Run `steps` in order; stop at the first failure; say in one sentence how it went."""
    start = time.perf_counter()
    records: list[StepRecord] = []
    for step in steps:
        if on_step_started is not None:
            await on_step_started(step.name)
        if step.reads_facts and ctx.facts:
            outcome = await _run_with_facts(step, ctx)
        else:
            outcome = await _run_step(step, ctx)
        records.append(StepRecord(step.name, outcome))
        if on_step_finished is not None:
            await on_step_finished(step.name, outcome)
        if not outcome.ok:
            took = time.perf_counter() - start
            sentence = (
                f"{method} recovery failed at step {len(records)}/{len(steps)}"
                f" ({step.name}): {outcome.sentence}"
            )
            return MethodResult(
                method, False, sentence, tuple(records), step.name, took, outcome.outcome_known
            )
    took = time.perf_counter() - start
    sentence = f"{method} recovery done: {len(records)} steps in {duration(took)}"
    return MethodResult(method, True, sentence, tuple(records), None, took)


def _load_entry_point(entry_point: str) -> Callable[[StepContext], Awaitable[Any]]:
    module_name, _, attr = entry_point.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"python step {entry_point}: cannot import {module_name}: {exc}"
        raise RecoveryError(msg) from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        msg = f"python step {entry_point}: {module_name} has no callable {attr}"
        raise RecoveryError(msg)
    return fn  # type: ignore[no-any-return]


def _python_step(entry_point: str) -> StepAction:
    fn = _load_entry_point(
        entry_point
    )  # at build time: a typo fails the config, not the 3 a.m. run

    async def act(ctx: StepContext) -> CheckResult:
        start = time.perf_counter()
        result = await fn(ctx)
        took = time.perf_counter() - start
        if isinstance(result, CheckResult):
            return result
        if isinstance(result, str):
            return CheckResult(True, result, took)
        ok = result is None or result is True
        return CheckResult(ok, f"{entry_point} {'done' if ok else 'returned false'}", took)

    return act


def build_step(config: StepConfig) -> Step:
    """The callable for one configured step; RecoveryError if a python entry point is wrong."""
    kind = config.action_kind
    action: StepAction
    side_effects = True
    reads_facts = kind in ("command", "python") or (
        config.promote_standby is not None and config.promote_standby.command is not None
    )
    label = f"command of recovery step {config.name!r}"
    if config.command is not None:
        command = config.command
        action = lambda ctx: command_check(  # noqa: E731
            command, env=ctx.env, on_spawn=ctx.command_started(label)
        )
    elif config.http is not None:
        call = config.http
        action = lambda ctx: http_check(ctx.session, call)  # noqa: E731
    elif config.promote_standby is not None:
        promote = config.promote_standby
        if promote.http is not None:
            pcall = promote.http
            action = lambda ctx: http_check(  # noqa: E731
                ctx.session, pcall, label="promote standby: "
            )
        else:
            assert promote.command is not None
            pcmd = promote.command
            action = lambda ctx: command_check(  # noqa: E731
                pcmd, env=ctx.env, label="promote standby: ", on_spawn=ctx.command_started(label)
            )
    elif kind in ("restart_process", "stop_process"):
        action = hook_step(kind)
    elif kind in ("wait_healthy", "wait_heartbeat"):
        action, side_effects = wait_step(kind, config.timeout), False
    else:
        assert config.python is not None
        action = _python_step(config.python.entry_point)
    return Step(
        config.name, kind, config.timeout, config.expected, action, side_effects, reads_facts
    )


def build_steps(method: MethodConfig) -> list[Step]:
    return [build_step(step) for step in method.steps]
