"""What the console reads beyond the cards' state: each service's key metrics beside their
configured limits and the drills it can take (GET /api/services), and the timeline's newest
events (GET /api/timeline?last=N) that the live log backfills from. A real SQLite store, a
real bus, the real drill runner, the API through ASGI."""

from __future__ import annotations

import math
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from paramedic.api.app import ApiContext, create_app
from paramedic.api.auth import TokenAuth
from paramedic.api.key_metrics import unit_of
from paramedic.api.readiness import CheckRegistry
from paramedic.config.model import Config
from paramedic.config.resources import MetricThreshold
from paramedic.core.bus import EventBus
from paramedic.core.events import NoteAdded
from paramedic.detect.health_readings import MAX_NAMES, HealthReading
from paramedic.runtime.drills import Drills
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock

WALL = 1_767_225_600.0
HOSTILE = "<script>__p=1</script><img src=x onerror=__p=2>"


def limit(name: str, **bound: Any) -> MetricThreshold:
    return MetricThreshold.model_validate({"name": name, "for": "30s", **bound})


class Rig:
    def __init__(self, client: httpx.AsyncClient, bus: EventBus, clock: FakeClock) -> None:
        self.client, self.bus, self.clock = client, bus, clock
        self.reading = HealthReading()

    async def services(self) -> dict[str, Any]:
        got = await self.client.get("/api/services")
        assert 200 == got.status_code
        return {s["name"]: s for s in got.json()["services"]}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock(wall=WALL)
    bus = EventBus(store)
    config = Config.model_validate(
        {
            "services": {
                "engine": {
                    "process": {"argv": [sys.executable, "-c", "pass"]},
                    "chaos": {"latency": {"http": {"url": "http://127.0.0.1:1/chaos/latency"}}},
                },
                "feed": {},
            }
        }
    )
    drills = Drills(
        config,
        clock=clock,
        bus=bus,
        record=bus.publish,
        store=store,
        pid_of=lambda name: None,
        session=lambda: None,
    )
    reading = HealthReading()
    context = ApiContext(
        clock=clock,
        store=store,
        bus=bus,
        checks=CheckRegistry(),
        registry=CollectorRegistry(),
        auth=TokenAuth([]),
        version="test",
        known_services=frozenset({"engine", "feed"}),
        drills=drills,
        health_readings={"engine": reading, "feed": HealthReading()},
        metric_limits={
            "engine": [
                limit("order_latency_p99_us", above=1000),
                limit("exchange_connections_up", below=3),
                limit("fill_ratio", below=0.5),  # configured, never reported
            ]
        },
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = Rig(client, bus, clock)
        r.reading = reading
        yield r
    await store.close()


async def test_key_metrics_beside_their_configured_limits(rig: Rig) -> None:
    """Each reported metric with its value, the unit its name spells and the configured
    limit (operator, bound, hold, failure kind), `breached` while the value is beyond the
    bound; a metric without a limit has none; a limit whose metric was never reported is
    listed with no value; components are ok or not; the reading's time is given. A value
    that is not a finite number is null (JSON has no NaN)."""
    rig.reading.record(
        True,
        {"exchange": True, "positions": False},
        {
            "order_latency_p99_us": 5000.0,
            "exchange_connections_up": 3.0,
            "open_orders": 25.0,
            "market_data_lag_us": math.nan,
        },
        WALL - 2,
    )
    health = (await rig.services())["engine"]["health"]
    above = {"op": ">", "bound": 1000.0, "for_s": 30.0, "kind": "degradation"}
    below = {"op": "<", "bound": 3.0, "for_s": 30.0, "kind": "degradation"}
    assert {
        "reported": WALL - 2,
        "healthy": True,
        "metrics": [
            {
                "name": "order_latency_p99_us",
                "value": 5000.0,
                "unit": "µs",
                "threshold": above,
                "breached": True,
            },
            {
                "name": "exchange_connections_up",
                "value": 3.0,
                "unit": None,
                "threshold": below,
                "breached": False,
            },
            {
                "name": "open_orders",
                "value": 25.0,
                "unit": None,
                "threshold": None,
                "breached": False,
            },
            {
                "name": "market_data_lag_us",
                "value": None,
                "unit": "µs",
                "threshold": None,
                "breached": False,
            },
            {
                "name": "fill_ratio",
                "value": None,
                "unit": None,
                "threshold": {"op": "<", "bound": 0.5, "for_s": 30.0, "kind": "degradation"},
                "breached": False,
            },
        ],
        "components": [{"name": "exchange", "ok": True}, {"name": "positions", "ok": False}],
        "dropped": 0,
    } == health
    rig.reading.record(True, {}, {"exchange_connections_up": 1.0}, WALL)
    [connections] = [
        m
        for m in (await rig.services())["engine"]["health"]["metrics"]
        if m["name"] == "exchange_connections_up"
    ]
    assert (1.0, True) == (connections["value"], connections["breached"])


async def test_key_metrics_are_bounded_and_names_pass_through_as_data(rig: Rig) -> None:
    """A service that reports more than 32 names shows 32 (the rest counted as dropped), a
    name carrying markup is returned as is (the console puts it in as text); after the
    process died (the reading cleared) no value and no time are shown, the limits stay.
    A service with neither a reading nor a limit has `health` with no metrics."""
    names = {HOSTILE: 1.0, **{f"m{i}": float(i) for i in range(40)}}
    rig.reading.record(False, {HOSTILE: False}, names, WALL)
    health = (await rig.services())["engine"]["health"]
    reported = [m["name"] for m in health["metrics"] if m["value"] is not None]
    assert MAX_NAMES == len(reported)
    assert HOSTILE == reported[0]
    assert [{"name": HOSTILE, "ok": False}] == health["components"]
    assert 9 == health["dropped"]
    rig.reading.clear()
    health = (await rig.services())["engine"]["health"]
    assert (None, None) == (health["reported"], health["healthy"])
    assert ["order_latency_p99_us", "exchange_connections_up", "fill_ratio"] == [
        m["name"] for m in health["metrics"]
    ]
    feed = (await rig.services())["feed"]["health"]
    assert {"reported": None, "healthy": None, "metrics": [], "components": [], "dropped": 0} == (
        feed
    )


async def test_each_service_lists_the_drills_it_can_take(rig: Rig) -> None:
    """A process paramedic runs can be crashed and hung, plus the kinds it has a chaos hook
    for; a service with neither offers none; no drill is running."""
    services = await rig.services()
    assert {"kinds": ["crash", "hang", "latency"], "active": None} == services["engine"]["drills"]
    assert {"kinds": [], "active": None} == services["feed"]["drills"]


def test_units_are_read_from_the_name() -> None:
    """The unit a name spells (Prometheus style suffixes), none when it spells none."""
    assert "µs" == unit_of("market_data_lag_us")
    assert "ms" == unit_of("order_latency_ms")
    assert "s" == unit_of("checkpoint_age_seconds")
    assert "%" == unit_of("cpu_usage_pct")
    assert "B" == unit_of("rss_bytes")
    assert None is unit_of("open_orders")


async def test_the_timeline_reads_its_newest_events(rig: Rig) -> None:
    """`last=N`: the newest N events, oldest first, `next_after` the newest seq (where the
    event stream continues); with `after` only those after it; with a service only its
    own. More than there are gives them all."""
    seqs = []
    for i in range(7):
        service = "engine" if i % 2 == 0 else None
        published = await rig.bus.publish(
            NoteAdded(at=rig.clock.now(), service=service, author="olga", text=f"n{i}")
        )
        seqs.append(published.seq)
    got = (await rig.client.get("/api/timeline", params={"last": 3})).json()
    assert seqs[-3:] == [e["seq"] for e in got["events"]]
    assert seqs[-1] == got["next_after"]
    got = (await rig.client.get("/api/timeline", params={"last": 2, "service": "engine"})).json()
    assert [seqs[4], seqs[6]] == [e["seq"] for e in got["events"]]
    got = (await rig.client.get("/api/timeline", params={"last": 100, "after": seqs[4]})).json()
    assert seqs[5:] == [e["seq"] for e in got["events"]]
    assert seqs == [
        e["seq"] for e in (await rig.client.get("/api/timeline?last=1000")).json()["events"]
    ]


@pytest.mark.parametrize("bad", ["0", "1001", "-1", "ten"])
async def test_a_bad_last_is_refused_naming_it(rig: Rig, bad: str) -> None:
    """`last` outside 1..1000 or not an integer: a 422 whose error is located at `last`."""
    got = await rig.client.get("/api/timeline", params={"last": bad})
    assert 422 == got.status_code
    assert [["query", "last"]] == [e["loc"] for e in got.json()["detail"]]
