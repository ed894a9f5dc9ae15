"""Gather what the decision looks at: checkpoint age, standby, volatility, corruption.

Each source is asked once, bounded by its own timeout, and never raises: a source that does
not answer becomes a fact with a sentence ("standby check failed: refused"), because the
decision must still be taken in the worst minute of the day. What an unanswered source means
is chosen on the cautious side: no standby, no checkpoint, *possibly corrupt* data (seed
4.1: a system up with wrong positions is worse than one that is down), and a market too
volatile for a cold restart. An answer in the wrong format counts as no answer, with a
sentence saying what was expected (`recovery/sources.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from paramedic.config.recovery_plan import CheckpointSource, JsonSource, RecoveryPlan
from paramedic.core.clock import Clock
from paramedic.recovery.sources import (
    read_checkpoint_age,
    read_corruption,
    read_json_source,
    read_standby,
    read_volatility,
)

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
    volatility_unknown: bool = False
    data_corruption: bool = False
    corruption_detail: str = ""
    problems: list[str] = field(default_factory=list)
    checkpoint_path: str | None = None
    standby_url: str | None = None


def checkpoint_path(source: CheckpointSource | None, base_dir: Path) -> Path | None:
    """The checkpoint file a plan names (absolute), or None when a command reports the age."""
    if source is None or source.path is None:
        return None
    return source.path if source.path.is_absolute() else base_dir / source.path


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
    return read_checkpoint_age(doc)


async def gather_inputs(
    plan: RecoveryPlan,
    *,
    clock: Clock,
    base_dir: Path,
    session: Callable[[], Awaitable[aiohttp.ClientSession]],
) -> GatheredInputs:
    """Ask every configured source at once; the slowest bounds the decision's latency."""
    got = GatheredInputs()
    path = checkpoint_path(plan.checkpoint, base_dir)
    got.checkpoint_path = None if path is None else str(path)
    if plan.standby is not None and plan.standby.check.http is not None:
        got.standby_url = plan.standby.check.http.url

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
            answer = read_standby(await read_json_source(plan.standby.check, session))
        except ValueError as exc:
            got.problems.append(f"standby unknown, treated as none: {exc}")
            return
        got.backup_available, got.backup_synced = answer.available, answer.synced
        got.backup_lag_s = answer.lag_s

    async def volatility() -> None:
        if plan.volatility is None:
            return
        try:
            doc = await read_json_source(plan.volatility.check, session)
            got.volatility_current, got.volatility_average = read_volatility(doc)
        except ValueError as exc:
            # The check is there to stop a slow cold rebuild in a hot market; unread, it
            # cannot say the market is calm, so a cold restart waits for a human.
            got.volatility_unknown = True
            got.problems.append(f"volatility unknown, no cold restart without a human: {exc}")

    async def corruption() -> None:
        if plan.corruption is None:
            return
        try:
            corrupt, detail = read_corruption(
                await read_json_source(plan.corruption.check, session)
            )
        except ValueError as exc:
            # Unknown integrity is treated as corrupt: an automatic restart on bad state is
            # the one outcome worse than waiting for a human.
            got.data_corruption = True
            got.corruption_detail = f"corruption check failed ({exc}); treated as corrupt"
            got.problems.append(f"integrity unknown, treated as corrupt: {exc}")
            return
        if corrupt:
            got.data_corruption = True
            got.corruption_detail = detail or "the corruption check answered corrupt"

    await asyncio.gather(checkpoint(), standby(), volatility(), corruption())
    return got
