"""Silences set at run time (API, CLI): stored first, then effective in the pipeline at once.

A silence added here is durable before the caller hears 201 and is loaded back on start,
before the alerting service restores any ladder, so a rung that fell due while paramedic was
down is held by the silence as it would have been. Expiring one (by hand, or, for an
until-resolved silence, by the resolve of an alert it matched) re-evaluates the held alerts:
those that still fire and that nothing else mutes are paged. One reaching its end is noticed
by the alerting service's own sweep (`AlertingService.sweep`), as a maintenance window is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.alerting.silences import Silence
from paramedic.core.clock import Clock
from paramedic.core.contracts import Job
from paramedic.core.errors import AlertingError
from paramedic.core.ids import new_id
from paramedic.core.labels import Matcher
from paramedic.store.silences import SilenceRow, SilenceStore

__all__ = ["SilenceAdmin", "SilenceState", "silence_view"]

log = structlog.get_logger("paramedic.silences")

SilenceState = Literal["active", "pending", "expired"]


def _iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds")


def _state(starts: float, ends: float | None, expired: float | None, now: float) -> SilenceState:
    if expired is not None or (ends is not None and ends <= now):
        return "expired"
    return "pending" if starts > now else "active"


def silence_view(row: SilenceRow, now: float, source: str = "api") -> dict[str, Any]:
    """How the API and `paramedic silence list --json` show one silence (times ISO, UTC)."""
    return {
        "id": row.id,
        "source": source,
        "state": _state(row.starts_wall, row.ends_wall, row.expired_wall, now),
        "matchers": list(row.matchers),
        "starts": _iso(row.starts_wall),
        "ends": _iso(row.ends_wall),
        "until_resolved": row.until_resolved,
        "author": row.author,
        "comment": row.comment,
        "created": _iso(row.created_wall),
        "expired": _iso(row.expired_wall),
        "expired_by": row.expired_by,
    }


class SilenceAdmin:
    """Adds, lists and expires silences; the `Muter` of `alerting` is what they act through."""

    def __init__(
        self, alerting: AlertingService, store: SilenceStore, clock: Clock, job: Job
    ) -> None:
        self._alerting = alerting
        self._store = store
        self._clock = clock
        self._job = job
        self._static = {s.id: s for s in alerting.muter.silences}
        alerting.on_silences_ended = self._ended_by_resolve

    async def load(self) -> int:
        """Put every stored silence not yet expired back into the pipeline (call before the
        alerting service restores its ladders)."""
        rows = await self._store.silences(live_only=True)
        now = self._clock.wall()
        for row in rows:
            if row.ends_wall is None or row.ends_wall > now:
                self._alerting.muter.add_silence(_silence(row))
        return len(rows)

    async def add(
        self,
        *,
        matchers: Sequence[str],
        starts_wall: float | None,
        ends_wall: float | None,
        until_resolved: bool,
        author: str,
        comment: str,
    ) -> SilenceRow:
        """Durable first, then effective: the next alert (or rung) it matches is held."""
        for text in matchers:
            Matcher.parse(text)  # the API validated them; a direct caller gets ValueError
        now = self._clock.wall()
        row = SilenceRow(
            id=new_id("sil_"),
            matchers=tuple(matchers),
            starts_wall=now if starts_wall is None else starts_wall,
            ends_wall=ends_wall,
            until_resolved=until_resolved,
            author=author,
            comment=comment,
            created_wall=now,
        )
        await self._store.put_silence(row)
        self._alerting.muter.add_silence(_silence(row))
        log.info("silence added", id=row.id, matchers=list(row.matchers), author=author)
        return row

    async def expire(self, silence_id: str, *, by: str) -> SilenceRow:
        """End it now (durably), then page what it was holding that still fires."""
        if silence_id in self._static:
            msg = f"silence {silence_id} is defined in the config file; remove it there"
            raise AlertingError(msg)
        row = await self._find(silence_id)
        if row is None:
            msg = f"no silence {silence_id!r}"
            raise LookupError(msg)
        now = self._clock.wall()
        if _state(row.starts_wall, row.ends_wall, row.expired_wall, now) == "expired":
            msg = f"silence {silence_id} has already expired"
            raise AlertingError(msg)
        if not await self._store.expire_silence(silence_id, wall=now, by=by):
            msg = f"silence {silence_id} has already expired"
            raise AlertingError(msg)
        self._alerting.muter.expire_silence(silence_id)
        paged = await self._alerting.reevaluate_held(f"silence {silence_id} expired by {by}")
        log.info("silence expired", id=silence_id, by=by, paged=paged)
        expired = await self._find(silence_id)
        assert expired is not None
        return expired

    async def listing(self, *, include_expired: bool) -> list[dict[str, Any]]:
        now = self._clock.wall()
        out = [
            silence_view(_row(s), now, "config")
            for s in self._static.values()
            if include_expired or s.ends_wall is None or s.ends_wall > now
        ]
        for row in await self._store.silences(live_only=not include_expired):
            view = silence_view(row, now)
            if include_expired or view["state"] != "expired":
                out.append(view)
        return out

    async def _find(self, silence_id: str) -> SilenceRow | None:
        return await self._store.get_silence(silence_id)

    def _ended_by_resolve(self, ids: list[str], alert: Alert) -> None:
        now = self._clock.wall()
        for silence_id in ids:
            if silence_id not in self._static:
                why = f"until resolved: alert {alert.id} resolved"
                self._job(self._store.expire_silence(silence_id, wall=now, by=why))


def _silence(row: SilenceRow) -> Silence:
    return Silence(
        id=row.id,
        matchers=tuple(Matcher.parse(m) for m in row.matchers),
        author=row.author,
        comment=row.comment,
        starts_wall=row.starts_wall,
        ends_wall=row.ends_wall,
        until_resolved=row.until_resolved,
    )


def _row(s: Silence) -> SilenceRow:
    return SilenceRow(
        id=s.id,
        matchers=tuple(str(m) for m in s.matchers),
        starts_wall=s.starts_wall,
        ends_wall=s.ends_wall,
        until_resolved=s.until_resolved,
        author=s.author,
        comment=s.comment,
        created_wall=s.starts_wall,
    )
