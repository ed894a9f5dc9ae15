"""The recorder's degraded mode: with the store refusing writes, events still reach the
listeners (acting wins over recording), wait in a bounded backlog, and are written in order,
marked late, once the store takes writes again; only `flush` (a caller's 2xx) is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from paramedic.core.bus import EventBus, Published
from paramedic.core.errors import StoreError
from paramedic.core.events import Event, NoteAdded
from paramedic.runtime.recorder import OrderedRecorder
from paramedic.runtime.store_trouble import StoreTrouble
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock


class RefusingStore(SQLiteStore):
    """A real SQLite store that refuses writes while `refusing` (as a full disk does)."""

    refusing = False

    def _refuse(self) -> None:
        if self.refusing:
            msg = "store commit failed: disk full (SQLITE_FULL)"
            raise StoreError(msg)

    async def append_many(self, events: list[Event]) -> list[int]:
        self._refuse()
        return await super().append_many(events)

    async def append_late(self, events: list[Event], note: dict[str, Any]) -> list[int]:
        self._refuse()
        return await super().append_late(events, note)

    async def ping(self) -> None:
        self._refuse()
        await super().ping()


def note(clock: FakeClock, text: str) -> NoteAdded:
    return NoteAdded(at=clock.now(), author="t", text=text)


async def test_degraded_recorder_acts_keeps_a_bounded_backlog_and_writes_it_late(
    tmp_path: Path,
) -> None:
    """Refuse writes: `record` still returns (seq 0) and listeners see every event; the
    backlog keeps the first 5 (the trouble's start) and counts 3 dropped; `flush` raises;
    /readyz's sentence names the store and the cause. Writes back: the backlog is written in
    order, each marked late, then `store.recovered` says what it cost."""
    clock = FakeClock()
    store = RefusingStore(tmp_path / "p.db")
    await store.open()
    trouble = StoreTrouble(f"store {store.path}", clock)
    bus = EventBus(store)
    seen: list[Published] = []
    bus.add_listener(seen.append)
    recorder = OrderedRecorder(bus, store, trouble, backlog_limit=5)
    task = asyncio.create_task(recorder.run())
    try:
        assert (await recorder.record(note(clock, "before"))).seq > 0
        store.refusing = True
        held = await recorder.record(note(clock, "e2"))
        assert 0 == held.seq
        assert trouble.degraded
        recorder.submit(note(clock, f"e{i}") for i in range(3, 9))
        with pytest.raises(StoreError, match="disk full"):
            await recorder.flush()
        ok, said = trouble.readiness()
        assert not ok
        assert said.startswith(f"store {store.path}: disk full (SQLITE_FULL): 8 events not")
        assert 5 == recorder.backlog
        assert 3 == trouble.dropped
        texts = [getattr(p.event, "text", p.event.kind) for p in seen]
        assert ["before", "e2", "store.degraded", "e3", "e4", "e5", "e6", "e7", "e8"] == texts

        assert not await recorder.retry()  # still refused: nothing lost, still degraded
        assert 5 == recorder.backlog
        store.refusing = False
        assert await recorder.retry()
        assert not trouble.degraded
        rows = await store.timeline()
        assert ["before", "e2", "store.degraded", "e3", "e4", "e5", "store.recovered"] == [
            r.payload.get("text", r.kind) for r in rows
        ]
        assert ["recorded_late" in r.payload for r in rows] == [False] + [True] * 5 + [False]
        assert {"written_late": 5, "dropped": 3} == {
            k: rows[-1].payload[k] for k in ("written_late", "dropped")
        }
        await recorder.flush()  # durable again
        assert trouble.readiness() == (True, "ok")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


async def test_the_probe_finds_the_store_writable_again(tmp_path: Path) -> None:
    """While degraded the watcher pings every `probe_every` (clock time) and has the recorder
    write its backlog once a ping succeeds."""
    clock = FakeClock()
    store = RefusingStore(tmp_path / "p.db")
    await store.open()
    trouble = StoreTrouble(f"store {store.path}", clock, probe_every=2.0)
    recovered = asyncio.Event()
    trouble.on_recovered.append(recovered.set)
    recorder = OrderedRecorder(EventBus(store), store, trouble)
    tasks = [
        asyncio.create_task(recorder.run()),
        asyncio.create_task(trouble.watch(store.ping, recorder.retry)),
    ]
    try:
        store.refusing = True
        await recorder.record(note(clock, "lost?"))
        assert trouble.degraded
        for _ in range(3):
            await asyncio.sleep(0)
        clock.advance(2.0)  # a probe while still refused: still degraded
        for _ in range(10):
            await asyncio.sleep(0)
        assert trouble.degraded
        store.refusing = False
        clock.advance(2.0)
        await asyncio.wait_for(recovered.wait(), 5)
        await recorder.flush()  # store.recovered itself is durable
        texts = [r.payload.get("text", r.kind) for r in await store.timeline()]
        assert ["lost?", "store.degraded", "store.recovered"] == texts
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()
