"""Named health checks, the one source for /livez, /readyz and /health.

A check is an async callable returning `(ok, reason)`; it must not raise, but if one does,
the registry reports it as failed with the exception's text rather than failing the probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from paramedic.core.text import duration

__all__ = ["Check", "CheckRegistry", "CheckResult"]

Check = Callable[[], Awaitable[tuple[bool, str]]]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    reason: str


class CheckRegistry:
    """Checks grouped by purpose: `live` (restart me if failing) and `ready` (send me work)."""

    def __init__(self, timeout: float = 2.0) -> None:
        self._timeout = timeout
        self._checks: dict[str, dict[str, Check]] = {"live": {}, "ready": {}}

    def add(self, kind: str, name: str, check: Check) -> None:
        self._checks[kind][name] = check

    async def run(self, kind: str) -> list[CheckResult]:
        checks = self._checks[kind]
        results = await asyncio.gather(*(self._one(n, c) for n, c in checks.items()))
        return list(results)

    async def _one(self, name: str, check: Check) -> CheckResult:
        try:
            async with asyncio.timeout(self._timeout):
                ok, reason = await check()
        except TimeoutError:
            return CheckResult(name, False, f"no answer within {duration(self._timeout)}")
        except Exception as exc:  # a broken check is a failed check, not a failed probe
            return CheckResult(name, False, f"{type(exc).__name__}: {exc}")
        return CheckResult(name, ok, reason)
