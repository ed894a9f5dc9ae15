"""SQLite implementation of `SilenceStore`, mixed into `SQLiteStore` (same writer thread)."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from paramedic.core.jsoncodec import dumps_text, loads
from paramedic.store.silences import SilenceRow

__all__ = ["SQLiteSilences"]

_COLUMNS = (
    "id, matchers, starts_wall, ends_wall, until_resolved, author, comment, created_wall,"
    " expired_wall, expired_by"
)


def _silence(r: tuple[Any, ...]) -> SilenceRow:
    return SilenceRow(
        id=r[0],
        matchers=tuple(loads(r[1])),
        starts_wall=r[2],
        ends_wall=r[3],
        until_resolved=bool(r[4]),
        author=r[5],
        comment=r[6],
        created_wall=r[7],
        expired_wall=r[8],
        expired_by=r[9],
    )


class SQLiteSilences:
    """Needs `_submit(job)` (writes on the writer thread) and `_read(sql, args)` (reads)."""

    async def _submit(self, job: Any) -> Any:  # provided by SQLiteStore
        raise NotImplementedError

    def _read(self, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:  # provided
        raise NotImplementedError

    async def put_silence(self, row: SilenceRow) -> None:
        values = (
            row.id,
            dumps_text(list(row.matchers)),
            row.starts_wall,
            row.ends_wall,
            int(row.until_resolved),
            row.author,
            row.comment,
            row.created_wall,
            row.expired_wall,
            row.expired_by,
        )

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(f"INSERT INTO silences ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", values)

        await self._submit(write)

    async def expire_silence(self, silence_id: str, *, wall: float, by: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE silences SET expired_wall = ?, expired_by = ?"
                " WHERE id = ? AND expired_wall IS NULL",
                (wall, by, silence_id),
            )
            return cur.rowcount == 1

        done: bool = await self._submit(write)
        return done

    async def get_silence(self, silence_id: str) -> SilenceRow | None:
        sql = f"SELECT {_COLUMNS} FROM silences WHERE id = ?"
        rows = await asyncio.to_thread(self._read, sql, [silence_id])
        return _silence(rows[0]) if rows else None

    async def silences(self, *, live_only: bool, limit: int = 1000) -> list[SilenceRow]:
        sql = f"SELECT {_COLUMNS} FROM silences"
        if live_only:
            sql += " WHERE expired_wall IS NULL"
        sql += " ORDER BY created_wall DESC LIMIT ?"
        rows = await asyncio.to_thread(self._read, sql, [limit])
        return [_silence(r) for r in rows]
