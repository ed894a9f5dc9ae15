"""Gather what the decision looks at: checkpoint age, standby, volatility, corruption.

Each source is asked once, bounded by its own timeout, and never raises: a source that does
not answer becomes a fact with a sentence ("standby check failed: refused"), because the
decision must still be taken in the worst minute of the day. What an unanswered source means
is chosen on the cautious side: no standby, no checkpoint, and *possibly corrupt* data (seed
4.1: a system up with wrong positions is worse than one that is down).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from paramedic.config.recovery_plan import CheckpointSource, JsonSource, RecoveryPlan
from paramedic.core.clock import Clock
from paramedic.core.text import one_line
from paramedic.recovery.sources import read_json_source

__all__ = ["GatheredInputs", "gather_inputs"]


@dataclass(slots=True)
class GatheredInputs:
    """The raw facts, plus the sentences of every source that could not answer."""

    checkpoint_age_s: float | None = None
    backup_available: bool = False
    backup_synced: bool = False
    backup_lag_s: float | None = None
    volatility_current: float | None = None
    volatility_average: float | None = None
    data_corruption: bool = False
    corruption_detail: str = ""
    problems: list[str] = field(default_factory=list)


def _number(doc: Any, key: str) -> float | None:
    value = doc.get(key) if isinstance(doc, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


async def _checkpoint_age(
    source: CheckpointSource,
    clock: Clock,
    base_dir: Path,
    session: Callable[[], Awaitable[aiohttp.ClientSession]],
) -> float:
    if source.path is not None:
        path = source.path if source.path.is_absolute() else base_dir / source.path
        try:
            mtime = (await asyncio.to_thread(path.stat)).st_mtime
        except OSError as exc:
            msg = f"checkpoint {path}: {exc.strerror or exc}"
            raise ValueError(msg) from exc
        # The injected wall clock, so a FakeClock test can age a real file.
        return max(0.0, clock.wall() - mtime)
    assert source.command is not None
    doc = await read_json_source(JsonSource(command=source.command), session)
    age = _number(doc, "age_seconds")
    if age is None:
        msg = f"checkpoint command printed no number age_seconds: {one_line(json.dumps(doc))}"
        raise ValueError(msg)
    return age


async def gather_inputs(
    plan: RecoveryPlan,
    *,
    clock: Clock,
    base_dir: Path,
    session: Callable[[], Awaitable[aiohttp.ClientSession]],
) -> GatheredInputs:
    """Ask every configured source at once; the slowest bounds the decision's latency."""
    got = GatheredInputs()

    async def checkpoint() -> None:
        if plan.checkpoint is None:
            return
        try:
            got.checkpoint_age_s = await _checkpoint_age(plan.checkpoint, clock, base_dir, session)
        except ValueError as exc:
            got.problems.append(f"checkpoint unknown: {exc}")

    async def standby() -> None:
        if plan.standby is None:
            return
        try:
            doc = await read_json_source(plan.standby.check, session)
        except ValueError as exc:
            got.problems.append(f"standby check failed: {exc}")
            return
        if isinstance(doc, dict):
            got.backup_available = doc.get("available") is True
            got.backup_synced = doc.get("synced") is True
            got.backup_lag_s = _number(doc, "lag_seconds")

    async def volatility() -> None:
        if plan.volatility is None:
            return
        try:
            doc = await read_json_source(plan.volatility.check, session)
        except ValueError as exc:
            got.problems.append(f"volatility check failed: {exc}")
            return
        got.volatility_current = _number(doc, "current")
        got.volatility_average = _number(doc, "average")

    async def corruption() -> None:
        if plan.corruption is None:
            return
        try:
            doc = await read_json_source(plan.corruption.check, session)
        except ValueError as exc:
            # Unknown integrity is treated as corrupt: an automatic restart on bad state is
            # the one outcome worse than waiting for a human.
            got.data_corruption = True
            got.corruption_detail = f"corruption check failed ({exc}); treated as corrupt"
            return
        corrupt = not isinstance(doc, dict) or doc.get("corrupt") is not False
        if corrupt:
            got.data_corruption = True
            detail = doc.get("detail") if isinstance(doc, dict) else None
            got.corruption_detail = str(detail or f"corruption check answered {json.dumps(doc)}")

    await asyncio.gather(checkpoint(), standby(), volatility(), corruption())
    return got
