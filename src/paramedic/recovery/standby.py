"""After a hot recovery: is there still a standby? Say so until there is one again.

A hot recovery promotes the standby; the old primary is dead. Unless the plan restarts it as
the new standby (a `restart_process` step after the promotion, for an engine that finds its
role on start), the service now runs with no standby, and the next crash has no hot option.
paramedic cannot turn a dead primary into a standby by itself (the role, the replication
direction and the data sync are the engine's business), so it does what it can always do:
it asks the plan's standby check, and while that answers "none", the service carries a
standing failure of kind `degradation` (P2 under the default severity rules, paged like any
`failure.detected`), re-checked every `standby.recheck_every`, cleared when one is back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp

from paramedic.config.recovery_plan import StandbySource
from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.contracts import Job, Record
from paramedic.core.failure_events import FailureCleared, FailureDetected
from paramedic.core.ids import new_id
from paramedic.recovery.sources import StandbyAnswer, read_json_source, read_standby

__all__ = ["STANDBY_SOURCE", "StandbyWatch"]

STANDBY_SOURCE = "standby"
"""The `source` of the failure this watch records: the orchestrator does not recover it."""


class StandbyWatch:
    """One service's "running without a standby" failure: opened, re-checked, cleared."""

    def __init__(
        self,
        service: str,
        source: StandbySource,
        *,
        clock: Clock,
        record: Record,
        session: Callable[[], Awaitable[aiohttp.ClientSession]],
        spawn: Job,
    ) -> None:
        self._service, self._source = service, source
        self._clock, self._record, self._session, self._spawn = clock, record, session, spawn
        self.failure: str | None = None  # the open failure's incident id
        self._since_wall = 0.0
        self._timer: TimerHandle | None = None

    @property
    def missing(self) -> bool:
        return self.failure is not None

    def restore(self, failure: str, since_wall: float) -> None:
        """A failure a previous paramedic left open: keep checking it."""
        self.failure, self._since_wall = failure, since_wall
        self._arm()

    async def check(self, after: str = "") -> None:
        """Ask the standby check once; open or clear the failure; re-arm while missing."""
        self._timer = None
        try:
            answer = read_standby(await read_json_source(self._source.check, self._session))
            why = "" if answer.available and answer.synced else _why_not(answer)
        except ValueError as exc:
            why = f"standby check failed: {exc}"
        now = self._clock.now()
        if not why and self.failure is not None:
            failure, self.failure = self.failure, None
            await self._record(
                FailureCleared(
                    at=now,
                    service=self._service,
                    incident=failure,
                    downtime_s=max(0.0, now.wall - self._since_wall),
                    reason="standby back: available and synced",
                )
            )
            return
        if why and self.failure is None:
            self.failure, self._since_wall = new_id("inc_"), now.wall
            tail = f" {after}" if after else ""
            reason = (
                f"running without a standby{tail}: {why}; the next failure has no hot"
                " option: bring a standby up (restart the old primary as the new standby)"
            )
            await self._record(
                FailureDetected(
                    at=now,
                    service=self._service,
                    incident=self.failure,
                    failure_kind="degradation",
                    reason=reason,
                    source=STANDBY_SOURCE,
                )
            )
        if self.failure is not None:
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._clock.call_later(
            self._source.recheck_every, lambda: self._spawn(self.check())
        )

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _why_not(answer: StandbyAnswer) -> str:
    if not answer.available:
        return "the standby check answers none available"
    lag = answer.lag_s
    return "the standby is not synced" + (f" (lag {lag:g} s)" if lag is not None else "")
