"""SQLite implementation of `OutboxStore`, mixed into `SQLiteStore` (same writer thread)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Collection, Sequence
from typing import Any

from paramedic.core.jsoncodec import dumps_text, loads
from paramedic.store.outbox import (
    AlertRow,
    AttemptRow,
    AuditRow,
    NotificationRow,
    NotificationStatus,
)

__all__ = ["SQLiteOutbox"]

# Column lists are constants; every value goes through ? placeholders.
_NOTIFICATION_COLUMNS = (
    "id, alert_id, channel, action, severity, idempotency_key, status, attempts, due_wall,"
    " created_wall, last_detail, payload"
)
_AUDIT_COLUMNS = "wall, actor, action, target, reason, role, address, outcome, seq"
_ALERT_COLUMNS = "id, incident, service, severity, state, opened_wall, updated_wall, data"
_INSERT_ATTEMPT = (
    "INSERT INTO attempts (notification_id, number, started_wall, duration_s, outcome, status,"
    " detail) VALUES (?,?,?,?,?,?,?)"
)
# An attempt recorded before its request is written; replaced by its outcome when it ends,
# or turned into `unknown` by the next start if paramedic died in between.
_STARTED = "started"


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    """`ids` in pieces that stay under SQLite's limit on bound variables per statement."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _notification(r: tuple[Any, ...]) -> NotificationRow:
    return NotificationRow(
        id=r[0],
        alert_id=r[1],
        channel=r[2],
        action=r[3],
        severity=r[4],
        idempotency_key=r[5],
        status=r[6],
        attempts=r[7],
        due_wall=r[8],
        created_wall=r[9],
        last_detail=r[10],
        payload=loads(r[11]),
    )


def _alert(r: tuple[Any, ...]) -> AlertRow:
    return AlertRow(
        id=r[0],
        incident=r[1],
        service=r[2],
        severity=r[3],
        state=r[4],
        opened_wall=r[5],
        updated_wall=r[6],
        data=loads(r[7]),
    )


