"""The preflight items that need no running service, in-process (FakeClock, real SQLite,
real loopback HTTP): alert routes that reach nobody, dashboards that do not answer or do
not exist, on-call contacts never test-paged, tier-1 services never or long ago drilled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from paramedic.alerting.channels.base import DeliveryResult, Notification
from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.alerting.service import AlertingService
from paramedic.alerting.views import iso
from paramedic.config.model import Config
from paramedic.core.clock import Instant
from paramedic.core.drill_events import TestPageDelivered
from paramedic.detect.service_health import ServiceHealth
from paramedic.detect.signals import Signal
from paramedic.runtime.preflight import Preflight
from paramedic.runtime.services import ServiceRuntime
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import CapturingChannel, FakeClock
from tests.conftest import free_port

DAY = 86400.0
Make = Callable[..., Preflight]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    tasks: set[asyncio.Task[Any]] = set()

    def build(
        config: dict[str, Any],
        *,
        api: str,
        last_drill: dict[str, float] | None = None,
        services: dict[str, ServiceHealth] | None = None,
    ) -> Preflight:
        cfg = Config.model_validate(config)
        alerting = AlertingService(
            cfg.alerting,
            clock=clock,
            store=store,
            channels={},
            submit=lambda events: None,
            job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
        )
        return Preflight(
            cfg,
            clock=clock,
            store=store,
            alerting=alerting,
            # What the item reads of a service is its health verdict.
            services={
                n: cast(ServiceRuntime, SimpleNamespace(health=h))
                for n, h in (services or {}).items()
            },
            last_drill=last_drill or {},
            session=lambda: None,
            api_url=lambda: api,
        )

    yield build
    await asyncio.gather(*tasks, return_exceptions=True)
    await store.close()


async def test_an_unconfigured_paramedic_fails_alerts_dashboards_on_call_and_drills(
    make: Make,
) -> None:
    """No channel at all: P0, P1 and P2 reach nobody (P3 goes to the log); no dashboard_url
    and nothing served at `/`: nothing to check; oncall never test-paged; the tier-1 engine
    never drilled. Each fails with the sentence that says what to do; the verdicts are kept
    for the metric."""
    async with LoopbackReceiver(status=404) as api:
        preflight = make({"services": {"engine": {"tier": 1}}}, api=api.url)
        items = {i.name: i for i in await preflight.run(by="olga")}
    assert {"monitoring": True, "alerts": False, "dashboards": False} == {
        n: items[n].ok for n in ("monitoring", "alerts", "dashboards")
    }
    alerts = items["alerts"].sentence
    assert "P0 routes to no configured channel that reaches a person" in alerts
    assert "P1 routes to no configured channel that reaches a person" in alerts
    assert "P2 routes to no existing channel" in alerts
    assert "P3" not in alerts
    assert items["dashboards"].sentence.startswith("no dashboard to check: set dashboard_url")
    assert not items["on_call"].ok
    assert "no test page delivered to oncall within 31 days" in items["on_call"].sentence
    assert not items["escalation"].ok
    assert "no successful drill of engine within 90 days" in items["escalation"].sentence
    assert {"alerts": False, "on_call": False} == {
        k: v for k, v in preflight.ok.items() if k in ("alerts", "on_call")
    }


async def test_a_dashboard_on_a_dead_port_fails_naming_it(make: Make) -> None:
    """dashboard_url on a port nobody listens on: the item fails naming the URL."""
    dead = f"http://127.0.0.1:{free_port()}/d/recovery"
    async with LoopbackReceiver(status=404) as api:
        preflight = make({"dashboard_url": dead}, api=api.url)
        [item] = [i for i in await preflight.run(by="olga") if i.name == "dashboards"]
    assert not item.ok
    assert item.sentence.startswith(f"{dead} did not answer")


async def test_a_drill_counts_within_the_bound_only(make: Make) -> None:
    """A successful drill a day ago passes `escalation`; one 100 days ago fails it (bound 90
    days); a service that is not tier 1 needs none."""
    config = {"services": {"engine": {"tier": 1}, "reports": {"tier": 3}}}
    async with LoopbackReceiver() as api:
        recent = make(config, api=api.url, last_drill={"engine": FakeClock().wall() - DAY})
        old = make(config, api=api.url, last_drill={"engine": FakeClock().wall() - 100 * DAY})
        [fresh] = [i for i in await recent.run(by="olga") if i.name == "escalation"]
        [stale] = [i for i in await old.run(by="olga") if i.name == "escalation"]
    assert fresh.ok
    assert fresh.sentence.startswith("last successful drill: engine at ")
    assert not stale.ok
    assert "engine" in stale.sentence
    assert "reports" not in stale.sentence


async def test_monitoring_names_a_detector_that_has_not_reported(make: Make) -> None:
    """engine expects its process watch and its liveness probe; only the process has
    reported: the item fails naming the probe. Once the probe reports too, it passes; a
    service no detector watches fails it."""
    health = ServiceHealth("engine")
    health.expect("process", "probe:live")
    health.observe(Signal("engine", "process", True, "running", 1000.0), FakeClock().now())
    async with LoopbackReceiver() as api:
        preflight = make({}, api=api.url, services={"engine": health})
        [item] = [i for i in await preflight.run(by="olga") if i.name == "monitoring"]
        assert (False, "engine: probe:live not reporting yet") == (item.ok, item.sentence)
        health.observe(Signal("engine", "probe:live", True, "200", 1000.0), FakeClock().now())
        [item] = [i for i in await preflight.run(by="olga") if i.name == "monitoring"]
        assert item.ok
        assert "engine (probe:live, process)" in item.sentence
        idle = make({}, api=api.url, services={"reports": ServiceHealth("reports")})
        [item] = [i for i in await idle.run(by="olga") if i.name == "monitoring"]
        assert (False, "reports: no detector watches it") == (item.ok, item.sentence)


async def test_a_scheduled_test_page_delivered_counts_for_on_call(make: Make) -> None:
    """`test_page.delivered` for oncall 40 and 10 days ago: `on_call` passes (bound 31 days)
    naming the newer one; with a 5-day bound it fails."""
    async with LoopbackReceiver() as api:
        preflight = make({}, api=api.url)
        store = preflight._store
        clock = FakeClock()
        for days_ago in (40, 10):
            at = Instant(mono=clock.monotonic(), wall=clock.wall() - days_ago * DAY)
            proof = TestPageDelivered(
                at=at, service="paramedic", contact="oncall", channel="pagerduty", alert_id="t"
            )
            await store.append(proof)
        [item] = [i for i in await preflight.run(by="olga") if i.name == "on_call"]
        assert item.ok
        assert item.sentence == f"last test page delivered: oncall at {iso(at.wall)}"
        [item] = [i for i in await preflight.run(by="olga", reach_days=5) if i.name == "on_call"]
        assert not item.ok


async def test_send_test_pages_p0_too_when_the_p1_route_misses_an_on_call_contact(
    tmp_path: Path,
) -> None:
    """The P1 route reaches only the team; oncall is the first rung of P0 and P1: --send-test
    sends a P1 test page and a P0 one (which reaches oncall), both delivered (oncall's on
    its pager channel, captured here), so on_call passes."""
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    clock = FakeClock()
    p1_team = {"routes": [{"name": "P1", "matchers": ["severity=P1"], "receivers": ["team"]}]}
    oncall = {"oncall": {"channels": ["pager"]}}
    pager = {"pager": {"alertmanager": {"url": "http://127.0.0.1:9/am"}}}
    cfg = Config.model_validate(
        {"channels": pager, "alerting": {"routes": p1_team, "contacts": oncall}}
    )
    tasks: set[asyncio.Task[Any]] = set()
    alerting = AlertingService(
        cfg.alerting,
        clock=clock,
        store=store,
        channels={"log": CapturingChannel(), "pager": CapturingChannel("pager", "alertmanager")},
        # the timeline is where preflight finds the test pages (alert.raised)
        submit=lambda events: tasks.add(asyncio.ensure_future(store.append_many(list(events)))),
        job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
    )
    running = asyncio.ensure_future(alerting.run())
    try:
        async with LoopbackReceiver() as api:
            preflight = Preflight(
                cfg,
                clock=clock,
                store=store,
                alerting=alerting,
                services={},
                last_drill={},
                session=lambda: None,
                api_url=lambda: api.url,
            )
            task = asyncio.ensure_future(preflight.run(by="olga", send_test=True))
            for _ in range(300):
                if task.done():
                    break
                await asyncio.sleep(0.01)
                clock.advance(0.1)
            items = {i.name: i for i in await asyncio.wait_for(task, 5)}
        tests = [a for a in await store.alerts(limit=10) if a.id.startswith("test:")]
        assert ["P0", "P1"] == sorted(a.severity for a in tests)
        assert items["on_call"].ok, items["on_call"].sentence
    finally:
        running.cancel()
        await asyncio.gather(running, *tasks, return_exceptions=True)
        await store.close()


async def test_a_test_page_written_only_to_the_log_does_not_count_for_on_call(
    tmp_path: Path,
) -> None:
    """oncall is reached on `pager` (dead: every send fails) and the log: `--send-test`
    delivers oncall's test page to the log only, which reaches nobody, so on_call fails
    (and alerts names pager). A scheduled test page recorded delivered on the log does not
    count either; one delivered on `pager` does."""
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    clock = FakeClock()
    cfg = Config.model_validate(
        {
            "channels": {"pager": {"alertmanager": {"url": "http://127.0.0.1:9/am"}}},
            "alerting": {"contacts": {"oncall": {"channels": ["pager", "log"]}}},
        }
    )
    tasks: set[asyncio.Task[Any]] = set()

    class Dead(CapturingChannel):
        async def send(self, notification: Notification) -> DeliveryResult:
            return DeliveryResult("failed", "alertmanager pager: cannot connect (refused)")

    alerting = AlertingService(
        cfg.alerting,
        clock=clock,
        store=store,
        channels={"log": CapturingChannel(), "pager": Dead("pager", "alertmanager")},
        submit=lambda events: tasks.add(asyncio.ensure_future(store.append_many(list(events)))),
        job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
    )
    running = asyncio.ensure_future(alerting.run())
    try:
        async with LoopbackReceiver() as api:
            preflight = Preflight(
                cfg,
                clock=clock,
                store=store,
                alerting=alerting,
                services={},
                last_drill={},
                session=lambda: None,
                api_url=lambda: api.url,
            )
            task = asyncio.ensure_future(preflight.run(by="olga", send_test=True))
            for _ in range(300):
                if task.done():
                    break
                await asyncio.sleep(0.01)
                clock.advance(0.1)
            items = {i.name: i for i in await asyncio.wait_for(task, 5)}
            assert not items["alerts"].ok
            assert "channel pager did not deliver its test page" in items["alerts"].sentence
            assert not items["on_call"].ok, items["on_call"].sentence
            assert "no test page delivered to oncall" in items["on_call"].sentence
            for channel in ("log", "pager"):
                proof = TestPageDelivered(
                    at=clock.now(), service="paramedic", contact="oncall", channel=channel,
                    alert_id=f"t-{channel}",
                )  # fmt: skip
                await store.append(proof)
                [item] = [i for i in await preflight.run(by="olga") if i.name == "on_call"]
                assert (channel == "pager") == item.ok, (channel, item.sentence)
    finally:
        running.cancel()
        await asyncio.gather(running, *tasks, return_exceptions=True)
        await store.close()
