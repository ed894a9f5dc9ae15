"""Probes against real things: an aiohttp /health server, a TCP listener, real commands."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from paramedic.checks import CheckResult, HealthReport
from paramedic.config.probes import ProbeConfig
from paramedic.detect.probes import ProbeRunner
from paramedic.detect.signals import Signal
from paramedic.testing import FakeClock
from tests.conftest import free_port

pytestmark = pytest.mark.integration


class HealthServer:
    """A seed-shaped /health endpoint whose answers the test flips."""

    def __init__(self) -> None:
        self.components = {"exchange": True, "market_data": True, "orders": True, "risk": True}
        self.status: int | None = None  # None: 200 if healthy else 503, like the seed
        self.release = asyncio.Event()  # the /slow handler waits on it
        self.port = 0
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/text", self.text)
        self.runner = web.AppRunner(app)

    async def health(self, _request: web.Request) -> web.Response:
        healthy = all(self.components.values())
        body = {
            "healthy": healthy,
            "timestamp": 1_767_225_600_000,
            "components": self.components,
            "metrics": {"order_latency_p99_us": 412.5, "cpu_usage_pct": 37},
        }
        status = self.status if self.status is not None else (200 if healthy else 503)
        return web.json_response(body, status=status)

    async def slow(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return await self.health(request)

    async def text(self, _request: web.Request) -> web.Response:
        return web.Response(text="<html>OK</html>")

    def url(self, path: str = "/health") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def server() -> AsyncIterator[HealthServer]:
    srv = HealthServer()
    await srv.runner.setup()
    site = web.TCPSite(srv.runner, "127.0.0.1", 0)
    await site.start()
    srv.port = srv.runner.addresses[0][1]
    yield srv
    srv.release.set()
    await srv.runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


class Watch:
    """Collects signals and health reports; wakes waiters on each /health reading."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.signals: list[Signal] = []
        self.reports: list[HealthReport] = []
        self.read = asyncio.Event()

    def on_health(self, _service: str, report: HealthReport) -> None:
        self.reports.append(report)
        self.read.set()

    async def readings(self, count: int) -> None:
        """Wait (5 s cap) until `count` /health readings have arrived."""
        async with asyncio.timeout(5.0):
            while len(self.reports) < count:
                self.read.clear()
                await self.read.wait()

    async def period(self, seconds: float, count: int) -> None:
        """Let one probe period pass on the fake clock and wait for its reading."""
        self.clock.advance(seconds)
        await self.readings(count)

    def runner(self, session: aiohttp.ClientSession | None, **probe: Any) -> ProbeRunner:
        fields: dict[str, Any] = {"role": "liveness", "period": "500ms", "timeout": "200ms"}
        return ProbeRunner(
            "engine",
            ProbeConfig.model_validate({**fields, **probe}),
            self.clock,
            self.signals.append,
            session,
            self.on_health,
        )


async def test_exchange_false_emits_one_network_partition(
    server: HealthServer, session: aiohttp.ClientSession
) -> None:
    """/health turning exchange false gives one health:exchange signal, not one per period."""
    watch = Watch()
    runner = watch.runner(session, name="health", http={"url": server.url()})
    runner.start()
    try:
        await watch.readings(1)
        server.components["exchange"] = False
        await watch.period(0.5, 2)
        await watch.period(0.5, 3)
    finally:
        await runner.stop()

    component = [s for s in watch.signals if s.source.startswith("health:")]
    assert [("health:exchange", False, "network_partition", "/health reports exchange: false")] == [
        (s.source, s.ok, s.kind, s.reason) for s in component
    ]
    assert {"order_latency_p99_us": 412.5, "cpu_usage_pct": 37.0} == watch.reports[-1].metrics
    assert (True, False) == (watch.reports[0].healthy, watch.reports[-1].healthy)


async def test_503_fails_liveness_after_three_periods(
    server: HealthServer, session: aiohttp.ClientSession
) -> None:
    """Three consecutive 503s flip liveness to failed (hang), naming status and latency."""
    watch = Watch()
    runner = watch.runner(session, name="health", http={"url": server.url()})
    runner.start()
    try:
        await watch.readings(1)
        server.status = 503
        await watch.period(0.5, 2)
        await watch.period(0.5, 3)
        assert runner.passing is True
        await watch.period(0.5, 4)
    finally:
        await runner.stop()

    verdicts = [s for s in watch.signals if s.source == "probe:health"]
    assert [(True, None), (False, "hang")] == [(s.ok, s.kind) for s in verdicts]
    expected_prefix = (
        f"liveness probe health failed 3 times in a row: GET {server.url()} -> 503 in "
    )
    assert verdicts[1].reason.startswith(expected_prefix), verdicts[1].reason
    assert verdicts[1].reason.endswith(" ms")


async def test_json_expectation_mismatch(
    server: HealthServer, session: aiohttp.ClientSession
) -> None:
    """A 200 whose body breaks expect_json fails, saying which path held what."""
    watch = Watch()
    http = {"url": server.url(), "expect_json": {"components.exchange": True}}
    runner = watch.runner(session, role="readiness", http=http)
    server.status = 200
    server.components["exchange"] = False

    result = await runner.run_once()

    assert not result.ok
    assert result.sentence.startswith(f"GET {server.url()} -> 200 in ")
    assert result.sentence.endswith("; components.exchange is false, expected true")


