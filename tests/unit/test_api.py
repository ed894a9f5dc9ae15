"""HTTP API shell: probes in Kubernetes format, /health in the seed's shape, auth by role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from paramedic.api.app import ApiContext, create_app
from paramedic.api.auth import TokenAuth
from paramedic.api.readiness import CheckRegistry
from paramedic.config import parse_config
from paramedic.core.bus import EventBus
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock

TOKENS = {"VIEWER_T": "viewer-token-0123456789", "OPERATOR_T": "operator-token-0123456789"}


class Checks:
    """Switchable check outcomes for the probe tests."""

    def __init__(self) -> None:
        self.store_ok = True

    async def loop(self) -> tuple[bool, str]:
        return True, "ok"

    async def store(self) -> tuple[bool, str]:
        return (True, "ok") if self.store_ok else (False, "database is locked")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Checks, CollectorRegistry]]:
    config = parse_config(
        "api:\n  tokens:\n"
        "    - {name: vic, role: viewer, token_env: VIEWER_T}\n"
        "    - {name: olga, role: operator, token_env: OPERATOR_T}\n",
        env=TOKENS,
    )
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    checks = Checks()
    registry = CheckRegistry()
    registry.add("live", "event_loop", checks.loop)
    registry.add("ready", "store", checks.store)
    prom = CollectorRegistry()
    clock = FakeClock(wall=1_767_225_600.0)
    context = ApiContext(
        clock=clock,
        store=store,
        bus=EventBus(store),
        checks=registry,
        registry=prom,
        auth=TokenAuth(config.api.tokens),
        version="test",
        health_metrics=lambda: {"uptime_seconds": 1.5},
        known_services=frozenset({"engine"}),
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client, checks, prom
    await store.close()


async def test_readyz_plain_and_verbose(
    api: tuple[httpx.AsyncClient, Checks, CollectorRegistry],
) -> None:
    """`ok` when ready; with ?verbose one `[+]name ok` line per check, then the verdict."""
    client, checks, _ = api
    plain = await client.get("/readyz")
    assert (200, "ok") == (plain.status_code, plain.text)
    verbose = await client.get("/readyz?verbose")
    assert (200, "[+]store ok\nreadyz check passed\n") == (verbose.status_code, verbose.text)
    checks.store_ok = False
    failing = await client.get("/readyz?verbose")
    expected = "[-]store failed: database is locked\nreadyz check failed\n"
    assert (503, expected) == (failing.status_code, failing.text)
    excluded = await client.get("/readyz", params={"verbose": "", "exclude": "store"})
    assert (200, "[+]store excluded: ok\nreadyz check passed\n") == (
        excluded.status_code,
        excluded.text,
    )


async def test_livez(api: tuple[httpx.AsyncClient, Checks, CollectorRegistry]) -> None:
    """/livez answers `ok` and lists event_loop when verbose."""
    client, _, _ = api
    assert "ok" == (await client.get("/livez")).text
    assert "[+]event_loop ok\nlivez check passed\n" == (await client.get("/livez?verbose")).text


async def test_health_shape(api: tuple[httpx.AsyncClient, Checks, CollectorRegistry]) -> None:
    """/health has exactly the seed's keys; 200 when healthy, 503 with the failed component."""
    client, checks, _ = api
    ok = await client.get("/health")
    expected = {
        "healthy": True,
        "timestamp": 1_767_225_600_000,
        "components": {"event_loop": True, "store": True},
        "metrics": {"uptime_seconds": 1.5},
    }
    assert (200, expected) == (ok.status_code, ok.json())
    checks.store_ok = False
    bad = await client.get("/health")
    assert (503, False, False) == (
        bad.status_code,
        bad.json()["healthy"],
        bad.json()["components"]["store"],
    )


async def test_metrics_from_the_given_registry(
    api: tuple[httpx.AsyncClient, Checks, CollectorRegistry],
) -> None:
    """/metrics serves the registry passed in (nothing global), in Prometheus text format."""
    client, _, prom = api
    Counter("thing_total", "A test counter.", registry=prom).inc(3)
    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "thing_total 3.0" in response.text


async def test_mutating_endpoint_needs_operator(
    api: tuple[httpx.AsyncClient, Checks, CollectorRegistry],
) -> None:
    """No token 401, unknown token 401, viewer 403, operator 201 with the author recorded."""
    client, _, _ = api
    body = {"text": "failing over by hand", "service": "engine"}
    none = await client.post("/api/timeline/notes", json=body)
    assert (401, "Bearer") == (none.status_code, none.headers["www-authenticate"])
    wrong = await client.post(
        "/api/timeline/notes", json=body, headers={"Authorization": "Bearer nope"}
    )
    assert 401 == wrong.status_code
    viewer = await client.post(
        "/api/timeline/notes", json=body, headers={"Authorization": f"Bearer {TOKENS['VIEWER_T']}"}
    )
    assert (403, "role operator required; token 'vic' has role viewer") == (
        viewer.status_code,
        viewer.json()["detail"],
    )
    operator = await client.post(
        "/api/timeline/notes",
        json=body,
        headers={"Authorization": f"Bearer {TOKENS['OPERATOR_T']}"},
    )
    assert 201 == operator.status_code
    events = (await client.get("/api/timeline")).json()["events"]
    assert [("note.added", "engine", "note by olga: failing over by hand")] == [
        (e["kind"], e["service"], e["summary"]) for e in events
    ]


async def test_bad_input_names_the_field(
    api: tuple[httpx.AsyncClient, Checks, CollectorRegistry],
) -> None:
    """An invalid note is refused with 422 naming the field, and nothing is written."""
    client, _, _ = api
    headers = {"Authorization": f"Bearer {TOKENS['OPERATOR_T']}"}
    response = await client.post("/api/timeline/notes", json={"text": ""}, headers=headers)
    assert 422 == response.status_code
    assert ["body", "text"] == response.json()["detail"][0]["loc"]
    assert [] == (await client.get("/api/timeline")).json()["events"]


async def test_openapi_declares_bearer_security(
    api: tuple[httpx.AsyncClient, Checks, CollectorRegistry],
) -> None:
    """The OpenAPI spec is served and documents the bearer scheme on the mutating endpoint."""
    client, _, _ = api
    spec = (await client.get("/openapi.json")).json()
    assert "/api/timeline/notes" in spec["paths"]
    assert spec["paths"]["/api/timeline/notes"]["post"]["security"] == [{"HTTPBearer": []}]


async def test_timeline_cursor_beyond_64_bits_is_refused(
    api: tuple[httpx.AsyncClient, Checks, CollectorRegistry],
) -> None:
    """A cursor the store cannot hold is a 422 naming `after`, not a 500 (found by the fuzzer)."""
    client, _, _ = api
    response = await client.get("/api/timeline", params={"after": 2**64})
    assert 422 == response.status_code
    assert "after" in response.text
