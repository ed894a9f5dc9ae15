"""The event stream's frames: replay after a position then live without gap or duplicate, a
slow client cut off instead of slowing the bus, heartbeats, and the ticket an EventSource
opens it with when reads need a token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from paramedic.api.app import ApiContext, create_app
from paramedic.api.auth import Principal, TokenAuth
from paramedic.api.readiness import CheckRegistry
from paramedic.api.stream import (
    MAX_STREAMS,
    MAX_TICKETS,
    StreamGate,
    _LiveFrames,
    event_frames,
)
from paramedic.config import parse_config
from paramedic.core.bus import EventBus, Published
from paramedic.core.clock import Instant
from paramedic.core.events import NoteAdded
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock


def note(text: str) -> NoteAdded:
    return NoteAdded(at=Instant(1.0, 2.0), author="t", text=text)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "p.db")
    await s.open()
    yield s
    await s.close()


def parse(frame: bytes) -> tuple[int | None, str | None]:
    """(id, the note's text) of a message frame; (None, None) for a comment."""
    seq: int | None = None
    text: str | None = None
    for line in frame.decode().splitlines():
        if line.startswith("id: "):
            seq = int(line[4:])
        elif line.startswith("data: "):
            text = json.loads(line[6:])["payload"]["text"]
    return seq, text


async def test_replay_then_live_each_once_in_order(store: SQLiteStore) -> None:
    """Events 1-3 stored; a stream from position 1 subscribes, then replays 2 and 3. Event 3
    also reaches its queue live (published after the subscription, before the read): it is
    sent once. Event 4, live, follows."""
    bus = EventBus(store)
    await bus.publish(note("one"))
    frames = event_frames(bus, store, 1, heartbeat_s=5)
    assert (None, None) == parse(await anext(frames))  # retry + position comment; subscribed
    await bus.publish_many([note("two"), note("three")])
    got = [parse(await anext(frames)) for _ in range(2)]
    await bus.publish(note("four"))
    got.append(parse(await anext(frames)))
    await frames.aclose()
    assert [(2, "two"), (3, "three"), (4, "four")] == got
    assert 0 == len(bus._subscriptions)


async def test_a_client_that_falls_behind_is_cut_off_and_the_bus_goes_on(
    store: SQLiteStore,
) -> None:
    """A stream whose queue (3 here) overflows: publishing never waits for it; the stream
    sends a comment saying to reconnect and ends; reconnected from the last id it had (0),
    the client gets all five from the store."""
    bus = EventBus(store)
    frames = event_frames(bus, store, None, heartbeat_s=5, queue_size=3)
    await anext(frames)
    for i in range(5):
        await bus.publish(note(f"n{i}"))
    rest = [f async for f in frames]
    assert [b": fell behind; reconnect with Last-Event-ID\n\n"] == rest
    assert 0 == len(bus._subscriptions)
    again = event_frames(bus, store, 0, heartbeat_s=5)
    await anext(again)
    got = [parse(await anext(again)) for _ in range(5)]
    await again.aclose()
    assert [(i + 1, f"n{i}") for i in range(5)] == got


async def test_an_idle_stream_sends_heartbeat_comments(store: SQLiteStore) -> None:
    """Nothing published: a comment line every heartbeat period keeps the connection alive."""
    frames = event_frames(EventBus(store), store, None, heartbeat_s=0.01)
    await anext(frames)
    assert b": heartbeat\n\n" == await anext(frames)
    await frames.aclose()


@pytest.fixture
async def api(store: SQLiteStore) -> AsyncIterator[httpx.AsyncClient]:
    config = parse_config(
        "api:\n  read_requires_token: true\n  tokens:\n"
        "    - {name: vic, role: viewer, token_env: VIEWER_T}\n",
        env={"VIEWER_T": "viewer-token-0123456789"},
    )
    context = ApiContext(
        clock=FakeClock(wall=1_767_225_600.0),
        store=store,
        bus=EventBus(store),
        checks=CheckRegistry(),
        registry=CollectorRegistry(),
        auth=TokenAuth(config.api.tokens, read_requires_token=True),
        version="test",
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_the_stream_needs_a_token_or_a_ticket_when_reads_do(api: httpx.AsyncClient) -> None:
    """Reads need a token: no token 401; a made-up ticket 401 naming the ticket; a ticket
    from GET /api/events/ticket (asked with the viewer's bearer) is random and admits the
    call. (A browser opens the stream with one in tests/integration/test_console_browser.py.)"""
    assert 401 == (await api.get("/api/events/stream")).status_code
    made_up = await api.get("/api/events/stream", params={"ticket": "guess"})
    assert (401, "ticket: unknown or expired; ask for a new one") == (
        made_up.status_code,
        made_up.json()["detail"],
    )
    assert 401 == (await api.get("/api/events/ticket")).status_code
    bearer = {"Authorization": "Bearer viewer-token-0123456789"}
    one = (await api.get("/api/events/ticket", headers=bearer)).json()
    two = (await api.get("/api/events/ticket", headers=bearer)).json()
    assert 60 == one["expires_in_seconds"]
    assert one["ticket"] != two["ticket"]
    assert len(one["ticket"]) >= 32
    # Admitted with the ticket: the call gets past authentication to the Last-Event-ID check
    # (an endless stream cannot be read through this in-process transport).
    bad_position = {"Last-Event-ID": "x"}
    admitted = await api.get(
        "/api/events/stream", params={"ticket": one["ticket"]}, headers=bad_position
    )
    assert (400, "Last-Event-ID: expected a timeline seq (an integer >= 0)") == (
        admitted.status_code,
        admitted.json()["detail"],
    )


async def test_an_event_recorded_nowhere_is_sent_without_an_id(store: SQLiteStore) -> None:
    """While the store is degraded the bus hands events on unrecorded (seq 0): the stream
    sends them without `id:`, so the browser's last id stays the last durable one."""
    bus = EventBus(store)
    frames = event_frames(bus, store, None, heartbeat_s=5)
    await anext(frames)
    bus.fan_out_unrecorded([note("unrecorded")])
    assert (None, "unrecorded") == parse(await anext(frames))
    await frames.aclose()


def test_a_ticket_lasts_60_s_and_the_table_is_bounded() -> None:
    """A ticket opens the stream for 60 s after it was issued, not after; at most 1,000 are
    kept (the oldest forgotten first), so asking for tickets cannot grow memory."""
    gate = StreamGate()
    who = Principal("vic", "viewer")
    ticket = gate.issue(who, now=100.0)
    assert who == gate.check(ticket, now=159.9)
    assert None is gate.check(ticket, now=160.0)
    first = gate.issue(who, now=200.0)
    for _ in range(MAX_TICKETS):
        gate.issue(who, now=200.0)
    assert None is gate.check(first, now=201.0)
    assert MAX_TICKETS == len(gate._tickets)


async def test_one_stream_too_many_is_refused(api: httpx.AsyncClient) -> None:
    """With 200 streams open the next is refused at once (503 saying so), never queued."""
    bearer = {"Authorization": "Bearer viewer-token-0123456789"}
    await api.get("/api/events/ticket", headers=bearer)  # the gate exists once used
    app = api._transport.app  # type: ignore[attr-defined]
    app.state.streams.open = MAX_STREAMS
    got = await api.get("/api/events/stream", headers=bearer)
    assert (503, "200 event streams are open; try again later") == (
        got.status_code,
        got.json()["detail"],
    )


def test_a_live_event_is_encoded_once_for_every_stream() -> None:
    """The bus hands every stream the same `Published`: its frame is encoded once and the
    same bytes go to all of them; another event (even under the same seq) gets its own."""
    frames = _LiveFrames(keep=2)
    item = Published(7, note("once"))
    first = frames.of(item)
    assert first is frames.of(item)
    assert (7, "once") == (
        parse(first)[0],
        json.loads(first.split(b"data: ")[1])["payload"]["text"],
    )
    other = Published(7, note("other"))
    assert b"other" in frames.of(other)
    frames.of(Published(8, note("third")))
    frames.of(Published(9, note("fourth")))  # `item` is no longer kept: encoded anew
    again = frames.of(item)
    assert again == first
    assert again is not first
