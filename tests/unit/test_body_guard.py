"""The body gate in front of every route: its limits at their edges, and its config key."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from paramedic.api.body_guard import MAX_JSON_DEPTH, install_body_guard
from paramedic.config import InvalidConfig, parse_config
from paramedic.store.sqlite import SQLiteStore


class Body(BaseModel):
    value: object


def client(max_bytes: int) -> httpx.AsyncClient:
    app = FastAPI()
    install_body_guard(app, max_bytes=max_bytes)

    @app.post("/echo")
    async def echo(body: Body) -> dict[str, object]:
        return {"value": body.value}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def nested(levels: int) -> bytes:
    return b'{"value": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (nested(MAX_JSON_DEPTH), 200),
        (nested(MAX_JSON_DEPTH + 1), 400),
        (b'{"value": "' + b"x" * (2048 - 13) + b'"}', 200),
        (b'{"value": "' + b"x" * (2048 - 12) + b'"}', 413),
        (b'{"value": NaN}', 400),
        (b'{"value": 1.5e308}', 200),
        (b'{"value": 1e309}', 400),
    ],
    ids=["depth-64", "depth-65", "size-at-limit", "size-over", "nan", "big-finite", "overflow"],
)
async def test_limits_hold_exactly_at_their_edges(body: bytes, status: int) -> None:
    """64 levels pass and 65 do not; exactly max_bytes passes and one more does not."""
    async with client(2048) as c:
        response = await c.post("/echo", content=body, headers={"content-type": "application/json"})
    assert status == response.status_code, response.text


async def test_a_422_is_rendered_whatever_the_input() -> None:
    """Validation errors render (FastAPI's shape) even for input JSON cannot carry."""
    async with client(2048) as c:
        response = await c.post("/echo", json=[1, 2])
    assert 422 == response.status_code
    assert [1, 2] == response.json()["detail"][0]["input"]


def test_max_body_size_is_a_size_with_a_unit() -> None:
    """`api.max_body_size` takes a unit (`64KiB`), defaults to 1 MiB, and is at least 1 KiB."""
    assert 1024 * 1024 == parse_config("api: {}").api.max_body_size
    assert 65536 == parse_config("api: {max_body_size: 64KiB}").api.max_body_size
    with pytest.raises(InvalidConfig, match=r"api\.max_body_size"):
        parse_config("api: {max_body_size: 100B}")


def _webhook_app(store: SQLiteStore) -> FastAPI:
    """Alertmanager's route behind the guard, with a context whose sink records nothing (the
    store takes the audit row of each admitted call)."""
    from paramedic.api.alertmanager import router
    from paramedic.api.auth import TokenAuth
    from paramedic.testing import FakeClock

    config = parse_config(
        "api:\n  tokens: [{name: olga, role: operator, token_env: T}]\n", env={"T": TOKEN}
    )

    class Context:
        auth = TokenAuth(config.api.tokens)
        clock = FakeClock(wall=1_767_225_600.0)
        known_services = frozenset({"engine"})

        def __init__(self) -> None:
            self.store = store

        @staticmethod
        def signal_sink(service: str, signal: object) -> bool:
            return service == "engine"

    app = FastAPI()
    app.state.context = Context()
    install_body_guard(app)
    app.include_router(router)
    return app


TOKEN = "operator-token-0123456789"
KEYS = ["version", "status", "alerts", "labels", "annotations", "groupKey", "service", "x"]
JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["4", "firing", "resolved", "engine"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_any_json_ish_body_on_the_webhook_is_never_a_5xx(value: object) -> None:
    """Whatever JSON-ish value (NaN and infinities included) is posted: a 2xx or a 4xx."""
    body = json.dumps(value, allow_nan=True)

    async def post(folder: str) -> httpx.Response:
        store = SQLiteStore(Path(folder) / "p.db")
        await store.open()
        transport = httpx.ASGITransport(app=_webhook_app(store))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.post(
                    "/api/v1/alertmanager",
                    content=body,
                    headers={
                        "content-type": "application/json",
                        "Authorization": f"Bearer {TOKEN}",
                    },
                )
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as folder:
        response = asyncio.run(post(folder))
    assert response.status_code < 500, (body, response.text)