async def test_slow_handler_times_out(server: HealthServer, session: aiohttp.ClientSession) -> None:
    """A handler slower than the timeout gives a timeout reason, not a hung probe."""
    watch = Watch()
    runner = watch.runner(session, http={"url": server.url("/slow")}, timeout="50ms")

    result = await runner.run_once()

    assert (False, f"GET {server.url('/slow')} timed out after 50 ms") == (
        result.ok,
        result.sentence,
    )


async def test_non_json_body_is_tolerated(
    server: HealthServer, session: aiohttp.ClientSession
) -> None:
    """A 200 with an HTML body passes the status check; the health read fails in words."""
    watch = Watch()
    runner = watch.runner(session, http={"url": server.url("/text")})

    result = await runner.run_once()

    assert result.ok
    assert "/health body is not JSON: '<html>OK</html>'" == result.health_error
    assert [] == watch.reports


async def test_http_refused(session: aiohttp.ClientSession) -> None:
    """Nobody listening: the reason says refused."""
    url = f"http://127.0.0.1:{free_port()}/health"
    runner = Watch().runner(session, http={"url": url})

    result = await runner.run_once()

    assert (False, f"GET {url} failed: refused") == (result.ok, result.sentence)


async def test_tcp_listener_and_closed_port() -> None:
    """A listening port passes; a closed one fails with `refused`."""
    accepted = asyncio.Event()

    async def on_client(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        writer.close()

    listener = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    closed = free_port()
    watch = Watch()
    try:
        good = await watch.runner(None, tcp={"host": "127.0.0.1", "port": port}).run_once()
        async with asyncio.timeout(5.0):
            await accepted.wait()
        bad = await watch.runner(None, tcp={"host": "127.0.0.1", "port": closed}).run_once()
    finally:
        listener.close()
        await listener.wait_closed()

    assert good.ok
    assert good.sentence.startswith(f"connect 127.0.0.1:{port} ok in ")
    assert (False, f"connect 127.0.0.1:{closed} refused") == (bad.ok, bad.sentence)


async def test_commands_true_and_false() -> None:
    """Exit 0 passes, anything else fails with the exit status and last output line."""
    watch = Watch()
    ok = await watch.runner(None, command={"argv": ["true"]}).run_once()
    bad = await watch.runner(None, command={"argv": ["false"]}).run_once()
    said = await watch.runner(
        None, command={"argv": [sys.executable, "-c", "print('db lag 9s'); raise SystemExit(2)"]}
    ).run_once()

    assert (True, "true exited 0 in") == (ok.ok, ok.sentence[: len("true exited 0 in")])
    assert (False, "false exited 1 in") == (bad.ok, bad.sentence[: len("false exited 1 in")])
    assert not said.ok
    assert said.sentence.endswith(": db lag 9s")


async def exited(pid: int) -> None:
    """Wait (5 s cap) until pid has exited, woken by its pidfd rather than by polling."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # already reaped
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(fd, readable)
    try:
        async with asyncio.timeout(5.0):
            await gone
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def proc_state(pid: int) -> str:
    """The kernel's one-letter state of pid (Z for a zombie), or `gone`."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


async def test_command_past_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    """A command over its timeout is SIGKILLed with its process group: nothing is left."""
    pids = tmp_path / "pids"
    script = f"sleep 30 & echo $! > {pids}; echo $$ >> {pids}; wait"
    watch = Watch()
    runner = watch.runner(
        None, command={"argv": ["/bin/sh", "-c", script]}, timeout="300ms", period="1s"
    )

    result = await runner.run_once()

    assert (False, "/bin/sh timed out after 300 ms") == (result.ok, result.sentence)
    grandchild, child = (int(line) for line in pids.read_text().split())
    await exited(grandchild)
    await exited(child)
    for pid in (grandchild, child):
        state = proc_state(pid)
        assert state in ("gone", "Z"), f"pid {pid} still running ({state})"


async def test_probe_loop_survives_real_failures(session: aiohttp.ClientSession) -> None:
    """A runner pointed at nothing keeps probing each period and flips once to failed."""
    url = f"http://127.0.0.1:{free_port()}/health"
    watch = Watch()
    results: list[CheckResult] = []
    attempted = asyncio.Event()
    runner = watch.runner(session, name="gone", http={"url": url}, failure_threshold=2)
    real = runner.run_once

    async def counted() -> CheckResult:
        result = await real()
        results.append(result)
        attempted.set()
        return result

    runner.run_once = counted  # type: ignore[method-assign]
    runner.start()
    try:
        for n in (1, 2, 3):
            async with asyncio.timeout(5.0):
                while len(results) < n:
                    attempted.clear()
                    await attempted.wait()
            watch.clock.advance(0.5)
    finally:
        await runner.stop()

    assert [(False, "hang")] == [(s.ok, s.kind) for s in watch.signals]
