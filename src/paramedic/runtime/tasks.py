"""The tasks one paramedic runs, held in sets (as uvicorn's `Server` holds its connections).

Two kinds: *jobs*, short work a room hands off (record an exit, restart a process, deliver
a page), which a stop lets finish within a grace and then cancels; and *loops*, which run
until stopped, each owned by the start-up phase that began it, so stopping a phase cancels
exactly its loops. A task that fails is logged and forgotten, never a reason to stop: a
`StoreError` goes to the store-trouble handler (the store is degraded, supervision goes on).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from paramedic.core.errors import StoreError

__all__ = ["Tasks"]

log = structlog.get_logger("paramedic")

SHUTDOWN = "paramedic shutting down"


class Tasks:
    """Every background task of one paramedic."""

    def __init__(self, on_store_error: Callable[[StoreError], None]) -> None:
        self._on_store_error = on_store_error
        self._jobs: set[asyncio.Task[None]] = set()
        self._loops: dict[str, set[asyncio.Task[None]]] = {}
        self.owner = ""  # the phase starting now: the owner of the loops it starts

    def job(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._jobs.add(task)
        task.add_done_callback(self._done)

    def loop(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._loops.setdefault(self.owner, set()).add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._jobs.discard(task)
        for owned in self._loops.values():
            owned.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        if isinstance(exc, StoreError):
            # Never a reason to stop: that would stop every child for a bookkeeping problem.
            self._on_store_error(exc)
            return
        log.error("background task failed", task=task.get_name(), exc_info=exc)

    async def settle_jobs(self, grace: float) -> None:
        """Let the jobs in flight finish (the children's exit records); cancel the rest (a
        restart waiting out its backoff is pointless now)."""
        if not self._jobs:
            return
        _done, pending = await asyncio.wait(list(self._jobs), timeout=grace)
        for task in pending:
            task.cancel(msg=SHUTDOWN)
        await asyncio.gather(*pending, return_exceptions=True)

    async def cancel_loops(self, owner: str) -> None:
        """Cancel the loops `owner` started, and wait until they are gone."""
        tasks = list(self._loops.pop(owner, ()))
        for task in tasks:
            task.cancel(msg=SHUTDOWN)
        await asyncio.gather(*tasks, return_exceptions=True)
