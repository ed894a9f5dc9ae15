"""Validation checks against real loopback servers and programs; windows on a FakeClock."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from paramedic.checks import CheckResult
from paramedic.config.recovery_plan import CheckSpec, ValidationConfig
from paramedic.recovery.validation import Check, Validator, build_check
from paramedic.testing import FakeClock
from tests.conftest import free_port


class Desk:
    """Our engine and 'the exchange' on one loopback server."""

    def __init__(self) -> None:
        self.ours: dict[str, Any] = {"positions": {"AAPL": 100, "MSFT": -50.0}, "cash": 1e6}
        self.exchange: dict[str, Any] = {"positions": {"AAPL": 100, "MSFT": -50.0}, "cash": 1e6}
        self.health: dict[str, Any] = {"healthy": True, "metrics": {"order_latency_p99_us": 412.5}}
        self.ack: dict[str, Any] = {"acknowledged": True}
        self.ack_delay = asyncio.Event()
        self.ack_delay.set()
        app = web.Application()
        app.router.add_get("/ours", self.serve(lambda: self.ours))
        app.router.add_get("/exchange", self.serve(lambda: self.exchange))
        app.router.add_get("/health", self.serve(lambda: self.health))
        app.router.add_post("/test-order", self.test_order)
        self.runner = web.AppRunner(app)
        self.port = 0

    @staticmethod
    def serve(
        doc: Callable[[], dict[str, Any]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(doc())

        return handler

    async def test_order(self, request: web.Request) -> web.Response:
        await self.ack_delay.wait()
        return web.json_response(self.ack)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def desk() -> AsyncIterator[Desk]:
    srv = Desk()
    await srv.runner.setup()
    await web.TCPSite(srv.runner, "127.0.0.1", 0).start()
    srv.port = srv.runner.addresses[0][1]
    yield srv
    srv.ack_delay.set()
    await srv.runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def check(session: aiohttp.ClientSession, **raw: Any) -> Check:
    return build_check(CheckSpec.model_validate(raw), session, process_running=lambda: True)


async def test_positions_match_and_mismatch_names_first_path(
    desk: Desk, session: aiohttp.ClientSession
) -> None:
    """Equal documents pass; a difference names the first differing path and both values."""
    spec = {"left": desk.url("/ours"), "right": desk.url("/exchange"), "tolerance": 0.01}
    positions = check(session, name="positions", compare=spec)
    assert True is (await positions.run()).ok
    desk.exchange["positions"]["MSFT"] = -50.005  # inside the tolerance
    assert True is (await positions.run()).ok
    desk.exchange["positions"]["AAPL"] = 90
    expected = (
        f"positions: positions.AAPL differs: 100 at {desk.url('/ours')},"
        f" 90 at {desk.url('/exchange')}"
    )
    assert CheckResult(False, expected, name="positions") == await positions.run()
    only_msft = check(session, name="msft", compare={**spec, "paths": ["positions.MSFT"]})
    assert True is (await only_msft.run()).ok


async def test_http_tcp_command_and_process_checks(
    desk: Desk, session: aiohttp.ClientSession
) -> None:
    """Each simple kind passes against a live thing and fails with a reason against a dead one."""
    dead = free_port()
    results = [
        await check(
            session,
            name="h",
            http={"url": desk.url("/health"), "method": "GET", "expect_json": {"healthy": True}},
        ).run(),
        await check(session, name="t", tcp={"host": "127.0.0.1", "port": desk.port}).run(),
        await check(session, name="c", command={"argv": [sys.executable, "-c", "pass"]}).run(),
        await check(session, name="p", process={}).run(),
        await check(session, name="t2", tcp={"host": "127.0.0.1", "port": dead}).run(),
        await check(
            session, name="c2", command={"argv": [sys.executable, "-c", "raise SystemExit(2)"]}
        ).run(),
    ]
    assert [True, True, True, True, False, False] == [r.ok for r in results]
    assert f"t2: connect 127.0.0.1:{dead} refused" == results[4].sentence
    assert "p: process running" == results[3].sentence


async def test_metric_threshold(desk: Desk, session: aiohttp.ClientSession) -> None:
    """A metric from /health JSON is held against its bound and the sentence gives the value."""
    latency = check(
        session,
        name="latency",
        metric={"url": desk.url("/health"), "path": "metrics.order_latency_p99_us", "below": 10000},
    )
    assert (
        CheckResult(
            True, "latency: metrics.order_latency_p99_us is 412.5 (< 10000)", name="latency"
        )
        == await latency.run()
    )
    desk.health["metrics"]["order_latency_p99_us"] = 25000
    assert (
        CheckResult(
            False, "latency: metrics.order_latency_p99_us is 25000, not below 10000", name="latency"
        )
        == await latency.run()
    )


async def test_test_order_round_trip(desk: Desk, session: aiohttp.ClientSession) -> None:
    """A test order is acknowledged within the deadline, or the check says it was not."""
    order = check(
        session,
        name="routing",
        test_order={
            "url": desk.url("/test-order"),
            "body": {"symbol": "TEST", "qty": 1},
            "deadline": "200ms",
        },
    )
    assert True is (await order.run()).ok
    desk.ack_delay.clear()
    assert (
        CheckResult(False, "routing: test order not acknowledged within 200 ms", name="routing")
        == await order.run()
    )
    desk.ack_delay.set()
    desk.ack = {"acknowledged": False, "reason": "risk off"}
    late = await order.run()
    assert late.sentence.endswith("but acknowledged is false, expected true")


async def test_immediate_failure_fails_the_recovery(
    desk: Desk, session: aiohttp.ClientSession
) -> None:
    """Any immediate check failing makes the immediate report fail, naming the check."""
    desk.exchange["cash"] = 0
    validator = Validator(
        clock=FakeClock(),
        on_failure=_never,
        immediate=[
            check(session, name="proc", process={}),
            check(
                session,
                name="positions",
                compare={"left": desk.url("/ours"), "right": desk.url("/exchange")},
            ),
        ],
    )
    report = await validator.run_immediate()
    assert (False, [True, False]) == (report.ok, [r.ok for r in report.results])
    assert report.sentence.startswith("immediate validation failed: positions: cash differs: ")


async def _never(window: str, result: CheckResult) -> None:
    raise AssertionError(f"unexpected escalation {window} {result}")


async def test_short_window_failure_escalates_once() -> None:
    """A short-window check failing calls the escalation callback once; medium passes silently."""
    clock = FakeClock()
    escalated: list[tuple[str, str]] = []
    got = asyncio.Event()
    runs = {"fills": 0, "leaks": 0}

    async def fills() -> CheckResult:
        runs["fills"] += 1
        return CheckResult(runs["fills"] < 3, f"run {runs['fills']}")

    async def leaks() -> CheckResult:
        runs["leaks"] += 1
        return CheckResult(True, "rss flat")

    async def on_failure(window: str, result: CheckResult) -> None:
        escalated.append((window, result.sentence))
        got.set()

    cfg = ValidationConfig.model_validate({"short_every": "1m", "medium_every": "10m"})
    validator = Validator(
        clock=clock,
        on_failure=on_failure,
        config=cfg,
        short=[Check("fills", fills)],
        medium=[Check("leaks", leaks)],
    )
    validator.start_windows()
    for _ in range(30):
        clock.advance(60)
        await validator.settle()
    await asyncio.wait_for(got.wait(), 1)
    assert [("short", "fills: run 3")] == escalated
    assert {"fills": 5, "leaks": 3} == runs
    assert 0 == clock.pending
