"""Run any check of the shared vocabulary: the one dispatch on `http` / `tcp` / `command`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import aiohttp

from paramedic.checks.command import command_check
from paramedic.checks.http import http_check
from paramedic.checks.result import CheckResult
from paramedic.checks.tcp import tcp_check
from paramedic.config.checks import AnyCheck, HttpCheck, TcpCheck

__all__ = ["describe", "run_check"]


def describe(check: AnyCheck) -> str:
    """How a check's attempts are named, e.g. `GET http://127.0.0.1:8081/health`."""
    if isinstance(check, HttpCheck):
        return f"{check.method} {check.url}"
    if isinstance(check, TcpCheck):
        return f"connect {check.host}:{check.port}"
    return check.argv[0]


async def run_check(
    check: AnyCheck,
    session: aiohttp.ClientSession | None,
    *,
    env: Mapping[str, str] | None = None,
    label: str = "",
    on_spawn: Callable[[int], None] | None = None,
    now: Callable[[], float] = time.monotonic,
) -> CheckResult:
    """One attempt at `check`; an HTTP check needs the shared `session` (ValueError without).

    `label` prefixes the sentence (`promote standby: POST ...`); `env` and `on_spawn` are for
    commands, `now` stamps an HTTP probe's `/health` reading.
    """
    if isinstance(check, HttpCheck):
        if session is None:
            msg = f"{describe(check)}: an http check needs the shared aiohttp session"
            raise ValueError(msg)
        return await http_check(session, check, label=label, now=now)
    if isinstance(check, TcpCheck):
        return await tcp_check(check)
    return await command_check(check, env=env, label=label, on_spawn=on_spawn)
