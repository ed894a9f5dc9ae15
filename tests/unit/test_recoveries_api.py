"""GET /api/recoveries reads the newest `limit` recoveries and then only the openings of
their incidents, not every incident ever opened: the same answer as reading the whole
timeline, newest first, each recovery with its incident's failure kind. A real SQLite
store, the API through ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from paramedic.api.app import ApiContext, create_app
from paramedic.api.auth import TokenAuth
from paramedic.api.readiness import CheckRegistry
from paramedic.core.bus import EventBus
from paramedic.core.events import Event, Instant
from paramedic.core.incident_events import IncidentOpened, RecoveryFinished
from paramedic.store.sqlite import SQLiteStore
from paramedic.store.timeline import read_events
from paramedic.testing import FakeClock

WALL = 1_767_225_600.0
SERVICES = ("alpha", "beta", "gamma")
KINDS = ("crash", "hang", "memory_leak")


def history(incidents: int) -> list[Event]:
    """`incidents` incidents over three services, interleaved; every third one is still
    open (no recovery), every fifth recovery failed."""
    events: list[Event] = []
    for n in range(incidents):
        at = Instant(mono=float(n), wall=WALL + n)
        service, inc = SERVICES[n % 3], f"inc_{n:04d}"
        events.append(
            IncidentOpened(
                at=at,
                service=service,
                incident=inc,
                failure_kind=KINDS[(n // 3) % 3],
                reason=f"failure {n}",
            )
        )
        if n % 3 != 2:
            events.append(
                RecoveryFinished(
                    at=Instant(mono=n + 0.5, wall=WALL + n + 0.5),
                    service=service,
                    incident=inc,
                    method="restart",
                    ok=n % 5 != 0,
                    duration_s=0.01 * (n % 7 + 1),
                    reason="done",
                )
            )
    return events


def expected(events: list[Event], limit: int) -> list[dict[str, Any]]:
    """The answer as the whole timeline gives it (how the endpoint read it before)."""
    kinds = {e.incident: e.failure_kind for e in events if isinstance(e, IncidentOpened)}
    rows = [
        {
            "time": e.at.wall,
            "service": e.service,
            "incident": e.incident,
            "failure_type": kinds.get(e.incident),
            "method": e.method,
            "rto_s": e.duration_s,
            "success": e.ok,
        }
        for e in events
        if isinstance(e, RecoveryFinished)
    ]
    return list(reversed(rows))[:limit]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, SQLiteStore]]:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    context = ApiContext(
        clock=FakeClock(wall=WALL),
        store=store,
        bus=EventBus(store),
        checks=CheckRegistry(),
        registry=CollectorRegistry(),
        auth=TokenAuth([]),
        version="test",
        known_services=frozenset(SERVICES),
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c, store
    await store.close()


async def test_the_newest_recoveries_with_their_failure_kinds(
    client: tuple[httpx.AsyncClient, SQLiteStore],
) -> None:
    """1,500 incidents over three services (1,000 recovered): for limits of 1, 20, the
    default and more than there are, the answer equals the one read from the whole
    timeline: newest first, `limit` long, each recovery's failure kind that of its own
    incident (the kinds differ from one incident to the next of a service)."""
    c, store = client
    await store.append_many(history(1500))
    stored = await read_events(store)
    for query, limit in (("?limit=1", 1), ("?limit=20", 20), ("", 100), ("?limit=1000", 1000)):
        got = await c.get("/api/recoveries" + query)
        assert 200 == got.status_code
        rows = got.json()["recoveries"]
        assert expected(stored, limit) == rows
        assert len(rows) == limit
        assert all(r["failure_type"] in KINDS for r in rows)


async def test_no_recovery_yet(client: tuple[httpx.AsyncClient, SQLiteStore]) -> None:
    """Incidents opened and none recovered: an empty history, not an error."""
    c, store = client
    await store.append_many([e for e in history(30) if isinstance(e, IncidentOpened)])
    got = await c.get("/api/recoveries?limit=20")
    assert {"recoveries": []} == got.json()
