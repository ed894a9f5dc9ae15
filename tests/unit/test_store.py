"""SQLite store: durable appends, ordered reads, migrations, clear failures."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from paramedic.core.clock import Instant
from paramedic.core.errors import StoreError
from paramedic.core.events import NoteAdded, event_from_record
from paramedic.store.schema import load_migrations
from paramedic.store.sqlite import SQLiteStore


def note(i: int, service: str | None = None) -> NoteAdded:
    return NoteAdded(
        at=Instant(float(i), 1_700_000_000.0 + i), service=service, author="t", text=f"n{i}"
    )


async def test_append_then_read_in_order(tmp_path: Path) -> None:
    """Appended events come back in order with increasing seq and their payload intact."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    seqs = [await store.append(note(i, "engine" if i % 2 else None)) for i in range(5)]
    rows = await store.timeline()
    assert seqs == [r.seq for r in rows]
    assert seqs == sorted(seqs)
    assert ["n0", "n1", "n2", "n3", "n4"] == [r.payload["text"] for r in rows]
    assert [1, 3] == [int(r.payload["text"][1:]) for r in await store.timeline(service="engine")]
    assert [rows[3].seq, rows[4].seq] == [
        r.seq for r in await store.timeline(after_seq=rows[2].seq)
    ]
    first = rows[0]
    rebuilt = event_from_record(
        first.kind,
        id=first.id,
        mono=first.mono,
        wall=first.wall,
        service=first.service,
        payload=first.payload,
    )
    assert note(0).text == rebuilt.text  # type: ignore[attr-defined]
    await store.close()


async def test_concurrent_appends_group_commit(tmp_path: Path) -> None:
    """Many appends in flight at once all commit, each with its own seq."""
    store = SQLiteStore(tmp_path / "p.db", synchronous="normal")
    await store.open()
    seqs = await asyncio.gather(*(store.append(note(i)) for i in range(500)))
    assert 500 == len(set(seqs))
    assert 500 == len(await store.timeline(limit=1000))
    await store.close()


async def test_reopen_keeps_everything_and_schema(tmp_path: Path) -> None:
    """A reopened store has every event and the latest schema version."""
    path = tmp_path / "p.db"
    store = SQLiteStore(path)
    await store.open()
    await store.append(note(1))
    await store.close()
    again = SQLiteStore(path)
    await again.open()
    assert len(load_migrations()) == again.schema_version
    assert ["n1"] == [r.payload["text"] for r in await again.timeline()]
    await again.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A store written by a newer paramedic is refused with a clear message, not corrupted."""
    path = tmp_path / "p.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=999")
    conn.close()
    with pytest.raises(StoreError, match="schema 999, newer than"):
        await SQLiteStore(path).open()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
async def test_unwritable_directory(tmp_path: Path) -> None:
    """A store in a read-only directory fails to open with the path in the message."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(StoreError, match="not writable"):
        await SQLiteStore(ro / "p.db").open()


async def test_store_path_is_a_directory(tmp_path: Path) -> None:
    """A store path that cannot be a database file fails with StoreError (also as root)."""
    (tmp_path / "db").mkdir()
    with pytest.raises(StoreError, match="not writable"):
        await SQLiteStore(tmp_path / "db").open()


async def test_write_after_close_is_an_error(tmp_path: Path) -> None:
    """Appending to a closed store raises StoreError instead of hanging."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.append(note(1))


async def test_append_many_is_one_ordered_commit(tmp_path: Path) -> None:
    """append_many writes a batch in order and returns consecutive seqs."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    seqs = await store.append_many([note(i) for i in range(5)])
    assert list(range(seqs[0], seqs[0] + 5)) == seqs
    assert ["n0", "n1", "n2", "n3", "n4"] == [r.payload["text"] for r in await store.timeline()]
    await store.close()


async def test_a_cancelled_waiter_does_not_kill_the_writer(tmp_path: Path) -> None:
    """A caller cancelled while its write is queued (shutdown) leaves the writer alive;
    the write still happens and later writes still work."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    waiter = asyncio.create_task(store.append(note(1)))
    await asyncio.sleep(0)  # the job is queued on the writer thread
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    await store.append(note(2))
    assert ["n1", "n2"] == [r.payload["text"] for r in await store.timeline()]
    await store.close()


async def test_a_failing_job_fails_alone_in_its_batch(tmp_path: Path) -> None:
    """Jobs queued together commit together; one that raises gets its own error and the
    others in the same batch are still written (the batch is re-run job by job)."""
    import threading

    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    gate = threading.Event()
    blocker = asyncio.ensure_future(store._submit(lambda conn: gate.wait(10)))
    await asyncio.sleep(0)  # the writer thread is now inside the blocking job

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    first = asyncio.ensure_future(store.append(note(1)))
    failing = asyncio.ensure_future(store._submit(bad))
    second = asyncio.ensure_future(store.append(note(2)))
    await asyncio.sleep(0)  # all three are queued behind the blocker: one batch
    gate.set()
    await blocker
    await first
    await second
    with pytest.raises(StoreError, match="no_such_table"):
        await failing
    assert ["n1", "n2"] == [r.payload["text"] for r in await store.timeline()]
    await store.close()
