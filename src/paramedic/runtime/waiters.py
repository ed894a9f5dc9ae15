"""Waiting, without polling, for a condition on one service's health.

A recovery step waits for "the service is up" or "its heartbeat vouches for it". Those
conditions change only when a signal arrives or a tick counts, so the service wakes its
waiters then, instead of each waiter polling on a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["HealthWaiters"]


class HealthWaiters:
    """The waits pending on one service's health."""

    def __init__(self) -> None:
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[bool]]] = []

    def __bool__(self) -> bool:
        return bool(self._waiters)

    async def wait_until(self, condition: Callable[[], bool], within: float) -> bool:
        """True once `condition` holds, False if it did not within `within` seconds."""
        if condition():
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        entry = (condition, future)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(within):
                return await future
        except TimeoutError:
            return False
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def wake(self) -> None:
        """The health changed: release every waiter whose condition now holds."""
        for condition, future in list(self._waiters):
            if not future.done() and condition():
                future.set_result(True)
