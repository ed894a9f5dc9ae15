"""SQLite backend: the embedded default.

One writer thread owns the write connection. Callers on the event loop hand it work and await
a future; the thread drains everything queued, runs it in one transaction and commits once
(group commit), so a burst of events costs one fsync, and the loop never blocks on disk (a WAL
checkpoint can take milliseconds). Reads use their own connection in a worker thread; WAL lets
them run beside the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import queue
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

from paramedic.core.errors import StoreError
from paramedic.core.events import Event
from paramedic.core.jsoncodec import dumps_text
from paramedic.store.protocol import StoredEvent
from paramedic.store.schema import load_migrations
from paramedic.store.sqlite_outbox import SQLiteOutbox
from paramedic.store.sqlite_silences import SQLiteSilences

__all__ = ["SQLiteStore", "describe"]

Synchronous = Literal["full", "normal"]
_Job = Callable[[sqlite3.Connection], Any]
_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]
_STOP = object()
_MAX_BATCH = 1024


class SQLiteStore(SQLiteOutbox, SQLiteSilences):
    """A `Store` (and `OutboxStore`) on one SQLite file in WAL mode."""

    def __init__(self, path: Path | str, *, synchronous: Synchronous = "full") -> None:
        self._path = Path(path)
        self._synchronous = synchronous
        self._jobs: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._schema_version = 0

    @property
    def path(self) -> Path:
        return self._path

    @property
    def schema_version(self) -> int:
        return self._schema_version

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"store directory {self._path.parent} cannot be created: {exc.strerror}"
            raise StoreError(msg) from exc
        ready: Future[int] = Future()
        self._writer = threading.Thread(
            target=self._run_writer, args=(ready,), name="paramedic-store-writer", daemon=True
        )
        self._writer.start()
        self._schema_version = await asyncio.wrap_future(ready)
        self._reader = await asyncio.to_thread(self._connect)

    async def close(self) -> None:
        if self._writer is not None:
            self._jobs.put(_STOP)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._reader is not None:
            with self._read_lock:
                self._reader.close()
            self._reader = None

    # -- writes ----------------------------------------------------------------------------

    async def append(self, event: Event) -> int:
        [seq] = await self.append_many([event])
        return seq

    async def append_many(self, events: list[Event]) -> list[int]:
        return await self._insert(events, None)

    async def append_late(self, events: list[Event], note: dict[str, Any]) -> list[int]:
        """Write events that could not be written when they happened (the store was full or
        read-only): each payload carries `recorded_late` = `note`, which decoding ignores."""
        return await self._insert(events, note)

    async def _insert(self, events: list[Event], late: dict[str, Any] | None) -> list[int]:
        rows = [
            (
                event.id,
                event.kind,
                event.at.mono,
                event.at.wall,
                event.service,
                event.summary(),
                dumps_text(event.payload() if late is None else {**event.payload(), **late}),
            )
            for event in events
        ]

        def insert(conn: sqlite3.Connection) -> list[int]:
            seqs = []
            for row in rows:
                cur = conn.execute(
                    "INSERT INTO timeline (id, kind, mono, wall, service, summary, payload)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                assert cur.lastrowid is not None
                seqs.append(cur.lastrowid)
            return seqs

        seqs: list[int] = await self._submit(insert)
        return seqs

    async def ping(self) -> None:
        def touch(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO liveness (id, wall) VALUES (1, julianday('now'))")

        await self._submit(touch)

    async def _submit(self, job: _Job) -> Any:
        return await self._hand_over(job)

    def _hand_over(self, job: _Job) -> asyncio.Future[Any]:
        """Queue `job` for the writer now; the future settles after its commit."""
        if self._writer is None or not self._writer.is_alive():
            msg = f"store {self._path} is not open"
            raise StoreError(msg)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((job, (loop, fut)))
        return fut

    # -- reads -----------------------------------------------------------------------------

    async def timeline(
        self,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        service: str | None = None,
        kinds: Sequence[str] = (),
        newest: bool = False,
    ) -> list[StoredEvent]:
        sql = (
            "SELECT seq, id, kind, mono, wall, service, summary, payload"
            " FROM timeline WHERE seq > ?"
        )
        args: list[Any] = [after_seq]
        if service is not None:
            sql += " AND service = ?"
            args.append(service)
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += kinds
        sql += " ORDER BY seq DESC LIMIT ?" if newest else " ORDER BY seq LIMIT ?"
        args.append(limit)
        rows = await asyncio.to_thread(self._read, sql, args)
        if newest:
            rows.reverse()
        return [
            StoredEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7])) for r in rows
        ]

    def _read(self, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
        if self._reader is None:
            msg = f"store {self._path} is not open"
            raise StoreError(msg)
        with self._read_lock:
            return self._reader.execute(sql, args).fetchall()

    # -- the writer thread -----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous.upper()}")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> int:
        current: int = conn.execute("PRAGMA user_version").fetchone()[0]
        migrations = load_migrations()
        if current > len(migrations):
            msg = (
                f"store {self._path} is at schema {current}, newer than this paramedic "
                f"knows ({len(migrations)}); upgrade paramedic"
            )
            raise StoreError(msg)
        for migration in migrations[current:]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(migration.sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={migration.version}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return len(migrations)

    def _run_writer(self, ready: Future[int]) -> None:
        try:
            conn = self._connect()
            version = self._migrate(conn)
        except (sqlite3.Error, OSError) as exc:
            ready.set_exception(StoreError(f"store {self._path} is not writable: {exc}"))
            return
        except StoreError as exc:
            ready.set_exception(exc)
            return
        ready.set_result(version)
        try:
            self._write_loop(conn)
        finally:
            conn.close()

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        folder = self._path.parent  # for describing a failure; not rebuilt per batch
        while True:
            first = self._jobs.get()
            batch = [first]
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            work = [item for item in batch if item is not _STOP]
            if work:
                self._commit_batch(conn, work, folder)  # type: ignore[arg-type]
            if stop:
                return

    @staticmethod
    def _commit_batch(
        conn: sqlite3.Connection, batch: list[tuple[_Job, _Waiter]], folder: Path
    ) -> None:
        try:
            results = _run_batch(conn, batch, isolate=False, folder=folder)
        except _JobFailed:
            # Jobs only write through `conn`, so running them again is safe: this time each
            # in its own savepoint, so one bad job cannot take the rest of the batch down.
            try:
                _rollback(conn)
                results = _run_batch(conn, batch, isolate=True, folder=folder)
            except sqlite3.Error as exc:
                results = _failed(conn, batch, exc, folder)
        except sqlite3.Error as exc:
            results = _failed(conn, batch, exc, folder)
        # Futures resolve only after COMMIT: nobody acts on a write that is not durable. One
        # wake-up per loop per batch, not one per job: a burst of alerts is one hand-over.
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = defaultdict(list)
        for loop, outcome in results:
            by_loop[loop].append(outcome)
        for loop, outcomes in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting now
                loop.call_soon_threadsafe(_settle, outcomes)


class _JobFailed(Exception):
    """A job raised while the batch ran without savepoints."""


def _run_batch(
    conn: sqlite3.Connection, batch: list[tuple[_Job, _Waiter]], *, isolate: bool, folder: Path
) -> list[tuple[asyncio.AbstractEventLoop, _Outcome]]:
    """One transaction for the whole batch. Without `isolate` (the common case, two fewer
    statements per job) a failing job aborts it; with it, each job runs in a savepoint and a
    failure is that job's answer alone."""
    results: list[tuple[asyncio.AbstractEventLoop, _Outcome]] = []
    conn.execute("BEGIN IMMEDIATE")
    for job, (loop, fut) in batch:
        if not isolate:
            try:
                results.append((loop, (fut, job(conn), None)))
            except Exception as exc:
                raise _JobFailed from exc
            continue
        conn.execute("SAVEPOINT job")
        try:
            results.append((loop, (fut, job(conn), None)))
            conn.execute("RELEASE job")
        except Exception as exc:  # reported to its caller, not raised here
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            error = StoreError(f"store write failed: {describe(exc, folder)}")
            results.append((loop, (fut, None, error)))
    conn.execute("COMMIT")
    return results


