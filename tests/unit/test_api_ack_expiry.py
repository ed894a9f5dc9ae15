"""Per-acknowledgement expiry through the API: `for: "5m"` or `expires_in_seconds`, bounded,
answered with the wall-clock expiry; when it lapses, the ladder pages again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from paramedic.alerting.service import AlertingService
from paramedic.api.app import ApiContext, create_app
from paramedic.api.auth import TokenAuth
from paramedic.api.readiness import CheckRegistry
from paramedic.config import parse_config
from paramedic.config.alerting import AlertingConfig
from paramedic.core.bus import EventBus
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock
from tests.unit.test_silence_admin import Capture, crash

TOKENS = {"OPERATOR_T": "operator-token-0123456789"}
OPS = {"Authorization": f"Bearer {TOKENS['OPERATOR_T']}"}


@pytest.fixture
async def api(
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, AlertingService, FakeClock, Capture]]:
    config = parse_config(
        "api:\n  tokens:\n    - {name: olga, role: operator, token_env: OPERATOR_T}\n", env=TOKENS
    )
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    channel = Capture()
    channel.recorded = []  # type: ignore[attr-defined]
    tasks: set[asyncio.Task[Any]] = set()
    alerting = AlertingService(
        AlertingConfig(),
        clock=clock,
        store=store,
        channels={"log": channel},
        submit=channel.recorded.extend,  # type: ignore[attr-defined]
        job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
    )
    context = ApiContext(
        clock=clock,
        store=store,
        bus=EventBus(store),
        checks=CheckRegistry(),
        registry=CollectorRegistry(),
        auth=TokenAuth(config.api.tokens),
        version="test",
        alerting=alerting,
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=OPS) as client:
        yield client, alerting, clock, channel
    await asyncio.gather(*tasks)
    await store.close()


async def test_an_ack_for_5m_lapses_after_5m_and_the_ladder_pages_again(
    api: tuple[httpx.AsyncClient, AlertingService, FakeClock, Capture],
) -> None:
    """Ack for 5 min (the default is 30): the answer gives the wall-clock expiry; once it
    lapses the first rung is paged again and the ladder resumes where it stood, so the
    +2 min rung fires at 7 min."""
    client, alerting, clock, channel = api
    await alerting.raise_alert(crash("eng", "engine"))
    answer = await client.post("/api/alerts/eng/ack", json={"reason": "on it", "for": "5m"})
    assert 200 == answer.status_code, answer.text
    body = answer.json()
    assert ("2026-01-01T00:05:00+00:00", 300) == (body["expires_at"], body["expires_in_seconds"])
    recorded: list[Any] = channel.recorded  # type: ignore[attr-defined]

    def pages() -> list[str]:
        return [e.reason for e in recorded if e.kind == "alert.escalated"]

    # The +2 min rung is due at 120 s plus the 300 s spent acknowledged (with the default
    # 30 min ack it would wait until 1,920 s).
    clock.advance(299)
    assert [] == pages()
    clock.advance(2)
    assert ["acknowledgement by olga expired"] == pages()
    clock.advance(118)
    assert ["acknowledgement by olga expired"] == pages()
    clock.advance(2)
    assert ["acknowledgement by olga expired", "+2 min, no acknowledgement"] == pages()


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"reason": "x", "for": "10s"}, "for", "from 1 min to 1 d"),
        ({"reason": "x", "for": "2d"}, "for", "from 1 min to 1 d"),
        ({"reason": "x", "for": "soon"}, "for", "not a duration"),
        ({"reason": "x", "expires_in_seconds": 0}, "expires_in_seconds", "greater than or equal"),
        ({"reason": "x", "expires_in_seconds": 1e9}, "expires_in_seconds", "less than or equal"),
        ({"reason": "x", "for": "5m", "expires_in_seconds": 300}, "", "not both"),
    ],
)
async def test_an_ack_expiry_out_of_bounds_is_refused_naming_the_field(
    api: tuple[httpx.AsyncClient, AlertingService, FakeClock, Capture],
    body: dict[str, Any],
    field: str,
    words: str,
) -> None:
    """422 with the field's location and a sentence; the alert stays unacknowledged."""
    client, alerting, _, _ = api
    await alerting.raise_alert(crash("eng", "engine"))
    answer = await client.post("/api/alerts/eng/ack", json=body)
    assert 422 == answer.status_code
    [error] = answer.json()["detail"]
    assert (["body", field] if field else ["body"]) == error["loc"]
    assert words in error["msg"]
    assert "firing" == alerting.alerts["eng"].state
