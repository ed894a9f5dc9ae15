"""GET /api/alerts shows what the ladder acts on: the acknowledgement in wall-clock ISO 8601
UTC, its expiry, and after it lapses, a firing alert that escalates again (FakeClock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.alerting.views import ladder_view
from paramedic.api.app import ApiContext, create_app
from paramedic.api.auth import TokenAuth
from paramedic.api.readiness import CheckRegistry
from paramedic.config import parse_config
from paramedic.config.alerting import AlertingConfig
from paramedic.core.bus import EventBus
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import CapturingChannel as Capture
from paramedic.testing import FakeClock

MIN = 60.0
TOKEN = "operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@dataclass
class Rig:
    client: httpx.AsyncClient
    service: AlertingService
    clock: FakeClock
    recorded: list[Any]
    jobs: set[asyncio.Task[Any]]

    async def settle(self) -> None:
        """Every job the pipeline started (row saves, escalation submits) has finished."""
        while pending := [t for t in self.jobs if not t.done()]:
            await asyncio.gather(*pending)

    async def listed(self, alert_id: str, **params: str) -> dict[str, Any] | None:
        await self.settle()
        response = await self.client.get("/api/alerts", params=params, headers=AUTH)
        assert 200 == response.status_code, response.text
        found = [a for a in response.json()["alerts"] if a["id"] == alert_id]
        return found[0] if found else None


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock(wall=START)
    jobs: set[asyncio.Task[Any]] = set()

    def job(coro: Coroutine[Any, Any, Any]) -> None:
        jobs.add(asyncio.ensure_future(coro))

    config = AlertingConfig.model_validate(
        {
            "escalation": {
                "ack_ttl": "10m",
                "policies": {
                    "P1": {
                        "steps": [
                            {"name": "oncall", "after": "0s", "contacts": ["oncall"], "level": 1},
                            {
                                "name": "backup-oncall",
                                "after": "5m",
                                "contacts": ["backup-oncall"],
                                "level": 2,
                            },
                        ]
                    }
                },
            }
        }
    )
    recorded: list[Any] = []
    service = AlertingService(
        config,
        clock=clock,
        store=store,
        channels={"log": Capture()},
        submit=recorded.extend,
        job=job,
    )
    outbox = asyncio.create_task(service.outbox.run())
    tokens = parse_config(
        "api:\n  tokens: [{name: olga, role: operator, token_env: T}]\n", env={"T": TOKEN}
    )
    context = ApiContext(
        clock=clock,
        store=store,
        bus=EventBus(store),
        checks=CheckRegistry(),
        registry=CollectorRegistry(),
        auth=TokenAuth(tokens.api.tokens),
        version="test",
        alerting=service,
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield Rig(client, service, clock, recorded, jobs)
    outbox.cancel()
    await asyncio.gather(outbox, *jobs, return_exceptions=True)
    await store.close()


async def test_ack_times_in_utc_and_expiry_turns_the_alert_back_to_firing(rig: Rig) -> None:
    """A P1 acknowledged at +1 min with a 10 min ack: the listing says acknowledged by whom,
    at 00:01Z, until 00:11Z, ladder paused. At 00:11Z the ack lapses: the ladder pages again
    and the listing says firing, the ack expired at 00:11Z, escalating, next rung
    backup-oncall at 00:15Z (5 min after the start plus the 10 paused). Nothing monotonic."""
    alert = Alert(
        id="inc_1:failure",
        type="crash",
        source="engine",
        severity="P1",
        title="engine crash",
        labels={"service": "engine", "kind": "crash"},
    )
    await rig.service.raise_alert(alert)
    rig.clock.advance(1 * MIN)
    response = await rig.client.post(
        "/api/alerts/inc_1:failure/ack", json={"reason": "on it"}, headers=AUTH
    )
    assert 200 == response.status_code, response.text
    acked = await rig.listed("inc_1:failure")
    assert acked is not None
    assert "acknowledged" == acked["state"]
    assert {
        "by": "olga",
        "why": "on it",
        "at": "2026-01-01T00:01:00.000Z",
        "expires": "2026-01-01T00:11:00.000Z",
        "expired": False,
    } == acked["acknowledgement"]
    assert "acknowledged" == acked["ladder"]["state"]
    assert (
        "acknowledged by olga until 2026-01-01T00:11:00.000Z: paused"
        == (acked["ladder"]["sentence"])
    )
    assert "mono" not in str(acked)  # paramedic's own clock means nothing to a client

    rig.clock.advance(10 * MIN)  # 00:11Z: the ack lapses
    again = [e for e in rig.recorded if e.kind == "alert.escalated"][-1]
    assert "acknowledgement by olga expired" == again.reason
    expired = await rig.listed("inc_1:failure")
    assert expired is not None
    assert "firing" == expired["state"]
    assert expired["acknowledgement"]["expired"] is True
    assert "2026-01-01T00:11:00.000Z" == expired["acknowledgement"]["expires"]
    assert {
        "state": "escalating",
        "level": 1,
        "next_step": "backup-oncall",
        "next_at": "2026-01-01T00:15:00.000Z",
        "sentence": "acknowledgement by olga expired at 2026-01-01T00:11:00.000Z: escalating;"
        " next: backup-oncall at 2026-01-01T00:15:00.000Z",
    } == expired["ladder"]
    # the store says so too: a filter on acknowledged no longer finds it
    assert await rig.listed("inc_1:failure", state="acknowledged") is None
    assert await rig.listed("inc_1:failure", state="firing") is not None
    assert ["alert.ack_expired"] == [e.kind for e in rig.recorded if e.kind == "alert.ack_expired"]


async def test_a_lapsed_ack_is_still_shown_lapsed_after_a_restart(tmp_path: Path) -> None:
    """The ack of a P1 lapses, then paramedic restarts on the same store: the reloaded alert
    still says whose acknowledgement expired when (the row kept it), not a bare "escalating"."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock(wall=START)
    jobs: set[asyncio.Task[Any]] = set()
    config = AlertingConfig.model_validate({"escalation": {"ack_ttl": "10m"}})

    def build() -> AlertingService:
        return AlertingService(
            config,
            clock=clock,
            store=store,
            channels={"log": Capture()},
            submit=lambda events: None,
            job=lambda coro: jobs.add(asyncio.ensure_future(coro)),
        )

    try:
        first = build()
        alert = Alert(
            id="inc_1:failure",
            type="crash",
            source="engine",
            severity="P1",
            title="engine crash",
            labels={"service": "engine", "kind": "crash"},
        )
        await first.raise_alert(alert)
        await first.acknowledge("inc_1:failure", by="olga", why="on it")
        clock.advance(11 * MIN)  # the ack lapsed at 00:10Z
        await asyncio.gather(*jobs)
        before = ladder_view(first, await store.get_alert("inc_1:failure"))

        again = build()
        await again.start()
        after = ladder_view(again, await store.get_alert("inc_1:failure"))
        assert before["acknowledgement"] == after["acknowledgement"]
        assert {
            "by": "olga",
            "why": "on it",
            "at": "2026-01-01T00:00:00.000Z",
            "expires": "2026-01-01T00:10:00.000Z",
            "expired": True,
        } == after["acknowledgement"]
        assert after["ladder"]["sentence"].startswith(
            "acknowledgement by olga expired at 2026-01-01T00:10:00.000Z: escalating"
        )
    finally:
        await asyncio.gather(*jobs, return_exceptions=True)
        await store.close()
