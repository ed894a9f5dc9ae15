"""Recovery step actions: one async callable per step, each ending in one plain sentence.

A step either does something to the world (run a program, call an API, restart the process)
or waits for something (healthy, heartbeat). The difference matters when a step is cut short:
a timed-out wait changed nothing, but a timed-out promotion may or may not have promoted, so
every outcome says whether it is *known* and the runner refuses to guess on the operator's
behalf. Process and service hooks come from the integrator through `StepContext`
(`recovery/hooks.py`), which keeps this module free of the runtime's internals.

Durations are `time.perf_counter` readings: they describe real I/O, not an injected clock.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from paramedic.config.probes import CommandAction
from paramedic.config.recovery_plan import HttpCall
from paramedic.core.errors import ParamedicError
from paramedic.core.jsonpath import MISSING, json_mismatch
from paramedic.core.text import ms, one_line
from paramedic.detect.probe_actions import read_capped
from paramedic.process.command import run_command
from paramedic.recovery.hooks import StepContext

__all__ = [
    "HttpAnswer",
    "StepAction",
    "StepOutcome",
    "call_command",
    "call_http",
    "client_error",
    "hook_step",
    "http_request",
    "wait_step",
]


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How a step ended. `outcome_known=False`: it may have half-happened; a human must look."""

    ok: bool
    sentence: str
    duration: float
    outcome_known: bool = True


StepAction = Callable[[StepContext], Awaitable[StepOutcome]]


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: bytes
    took: float

    def json(self) -> Any:
        """The parsed body, or MISSING if it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return MISSING


async def http_request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> HttpAnswer:
    """One request with a capped body read; aiohttp.ClientError on transport failure."""
    start = time.perf_counter()
    async with session.request(
        method, url, json=body, headers=dict(headers or {}), allow_redirects=False
    ) as response:
        body_read = await read_capped(response)
        return HttpAnswer(response.status, body_read, time.perf_counter() - start)


async def fetch_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """The JSON a 2xx answer carries; ValueError with a sentence for any other answer."""
    try:
        answer = await http_request(session, method, url, body=body, headers=headers)
    except aiohttp.ClientError as exc:
        msg = f"{method} {url} failed: {client_error(exc)[0]}"
        raise ValueError(msg) from exc
    if not 200 <= answer.status < 300:
        msg = f"{method} {url} -> {answer.status}"
        raise ValueError(msg)
    doc = answer.json()
    if doc is MISSING:
        msg = f"{method} {url}: body is not JSON"
        raise ValueError(msg)
    return doc


def client_error(exc: aiohttp.ClientError) -> tuple[str, bool]:
    """A sentence for a transport failure, and whether the request surely never arrived."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        return ("refused" if refused else one_line(str(exc))), True
    return one_line(str(exc)) or type(exc).__name__, False


async def call_http(session: aiohttp.ClientSession, call: HttpCall, label: str = "") -> StepOutcome:
    """A configured request judged by its expectations; shared by steps and checks."""
    start = time.perf_counter()
    what = f"{label}{call.verb} {call.url}"
    try:
        answer = await http_request(
            session, call.verb, call.url, body=call.body, headers=call.headers
        )
    except aiohttp.ClientError as exc:
        why, never_sent = client_error(exc)
        return StepOutcome(False, f"{what} failed: {why}", time.perf_counter() - start, never_sent)
    ok = answer.status in call.expect_status if call.expect_status else 200 <= answer.status < 300
    sentence = f"{what} -> {answer.status} in {ms(answer.took)}"
    if ok and call.expect_json:
        mismatch = json_mismatch(answer.json(), call.expect_json)
        if mismatch is not None:
            ok, sentence = False, f"{sentence}; {mismatch}"
    return StepOutcome(ok, sentence, answer.took)


async def call_command(
    action: CommandAction,
    env: Mapping[str, str] | None = None,
    label: str = "",
    *,
    on_spawn: Callable[[int], None] | None = None,
) -> StepOutcome:
    """A configured program; exit 0 is success. Shared by steps and checks."""
    start = time.perf_counter()
    env = {**os.environ, **(env or {}), **action.env}
    try:
        result = await run_command(action.argv, env=env, cwd=action.cwd, on_spawn=on_spawn)
    except OSError as exc:
        took = time.perf_counter() - start
        return StepOutcome(
            False, f"{label}{action.argv[0]} cannot run: {exc.strerror or exc}", took
        )
    return StepOutcome(result.returncode == 0, result.describe(label + action.argv[0]), result.took)


def hook_step(kind: str) -> StepAction:
    async def act(ctx: StepContext) -> StepOutcome:
        start = time.perf_counter()
        hook = ctx.restart_process if kind == "restart_process" else ctx.stop_process
        try:
            said = await hook()
        except ParamedicError as exc:
            # Our own errors name a cause that stopped the action before it took effect.
            return StepOutcome(False, f"{kind} failed: {exc}", time.perf_counter() - start)
        took = time.perf_counter() - start
        done = "process restarted" if kind == "restart_process" else "process stopped"
        return StepOutcome(True, said or f"{done} in {ms(took)}", took)

    return act


def wait_step(kind: str, timeout: float) -> StepAction:
    async def act(ctx: StepContext) -> StepOutcome:
        start = time.perf_counter()
        wait = ctx.wait_healthy if kind == "wait_healthy" else ctx.wait_heartbeat
        ok = await wait(timeout)
        took = time.perf_counter() - start
        what = "healthy" if kind == "wait_healthy" else "heartbeat back"
        sentence = f"{what} after {took:.2f} s" if ok else f"not {what} within {timeout:g} s"
        return StepOutcome(ok, sentence, took)

    return act
