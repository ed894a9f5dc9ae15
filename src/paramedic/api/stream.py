"""`GET /api/events/stream`: the event bus as Server-Sent Events, resumable by timeline position.

Each event's SSE `id:` is its durable timeline `seq`. A client that reconnects with
`Last-Event-ID: N` (the browser's EventSource sends it by itself; `?after=N` does the same for
a client that opens a new connection) gets every event after N from the store, once and in
order, then the live ones. Gap-free and duplicate-free because the stream subscribes to the bus
BEFORE it reads the store: anything committed after the read is in the subscription's queue,
and what both hold is sent once (a read sees a prefix of the timeline, so skipping live items
at or below the last replayed seq drops only what was already sent).

A slow client never slows the bus: its subscription is a bounded queue the bus fills with
`put_nowait`; once the bus had to drop one event for it, the stream ends (a comment says why)
and the client reconnects from its last id, catching up from the store.

Authentication: the viewer role, as every read. A browser's EventSource cannot send an
`Authorization` header, so when reads need a token the console first asks
`GET /api/events/ticket` (with its bearer token) for a ticket: random, valid 60 s, only good
for opening this stream, passed as `?ticket=`. The token itself never goes into a URL, and
the API writes no access log, so neither a ticket nor a token reaches a log line.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from paramedic.api.auth import Bearer, Principal, require
from paramedic.core.bus import EventBus, Published
from paramedic.core.jsoncodec import dumps_text
from paramedic.store.protocol import Store, StoredEvent

__all__ = ["MAX_STREAMS", "MAX_TICKETS", "QUEUE_SIZE", "StreamGate", "event_frames", "router"]

router = APIRouter(tags=["timeline"])
_viewer = require("viewer")
Viewer = Annotated[Principal, Depends(_viewer)]

HEARTBEAT_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
QUEUE_SIZE = 1000  # events a stream may fall behind the bus before it is closed
MAX_STREAMS = 200  # concurrent streams; one more is refused (503), never queued
TICKET_TTL_S = 60.0
MAX_TICKETS = 1000  # live tickets kept; the oldest is forgotten first
_PAGE = 1000


class StreamGate:
    """The stream's tickets (random, short-lived, bounded in number) and its open streams."""

    def __init__(self) -> None:
        self._tickets: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self.open = 0
        self.closed_slow = 0  # streams ended because their client fell behind

    def issue(self, who: Principal, now: float) -> str:
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = (now + TICKET_TTL_S, who)
        while len(self._tickets) > MAX_TICKETS:
            self._tickets.popitem(last=False)
        return ticket

    def check(self, ticket: str, now: float) -> Principal | None:
        for stale in [t for t, (until, _) in self._tickets.items() if until <= now]:
            del self._tickets[stale]
        found = self._tickets.get(ticket)
        return found[1] if found else None


def _gate(request: Request) -> StreamGate:
    gate: StreamGate | None = getattr(request.app.state, "streams", None)
    if gate is None:
        gate = request.app.state.streams = StreamGate()
    return gate


def _frame(seq: int, data: dict[str, Any]) -> bytes:
    """One SSE message; an event recorded nowhere (the store degraded: seq 0) has no id, so
    the browser's last id stays that of the last durable one."""
    head = f"id: {seq}\n" if seq else ""
    return f"{head}data: {dumps_text(data)}\n\n".encode()


def _row(r: StoredEvent) -> dict[str, Any]:
    """The shape of `GET /api/timeline`'s rows, so a client handles both the same way."""
    return {
        "seq": r.seq,
        "id": r.id,
        "kind": r.kind,
        "wall": r.wall,
        "service": r.service,
        "summary": r.summary,
        "payload": r.payload,
    }


def _live(item: Published) -> dict[str, Any]:
    e = item.event
    return {
        "seq": item.seq,
        "id": e.id,
        "kind": e.kind,
        "wall": e.at.wall,
        "service": e.service,
        "summary": e.summary(),
        "payload": e.payload(),
    }


