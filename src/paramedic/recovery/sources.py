"""Read the JSON a plan's source answers (an HTTP call or a program), bounded by its timeout,
and read each fact out of it in the one format the docs give (docs/recovery.md).

Shared by the decision's inputs (`orchestrator/inputs.py`) and the standby watch
(`standby.py`); kept out of the orchestrator package so the standby watch, which the
orchestrator builds, does not import the package that imports it.

An answer in another shape is an error that shows what came and what was expected. Reading
"whatever looks like it" (`doc.get("synced") is True`, a number under any of several names)
turned a check that answered `{"in_sync": true}` into a silent "no standby", and nobody
learnt why the hot restart never happened.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from paramedic.checks import command_json, fetch_json
from paramedic.config.recovery_plan import JsonSource
from paramedic.core.text import duration, one_line

__all__ = [
    "CHECKPOINT_FORMAT",
    "CORRUPTION_FORMAT",
    "STANDBY_FORMAT",
    "VOLATILITY_FORMAT",
    "StandbyAnswer",
    "read_checkpoint_age",
    "read_corruption",
    "read_json_source",
    "read_standby",
    "read_volatility",
]

STANDBY_FORMAT = '{"available": true, "synced": true, "lag_seconds": 0.2}'
CORRUPTION_FORMAT = '{"corrupt": false} or {"corrupt": true, "detail": "positions differ"}'
VOLATILITY_FORMAT = '{"current": 1.8, "average": 1.2}'
CHECKPOINT_FORMAT = '{"age_seconds": 42.5}'


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


@dataclass(frozen=True, slots=True)
class StandbyAnswer:
    available: bool
    synced: bool
    lag_s: float | None


def _wrong(what: str, doc: Any, expected: str, why: str) -> ValueError:
    shown = one_line(json.dumps(doc, default=str), 160)
    return ValueError(f"the {what} answered {shown} ({why}); expected {expected}")


def _number(doc: dict[str, Any], key: str) -> float | None:
    """The number at `key`, None when absent or null; ValueError naming a wrong type."""
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        msg = f"{key} is not a number"
        raise ValueError(msg)
    if value < 0:
        msg = f"{key} is negative"
        raise ValueError(msg)
    return float(value)


def _object(what: str, doc: Any, expected: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise _wrong(what, doc, expected, "not a JSON object")
    return doc


def read_standby(doc: Any) -> StandbyAnswer:
    """`{"available": bool, "synced": bool, "lag_seconds": number|null}`; `synced` and
    `lag_seconds` may be left out when nothing is available."""
    what = "standby check"
    found = _object(what, doc, STANDBY_FORMAT)
    available, synced = found.get("available"), found.get("synced", None)
    if not isinstance(available, bool):
        raise _wrong(what, doc, STANDBY_FORMAT, "available is not true or false")
    if synced is None and available:
        raise _wrong(what, doc, STANDBY_FORMAT, "synced is missing")
    if synced is not None and not isinstance(synced, bool):
        raise _wrong(what, doc, STANDBY_FORMAT, "synced is not true or false")
    try:
        lag = _number(found, "lag_seconds")
    except ValueError as exc:
        raise _wrong(what, doc, STANDBY_FORMAT, str(exc)) from None
    return StandbyAnswer(available, bool(synced), lag)


def read_corruption(doc: Any) -> tuple[bool, str]:
    """(corrupt, detail) from `{"corrupt": bool, "detail": str}` (detail optional)."""
    what = "corruption check"
    found = _object(what, doc, CORRUPTION_FORMAT)
    corrupt, detail = found.get("corrupt"), found.get("detail", "")
    if not isinstance(corrupt, bool):
        raise _wrong(what, doc, CORRUPTION_FORMAT, "corrupt is not true or false")
    if not isinstance(detail, str):
        raise _wrong(what, doc, CORRUPTION_FORMAT, "detail is not a string")
    return corrupt, one_line(detail)


def read_volatility(doc: Any) -> tuple[float, float]:
    """(current, average) from `{"current": number, "average": number}`, both required."""
    what = "volatility check"
    found = _object(what, doc, VOLATILITY_FORMAT)
    try:
        current, average = _number(found, "current"), _number(found, "average")
    except ValueError as exc:
        raise _wrong(what, doc, VOLATILITY_FORMAT, str(exc)) from None
    if current is None or average is None:
        missing = "current" if current is None else "average"
        raise _wrong(what, doc, VOLATILITY_FORMAT, f"{missing} is missing")
    return current, average


def read_checkpoint_age(doc: Any) -> float:
    """Seconds from `{"age_seconds": number}`."""
    what = "checkpoint command"
    found = _object(what, doc, CHECKPOINT_FORMAT)
    try:
        age = _number(found, "age_seconds")
    except ValueError as exc:
        raise _wrong(what, doc, CHECKPOINT_FORMAT, str(exc)) from None
    if age is None:
        raise _wrong(what, doc, CHECKPOINT_FORMAT, "age_seconds is missing")
    return age