def _failed(
    conn: sqlite3.Connection, batch: list[tuple[_Job, _Waiter]], exc: sqlite3.Error, folder: Path
) -> list[tuple[asyncio.AbstractEventLoop, _Outcome]]:
    _rollback(conn)
    error = StoreError(f"store commit failed: {describe(exc, folder)}")
    return [(loop, (fut, None, error)) for _job, (loop, fut) in batch]


def _rollback(conn: sqlite3.Connection) -> None:
    """A rollback that cannot kill the writer thread: on a full or read-only disk the
    ROLLBACK itself may fail, and the thread must live on to write once the disk is back."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _read_only(folder: Path) -> bool:
    """Whether the kernel refuses writes in `folder` (ext4's emergency read-only after an
    error does not show in statvfs's flags): try to create a file there, and remove it."""
    probe = folder / f".paramedic-write-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        return exc.errno == errno.EROFS
    os.close(fd)
    with contextlib.suppress(OSError):
        probe.unlink()
    return False


def describe(exc: BaseException, folder: Path | None = None) -> str:
    """What an operator reads first: "disk full (SQLITE_FULL)", "read-only ... (SQLITE_READONLY)"
    or the driver's own words with SQLite's code name. A write refused by a file system the
    kernel turned read-only reaches SQLite as a bare I/O error: `folder`'s mount says which."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL":
        return "disk full (SQLITE_FULL)"
    if name.startswith("SQLITE_READONLY"):
        return f"read-only: {exc} ({name})"
    if name.startswith("SQLITE_IOERR") and folder is not None:
        if _read_only(folder):
            return f"read-only file system ({name})"
        with contextlib.suppress(OSError):
            if os.statvfs(folder).f_bavail == 0:
                return f"disk full ({name})"
    return f"{exc} ({name})" if name else str(exc)


def _settle(outcomes: list[_Outcome]) -> None:
    """On the caller's loop: deliver results unless a caller gave up waiting (cancelled at
    shutdown). The write itself has happened either way."""
    for fut, value, failure in outcomes:
        if fut.done():
            continue
        if failure is None:
            fut.set_result(value)
        else:
            fut.set_exception(failure)


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (our migrations hold no `;` inside literals)."""
    body = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]
