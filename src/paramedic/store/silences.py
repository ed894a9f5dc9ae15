"""The silence part of the Store protocol: silences set through the API, kept across restarts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["SilenceRow", "SilenceStore"]


@dataclass(frozen=True, slots=True)
class SilenceRow:
    """One silence; `expired_wall` is set when it was expired by hand or ended by a resolve
    (a silence whose `ends_wall` passed is simply over, with `expired_wall` None)."""

    id: str
    matchers: tuple[str, ...]
    starts_wall: float
    ends_wall: float | None
    until_resolved: bool
    author: str
    comment: str
    created_wall: float
    expired_wall: float | None = None
    expired_by: str = ""


class SilenceStore(Protocol):
    """Every write returns once it is durable."""

    async def put_silence(self, row: SilenceRow) -> None: ...

    async def expire_silence(self, silence_id: str, *, wall: float, by: str) -> bool:
        """Mark it expired; False if it was already (or never existed)."""
        ...

    async def get_silence(self, silence_id: str) -> SilenceRow | None: ...

    async def silences(self, *, live_only: bool, limit: int = 1000) -> list[SilenceRow]:
        """Newest first; `live_only`: not expired by hand or by a resolve (past their end or
        not, the caller judges by wall time)."""
        ...
