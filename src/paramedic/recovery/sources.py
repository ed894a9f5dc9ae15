"""Read the JSON a plan's source answers (an HTTP call or a program), bounded by its timeout.

Shared by the decision's inputs (`orchestrator/inputs.py`) and the standby watch
(`standby.py`); kept out of the orchestrator package so the standby watch, which the
orchestrator builds, does not import the package that imports it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from paramedic.config.recovery_plan import JsonSource
from paramedic.core.text import one_line
from paramedic.process.command import run_command
from paramedic.recovery.steps import fetch_json

__all__ = ["read_json_source"]


async def read_json_source(
    source: JsonSource, session: Callable[[], Awaitable[aiohttp.ClientSession]]
) -> Any:
    """The JSON document a source answers; ValueError with a sentence for anything else."""
    try:
        async with asyncio.timeout(source.timeout):
            if source.http is not None:
                call = source.http
                return await fetch_json(
                    await session(), call.verb, call.url, body=call.body, headers=call.headers
                )
            assert source.command is not None
            cmd = source.command
            try:
                result = await run_command(cmd.argv, env={**os.environ, **cmd.env}, cwd=cmd.cwd)
            except OSError as exc:
                msg = f"{cmd.argv[0]} cannot run: {exc.strerror or exc}"
                raise ValueError(msg) from exc
            if result.returncode != 0:
                raise ValueError(result.describe(cmd.argv[0]))
            try:
                return json.loads(result.output)
            except ValueError:
                msg = f"{cmd.argv[0]} did not print JSON: {one_line(result.output)!r}"
                raise ValueError(msg) from None
    except TimeoutError:
        msg = f"no answer within {source.timeout:g} s"
        raise ValueError(msg) from None
