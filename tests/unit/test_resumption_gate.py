"""ResumptionGate against a real loopback server: values, fail-safe 0.0, staleness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from paramedic.client.resumption import ResumptionGate


class Paramedic:
    """Just the resumption endpoint of paramedic's API."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {
            "phase": "reduced",
            "size_multiplier": 0.1,
            "should_trade": True,
            "since": 1.0,
        }
        self.requests = 0
        self.hit = asyncio.Event()
        self.auth: list[str | None] = []
        app = web.Application()
        app.router.add_get("/api/services/{service}/resumption", self.resumption)
        self.runner = web.AppRunner(app)
        self.port = 0

    async def resumption(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.auth.append(request.headers.get("Authorization"))
        self.hit.set()
        if request.match_info["service"] != "engine":
            return web.json_response({"error": "unknown service"}, status=404)
        return web.json_response(self.state)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def paramedic() -> AsyncIterator[Paramedic]:
    srv = Paramedic()
    await srv.runner.setup()
    await web.TCPSite(srv.runner, "127.0.0.1", 0).start()
    srv.port = srv.runner.addresses[0][1]
    yield srv
    await srv.runner.cleanup()


async def test_multiplier_follows_paramedic(paramedic: Paramedic) -> None:
    """The cached multiplier is the server's; should_trade false or a bad answer gives 0.0."""
    gate = ResumptionGate(paramedic.url, "engine", token="t0k")
    assert 0.0 == gate.multiplier()  # nothing heard yet: closed
    assert True is await asyncio.to_thread(gate.refresh)
    assert (0.1, True) == (gate.multiplier(), gate.should_trade())
    assert ["Bearer t0k"] == paramedic.auth
    paramedic.state = {**paramedic.state, "phase": "monitoring_only", "should_trade": False}
    await asyncio.to_thread(gate.refresh)
    assert 0.0 == gate.multiplier()
    paramedic.state = {**paramedic.state, "should_trade": True, "size_multiplier": 7}
    assert False is await asyncio.to_thread(gate.refresh)
    assert (0.0, "size_multiplier 7 is outside 0..1") == (
        gate.multiplier(),
        gate.last_error.rpartition(": ")[2] if gate.last_error else None,
    )
    unknown = ResumptionGate(paramedic.url, "nobody")
    assert False is await asyncio.to_thread(unknown.refresh)
    assert 0.0 == unknown.multiplier()


async def test_zero_when_server_down(paramedic: Paramedic) -> None:
    """Once paramedic stops answering, the next refresh closes the gate."""
    gate = ResumptionGate(paramedic.url, "engine", timeout=0.5)
    await asyncio.to_thread(gate.refresh)
    assert 0.1 == gate.multiplier()
    await paramedic.runner.cleanup()
    assert False is await asyncio.to_thread(gate.refresh)
    assert 0.0 == gate.multiplier()


async def test_zero_when_answer_is_stale(paramedic: Paramedic) -> None:
    """Without a fresh answer for stale_after, multiplier() returns 0.0 by itself."""
    now = [100.0]
    gate = ResumptionGate(paramedic.url, "engine", refresh_every=1.0, monotonic=lambda: now[0])
    await asyncio.to_thread(gate.refresh)
    now[0] = 102.9
    assert 0.1 == gate.multiplier()
    now[0] = 103.0
    assert 0.0 == gate.multiplier()


async def test_background_thread_refreshes_and_stops(paramedic: Paramedic) -> None:
    """The thread polls on its own; after the second request the first answer is in force."""
    with ResumptionGate(paramedic.url, "engine", refresh_every=0.01) as gate:
        while paramedic.requests < 2:
            paramedic.hit.clear()
            await asyncio.wait_for(paramedic.hit.wait(), 5)
        assert 0.1 == gate.multiplier()
    assert None is gate._thread
