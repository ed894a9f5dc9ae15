"""Read the JSON a plan's source answers (an HTTP call or a program), bounded by its timeout.

Shared by the decision's inputs (`orchestrator/inputs.py`) and the standby watch
(`standby.py`); kept out of the orchestrator package so the standby watch, which the
orchestrator builds, does not import the package that imports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from paramedic.checks import command_json, fetch_json
from paramedic.config.recovery_plan import JsonSource
from paramedic.core.text import duration

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
                    await session(), call.method, call.url, body=call.body, headers=call.headers
                )
            assert source.command is not None
            return await command_json(source.command)
    except TimeoutError:
        msg = f"no answer within {duration(source.timeout)}"
        raise ValueError(msg) from None