class _LiveFrames:
    """Each live event encoded once for every stream: the bus hands all of them the same
    `Published`, and 100 streams each encoding it for itself was what the streams cost the
    loop (bench/sse_hang_p99.py). The last few frames are kept, with their item, so an id
    is never mistaken for a newer object's."""

    def __init__(self, keep: int = 256) -> None:
        self._keep = keep
        self._frames: OrderedDict[int, tuple[Published, bytes]] = OrderedDict()

    def of(self, item: Published) -> bytes:
        kept = self._frames.get(id(item))
        if kept is not None and kept[0] is item:
            return kept[1]
        frame = _frame(item.seq, _live(item))
        self._frames[id(item)] = (item, frame)
        if len(self._frames) > self._keep:
            self._frames.popitem(last=False)
        return frame


_LIVE_FRAMES = _LiveFrames()


async def event_frames(
    bus: EventBus,
    store: Store,
    after: int | None,
    *,
    gate: StreamGate | None = None,
    heartbeat_s: float = HEARTBEAT_S,
    queue_size: int = QUEUE_SIZE,
) -> AsyncGenerator[bytes, None]:
    """The stream's bytes: events after `after` from the store (none if None), then live ones."""
    sub = bus.subscribe("sse", queue_size=queue_size)  # first, so nothing falls between
    try:
        yield f"retry: 1000\n: after {after if after is not None else 'now'}\n\n".encode()
        sent = after
        while after is not None:
            rows = await store.timeline(after_seq=after, limit=_PAGE)
            for row in rows:
                yield _frame(row.seq, _row(row))
            sent = after = rows[-1].seq if rows else after
            if len(rows) < _PAGE:
                break
        while True:
            if sub.dropped:
                if gate is not None:
                    gate.closed_slow += 1
                yield b": fell behind; reconnect with Last-Event-ID\n\n"
                return
            try:
                item = await asyncio.wait_for(sub.queue.get(), heartbeat_s)
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if item.seq and sent is not None and item.seq <= sent:
                continue  # replayed from the store already
            yield _LIVE_FRAMES.of(item)
    finally:
        bus.unsubscribe(sub)


def _position(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is None:
        return after
    try:
        value = int(last_event_id)
    except ValueError:
        value = -1
    if not 0 <= value < 2**63:
        raise HTTPException(400, detail="Last-Event-ID: expected a timeline seq (an integer >= 0)")
    return value


async def _reader(
    request: Request,
    credentials: Bearer,
    ticket: Annotated[str | None, Query(max_length=64)] = None,
) -> Principal:
    """The viewer role from the bearer header, or from a ticket (an EventSource has no
    headers)."""
    if ticket is not None and credentials is None:
        who = _gate(request).check(ticket, request.app.state.context.clock.monotonic())
        if who is None:
            raise HTTPException(401, detail="ticket: unknown or expired; ask for a new one")
        return who
    return await _viewer(request, credentials)


@router.get("/api/events/ticket")
async def stream_ticket(request: Request, who: Viewer) -> dict[str, Any]:
    """A ticket (valid 60 s) that opens the event stream as `?ticket=`: for a browser's
    EventSource, which cannot send the bearer token as a header."""
    now = request.app.state.context.clock.monotonic()
    return {"ticket": _gate(request).issue(who, now), "expires_in_seconds": TICKET_TTL_S}


# Not in the OpenAPI document: it cannot describe an endless event stream, and a client
# generated from it (or a fuzzer) would wait on it forever. docs/console.md describes it.
@router.get("/api/events/stream", response_class=StreamingResponse, include_in_schema=False)
async def event_stream(
    request: Request,
    _who: Annotated[Principal, Depends(_reader)],
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> StreamingResponse:
    """Every published event as Server-Sent Events (`id:` its timeline seq, `data:` the row
    `GET /api/timeline` shows). With `Last-Event-ID` (or `?after=`), first every stored event
    after it. A heartbeat comment every 15 s; a client that falls 1,000 events behind is
    disconnected and resumes from its last id."""
    position = _position(last_event_id, after)
    gate = _gate(request)
    if gate.open >= MAX_STREAMS:
        raise HTTPException(503, detail=f"{MAX_STREAMS} event streams are open; try again later")
    context = request.app.state.context
    frames = event_frames(context.bus, context.store, position, gate=gate)

    async def counted() -> AsyncIterator[bytes]:
        gate.open += 1
        try:
            async for frame in frames:
                yield frame
        finally:
            gate.open -= 1
            await frames.aclose()

    return StreamingResponse(
        counted(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
