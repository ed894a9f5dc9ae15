"""DeadMansSwitch against a real aiohttp server on 127.0.0.1: cadence, failures, silence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError

from paramedic.config.selfwatch import DeadMansSwitchConfig, SelfWatchConfig
from paramedic.runtime.deadman import DeadMansSwitch
from paramedic.testing import FakeClock
from tests.conftest import free_port


@dataclass
class Endpoint:
    """A dead man's switch receiver: records every request; its answer is set per test."""

    url: str
    requests: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    status: int = 200
    hold: asyncio.Event = field(default_factory=asyncio.Event)  # set = answer at once
    user_agents: list[str] = field(default_factory=list)


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    """A real HTTP server on 127.0.0.1, port 0, path /ping/<key>."""
    state = Endpoint(url="")
    state.hold.set()

    async def handle(request: web.Request) -> web.Response:
        state.user_agents.append(request.headers.get("User-Agent", ""))
        state.requests.put_nowait(request.method)
        await state.hold.wait()
        return web.Response(status=state.status, text="OK")

    app = web.Application()
    app.router.add_route("*", "/ping/{key}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/ping/s3cr3t-key"
    try:
        yield state
    finally:
        state.hold.set()
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def _config(url: str, **raw: str) -> DeadMansSwitchConfig:
    """Config as YAML would give it: durations are strings with units."""
    return DeadMansSwitchConfig.model_validate({"url": url, **raw})


async def _next(queue: asyncio.Queue[str]) -> str:
    return await asyncio.wait_for(queue.get(), timeout=5.0)


async def test_pings_on_the_interval_while_alive(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    """One request at start, then one per interval of the injected clock, with the method set."""
    clock = FakeClock()
    config = _config(endpoint.url, method="POST", interval="30s", timeout="5s")
    switch = DeadMansSwitch(config, clock, session, alive=lambda: True)
    task = asyncio.create_task(switch.run())
    try:
        assert "POST" == await _next(endpoint.requests)
        assert switch.last_attempt is not None
        assert True is await switch.last_attempt
        for _ in range(2):
            assert 1 == clock.advance(30.0)
            assert "POST" == await _next(endpoint.requests)
            assert True is await switch.last_attempt
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (3, 0, None) == (switch.successes, switch.failures, switch.last_error)
    assert clock.monotonic() == switch.last_success_mono
    assert endpoint.user_agents[0].startswith("paramedic/")
    assert 0 == clock.pending


async def test_no_pings_while_not_alive(endpoint: Endpoint, session: aiohttp.ClientSession) -> None:
    """While alive() is False every tick is skipped; the first healthy tick pings again."""
    clock = FakeClock()
    healthy = False
    config = _config(endpoint.url, interval="10s", timeout="1s")
    switch = DeadMansSwitch(config, clock, session, alive=lambda: healthy)
    task = asyncio.create_task(switch.run())
    try:
        await switch.running.wait()
        for _ in range(3):
            clock.advance(10.0)
        assert (4, None) == (switch.skipped, switch.last_attempt)

        healthy = True
        clock.advance(10.0)
        assert "GET" == await _next(endpoint.requests)
        assert switch.last_attempt is not None
        assert True is await switch.last_attempt
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert endpoint.requests.empty()
    assert 1 == switch.successes


async def test_http_error_is_counted_not_raised(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    """A 500 answer is a failure with the status in last_error, and the secret path is hidden."""
    endpoint.status = 500
    config = _config(endpoint.url, interval="10s", timeout="1s")
    switch = DeadMansSwitch(config, FakeClock(), session, alive=lambda: True)

    assert False is await switch.ping()
    assert (0, 1) == (switch.successes, switch.failures)
    assert f"HTTP 500 from {endpoint.url.split('/ping')[0]}" == switch.last_error


async def test_slow_endpoint_times_out_and_is_counted(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    """An endpoint that never answers costs one timeout, counted, never an exception."""
    endpoint.hold.clear()
    config = _config(endpoint.url, interval="1s", timeout="50ms")
    switch = DeadMansSwitch(config, FakeClock(), session, alive=lambda: True)

    assert False is await switch.ping()
    assert 1 == switch.failures
    assert switch.last_error is not None
    assert "within 50 ms" in switch.last_error
    assert "s3cr3t" not in switch.last_error


async def test_unreachable_endpoint_is_counted(session: aiohttp.ClientSession) -> None:
    """Connection refused is a failure whose message does not leak the URL's key."""
    url = f"http://127.0.0.1:{free_port()}/ping/s3cr3t-key"
    config = _config(url, interval="10s", timeout="1s")
    switch = DeadMansSwitch(config, FakeClock(), session, alive=lambda: True)

    assert False is await switch.ping()
    assert 1 == switch.failures
    assert switch.last_error is not None
    assert switch.last_error.startswith("ClientConnectorError")
    assert "s3cr3t" not in switch.last_error


async def test_a_ping_still_in_flight_makes_the_next_tick_skip(
    endpoint: Endpoint, session: aiohttp.ClientSession
) -> None:
    """Fixed rate without pile-up: a tick while the last ping hangs is counted as overlapped."""
    endpoint.hold.clear()
    clock = FakeClock()
    config = _config(endpoint.url, interval="10s", timeout="5s")
    switch = DeadMansSwitch(config, clock, session, alive=lambda: True)
    task = asyncio.create_task(switch.run())
    try:
        await _next(endpoint.requests)
        clock.advance(10.0)
        assert 1 == switch.overlapped
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert switch.last_attempt is not None
    assert True is switch.last_attempt.cancelled()  # stopping run() cancels the hung ping


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"url": "ftp://example.com/x"}, "http:// or https://"),
        ({"url": "https:///no-host"}, "http:// or https://"),
        ({"url": "http://h:99999/x"}, "http:// or https://"),
        ({"url": "https://h/x", "interval": "5s", "timeout": "5s"}, "must be less than"),
        ({"url": "https://h/x", "interval": "0s"}, "greater than 0"),
        ({"url": "https://h/x", "method": "PUT"}, "GET"),
        ({"url": "https://h/x", "interval": 30}, "has no unit"),
    ],
)
def test_config_refuses_bad_values(raw: dict[str, object], needle: str) -> None:
    """Bad URLs, timeouts not below the interval, unknown methods and bare numbers are refused."""
    with pytest.raises(ValidationError) as info:
        DeadMansSwitchConfig.model_validate(raw)
    assert needle in str(info.value)


def test_config_defaults_and_safe_target() -> None:
    """Defaults are GET every 30 s with a 5 s timeout; `target` drops path, query and userinfo."""
    config = SelfWatchConfig.model_validate(
        {"dead_mans_switch": {"url": "https://user:pw@hc-ping.com:8443/uuid-key?x=1"}}
    )
    switch = config.dead_mans_switch
    assert switch is not None
    assert ("GET", 30.0, 5.0) == (switch.method, switch.interval, switch.timeout)
    assert "https://hc-ping.com:8443" == switch.target
    assert 5.0 == config.loop_stall_bound
    assert None is SelfWatchConfig().dead_mans_switch