class SQLiteOutbox:
    """Needs `_submit(job)` (writes on the writer thread) and `_read(sql, args)` (reads)."""

    async def _submit(self, job: Any) -> Any:  # provided by SQLiteStore
        raise NotImplementedError

    def _hand_over(self, job: Any) -> asyncio.Future[Any]:  # provided by SQLiteStore
        raise NotImplementedError

    def _read(self, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:  # provided
        raise NotImplementedError

    async def _rows(self, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._read, sql, args)

    # -- alerts --------------------------------------------------------------------------------

    async def put_alert(self, alert: AlertRow) -> None:
        await self._submit(self._alert_writer(alert))

    @staticmethod
    def _alert_writer(alert: AlertRow) -> Any:
        row = (
            alert.id,
            alert.incident,
            alert.service,
            alert.severity,
            alert.state,
            alert.opened_wall,
            alert.updated_wall,
            dumps_text(alert.data),
        )

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT OR REPLACE INTO alerts ({_ALERT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", row
            )

        return write

    async def alerts(self, *, state: str | None = None, limit: int = 500) -> list[AlertRow]:
        sql = f"SELECT {_ALERT_COLUMNS} FROM alerts"
        args: list[Any] = []
        if state is not None:
            sql += " WHERE state = ?"
            args.append(state)
        sql += " ORDER BY opened_wall DESC LIMIT ?"
        args.append(limit)
        return [_alert(r) for r in await self._rows(sql, args)]

    async def get_alert(self, alert_id: str) -> AlertRow | None:
        rows = await self._rows(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", [alert_id])
        return _alert(rows[0]) if rows else None

    # -- notifications -------------------------------------------------------------------------

    def enqueue(
        self,
        rows: list[NotificationRow],
        *,
        alert: AlertRow | None = None,
        starting: Collection[str] = (),
    ) -> asyncio.Future[None]:
        write_alert = self._alert_writer(alert) if alert is not None else None
        started = [
            (n.id, n.attempts + 1, n.created_wall, 0.0, _STARTED, None, "")
            for n in rows
            if n.id in starting
        ]
        values = [
            (
                n.id,
                n.alert_id,
                n.channel,
                n.action,
                n.severity,
                n.idempotency_key,
                n.status,
                n.attempts,
                n.due_wall,
                n.created_wall,
                n.last_detail,
                dumps_text(n.payload),
            )
            for n in rows
        ]

        def write(conn: sqlite3.Connection) -> None:
            if write_alert is not None:
                write_alert(conn)
            conn.executemany(
                f"INSERT INTO notifications ({_NOTIFICATION_COLUMNS})"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                values,
            )
            if started:
                conn.executemany(_INSERT_ATTEMPT, started)

        return self._hand_over(write)

    async def start_attempts(self, starts: list[tuple[str, int, float]]) -> None:
        values = [(nid, number, wall, 0.0, _STARTED, None, "") for nid, number, wall in starts]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(_INSERT_ATTEMPT, values)

        await self._submit(write)

    async def settle_interrupted(self, detail: str) -> list[tuple[str, int]]:
        def write(conn: sqlite3.Connection) -> list[tuple[str, int]]:
            # One scan of the attempts (outcome is not indexed: an index would cost every
            # attempt two more writes); the rows found are then updated by their key.
            found = conn.execute(
                "SELECT a.seq, a.notification_id, a.number, n.status FROM attempts a"
                " JOIN notifications n ON n.id = a.notification_id WHERE a.outcome = ?",
                (_STARTED,),
            ).fetchall()
            conn.executemany(
                "UPDATE attempts SET outcome = 'unknown', detail = ? WHERE seq = ?",
                [(detail, seq) for seq, _nid, _number, _status in found],
            )
            conn.executemany(
                "UPDATE notifications SET attempts = max(attempts, ?), last_detail = ?"
                " WHERE id = ?",
                [(number, detail, nid) for _seq, nid, number, _status in found],
            )
            return [(nid, number) for _seq, nid, number, status in found if status == "pending"]

        settled: list[tuple[str, int]] = await self._submit(write)
        return settled

    async def pending_notifications(self) -> list[NotificationRow]:
        sql = (
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE status = 'pending'"
            " ORDER BY due_wall"
        )
        return [_notification(r) for r in await self._rows(sql, [])]

    async def notifications_for(self, alert_id: str) -> list[NotificationRow]:
        sql = (
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE alert_id = ?"
            " ORDER BY created_wall, id"
        )
        return [_notification(r) for r in await self._rows(sql, [alert_id])]

    async def record_attempts(
        self, attempts: list[tuple[AttemptRow, NotificationStatus, float]]
    ) -> None:
        inserts = [
            (
                a.notification_id,
                a.number,
                a.started_wall,
                a.duration_s,
                a.outcome,
                a.status,
                a.detail,
            )
            for a, _status, _due in attempts
        ]
        updates = [
            (status, a.number, due_wall, a.detail, a.notification_id)
            for a, status, due_wall in attempts
        ]

        def write(conn: sqlite3.Connection) -> None:
            # The attempt's `started` row becomes its outcome in place (its index entry does
            # not move: the same write volume as inserting it would have been).
            for finished, row in zip(attempts, inserts, strict=True):
                a = finished[0]
                cur = conn.execute(
                    "UPDATE attempts SET started_wall = ?, duration_s = ?, outcome = ?,"
                    " status = ?, detail = ? WHERE notification_id = ? AND number = ?"
                    " AND outcome = ?",
                    (*row[2:], a.notification_id, a.number, _STARTED),
                )
                if cur.rowcount == 0:
                    conn.execute(_INSERT_ATTEMPT, row)
            conn.executemany(
                "UPDATE notifications SET status = ?, attempts = ?, due_wall = ?, last_detail = ?"
                " WHERE id = ?",
                updates,
            )

        await self._submit(write)

    async def cancel_notifications(self, alert_id: str, *, action: str, reason: str) -> int:
        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE notifications SET status = 'cancelled', last_detail = ?"
                " WHERE alert_id = ? AND action = ? AND status = 'pending'",
                (reason, alert_id, action),
            )
            return cur.rowcount

        count: int = await self._submit(write)
        return count

    async def attempts_for(self, notification_id: str) -> list[AttemptRow]:
        sql = (
            "SELECT notification_id, number, started_wall, duration_s, outcome, status, detail"
            " FROM attempts WHERE notification_id = ? ORDER BY number"
        )
        return [AttemptRow(*r) for r in await self._rows(sql, [notification_id])]

    async def deliveries(
        self, alert_ids: Sequence[str]
    ) -> dict[str, list[tuple[NotificationRow, list[AttemptRow]]]]:
        ids = list(dict.fromkeys(alert_ids))
        notifications: list[NotificationRow] = []
        for chunk in _chunks(ids):
            sql = (
                f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE alert_id IN"
                f" ({','.join('?' * len(chunk))}) ORDER BY created_wall, id"
            )
            notifications += [_notification(r) for r in await self._rows(sql, chunk)]
        attempts: dict[str, list[AttemptRow]] = {}
        for chunk in _chunks([n.id for n in notifications]):
            sql = (
                "SELECT notification_id, number, started_wall, duration_s, outcome, status,"
                f" detail FROM attempts WHERE notification_id IN ({','.join('?' * len(chunk))})"
                " ORDER BY notification_id, number"
            )
            for r in await self._rows(sql, chunk):
                attempts.setdefault(r[0], []).append(AttemptRow(*r))
        out: dict[str, list[tuple[NotificationRow, list[AttemptRow]]]] = {a: [] for a in ids}
        for n in notifications:
            out[n.alert_id].append((n, attempts.get(n.id, [])))
        return out

    # -- audit ---------------------------------------------------------------------------------

    async def audit(self, row: AuditRow) -> int:
        values = (
            row.wall,
            row.actor,
            row.action,
            row.target,
            row.reason,
            row.role,
            row.address,
            row.outcome,
        )

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO audit (wall, actor, action, target, reason, role, address, outcome)"
                " VALUES (?,?,?,?,?,?,?,?)",
                values,
            )
            return int(cur.lastrowid or 0)

        seq: int = await self._submit(write)
        return seq

    async def audit_outcome(self, seq: int, outcome: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE audit SET outcome = ? WHERE seq = ?", (outcome, seq))

        await self._submit(write)

    async def audit_log(
        self, *, target: str | None = None, before: int | None = None, limit: int = 500
    ) -> list[AuditRow]:
        sql = f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE 1=1"
        args: list[Any] = []
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if before is not None:
            sql += " AND seq < ?"
            args.append(before)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        return [AuditRow(*r) for r in await self._rows(sql, args)]
