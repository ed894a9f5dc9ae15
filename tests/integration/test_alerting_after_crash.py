"""Nothing accepted is lost across a crash of paramedic (issue 11, defects 1 and 5).

An Alertmanager webhook is answered only once what it said is durable; a restart finishes a
failure the crash left without its alert or incident (once: not again if it did commit);
and Alertmanager-fed verdicts survive a restart, so a later resolve clears the incident.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.config import parse_config
from paramedic.core.clock import Instant
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureDetected
from paramedic.detect.events import SignalChanged
from paramedic.runtime.app import Paramedic
from paramedic.runtime.build import build
from paramedic.store.sqlite import SQLiteStore
from tests.conftest import free_port
from tests.integration.harness import Timeline
from tests.integration.runner import RunningParamedic, started, until
from tests.integration.test_alertmanager_interop import (
    needs_alertmanager,
    route,
    running_alertmanager,
    webhook,
)

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
ENV = {"OPS_TOKEN": TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Runs until stopped, or until orphaned by a kill -9 of paramedic (no process left behind).
SLEEPER = "import os, time\nparent = os.getppid()\nwhile os.getppid() == parent: time.sleep(0.05)"


class GatedStore(SQLiteStore):
    """A real store whose timeline commits can be held back, to see who waits for them."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.gate.set()
        self.held = asyncio.Event()

    async def append_many(self, events: list[Event]) -> list[int]:
        if not self.gate.is_set():
            self.held.set()
            await self.gate.wait()
        return await super().append_many(events)


@asynccontextmanager
async def gated_paramedic(
    tmp_path: Path, operator: str
) -> AsyncIterator[tuple[Paramedic, GatedStore]]:
    """A paramedic with one Alertmanager-fed service, `engine`, and an operator token, on a
    GatedStore, started and up; the gate opened and paramedic stopped after."""
    text = (
        "store: {path: p.db}\napi:\n  listen: 127.0.0.1:0\n"
        f"  tokens: [{{name: {operator}, role: operator, token_env: OPS_TOKEN}}]\n"
        "services:\n  engine: {health: {up_after: 1, evaluate_every: 50ms}}\n"
    )
    store = GatedStore(tmp_path / "p.db")
    paramedic = Paramedic(
        build(parse_config(text, env=ENV, base_dir=tmp_path), base_dir=tmp_path, store=store)
    )
    timeline = Timeline()
    paramedic.parts.bus.add_listener(timeline)
    await paramedic.start()
    try:
        await timeline.wait_for("service.up")
        yield paramedic, store
    finally:
        store.gate.set()
        await paramedic.stop("test over")


def am_payload(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "GatewayDown", "service": "engine", **labels},
                "annotations": {"summary": "exchange gateway unreachable from engine"},
            }
        ],
    }


async def test_webhook_answers_only_once_the_failure_it_opened_is_durable(
    tmp_path: Path,
) -> None:
    """Hold the store's timeline commits, post a firing alert: no answer while they are held
    (on the old code: 200 at once, nothing durable). Release them: 200, and signal.changed
    and failure.detected are already in the store."""
    async with gated_paramedic(tmp_path, "olga") as (paramedic, store):
        host, port = paramedic.parts.api.address
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            store.gate.clear()
            post = asyncio.create_task(
                client.post("/api/v1/alertmanager", json=am_payload(), headers=AUTH)
            )
            await asyncio.wait_for(store.held.wait(), 10)
            # No event says "will not answer": a bounded wait for an answer that must not come.
            done, _ = await asyncio.wait({post}, timeout=1.0)
            assert set() == done, "answered before the failure was durable"
            store.gate.set()
            response = await asyncio.wait_for(post, 10)
        assert (200, 1) == (response.status_code, response.json()["accepted"])
        kinds = ["signal.changed", "failure.detected"]
        durable = await store.timeline(kinds=kinds, service="engine")
        assert ["signal.changed", "failure.detected"] == [e.kind for e in durable]


def am_metric(base: str, name: str) -> float:
    """One sample of Alertmanager's own /metrics for its webhook integration (0 if absent)."""
    text = httpx.get(base + "/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(name) and 'integration="webhook"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@needs_alertmanager
async def test_real_alertmanager_gets_its_2xx_only_once_the_failure_is_durable(
    tmp_path: Path,
) -> None:
    """Debian's Alertmanager posts a firing alert to paramedic while paramedic's timeline
    commits are held: Alertmanager's notification does not complete (no 2xx that would stop
    its retries); released, it completes without a failure, and the failure is durable."""
    async with gated_paramedic(tmp_path, "am") as (paramedic, store):
        host, port = paramedic.parts.api.address
        hook = webhook(f"http://{host}:{port}/api/v1/alertmanager", TOKEN)
        config = {
            "route": route("paramedic"),
            "receivers": [{"name": "paramedic", "webhook_configs": [hook]}],
        }
        done = "alertmanager_notification_latency_seconds_count"
        async with running_alertmanager(tmp_path, config) as base:
            store.gate.clear()
            alert = {
                "labels": {"alertname": "GatewayDown", "service": "engine", "severity": "P1"},
                "annotations": {"summary": "exchange gateway unreachable from engine"},
            }
            async with httpx.AsyncClient(timeout=10) as client:
                posted = await client.post(base + "/api/v2/alerts", json=[alert])
                assert 200 == posted.status_code
            await asyncio.wait_for(store.held.wait(), 15)  # its webhook reached paramedic
            # Nothing signals "not answered" across processes: a bounded look, then release.
            await asyncio.sleep(1.0)
            assert 0 == await asyncio.to_thread(am_metric, base, done)
            store.gate.set()
            await until("Alertmanager's notification answered", lambda: am_metric(base, done) >= 1)
            assert 0 == await asyncio.to_thread(
                am_metric, base, "alertmanager_notifications_failed_total"
            )
        durable = await store.timeline(kinds=["failure.detected"], service="engine")
        assert ["alertmanager:GatewayDown"] == [e.payload["source"] for e in durable]


def write_config(tmp_path: Path, hook_url: str, port: int | None = None) -> Path:
    """engine: a supervised process with a recovery plan (a human approves); gateway: fed by
    Alertmanager only. Every page goes to one signed webhook (a loopback receiver)."""
    path = tmp_path / "paramedic.yaml"
    path.write_text(
        f"""
api:
  listen: 127.0.0.1:{port or free_port()}
  tokens: [{{name: olga, role: operator, token_env: OPS_TOKEN}}]
store: {{path: var/p.db}}
channels:
  pagerduty: {{webhook: {{url: "{hook_url}/hook", secret_env: HOOK_SECRET}}}}
recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
services:
  engine:
    tier: 1
    process: {{argv: [{sys.executable!r}, "-c", {SLEEPER!r}]}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Mark, timeout: 10s, command: {{argv: ['true']}}}}
  gateway:
    tier: 1
    health: {{up_after: 1, evaluate_every: 50ms}}
"""
    )
    return path


async def crash_left(db: Path) -> tuple[str, str]:
    """The store a kill -9 leaves between `failure.detected` and what acts on it: for each
    service, a failing signal and its failure recorded; no alert row, no incident opened."""
    store = SQLiteStore(db)
    await store.open()
    now = Instant(mono=time.monotonic(), wall=time.time())
    events: list[Event] = [
        SignalChanged(
            at=now,
            service="engine",
            source="process",
            ok=False,
            failure_kind="crash",
            reason="pid 4242 killed by SIGKILL after 12.345 s",
        ),
        FailureDetected(
            at=now,
            service="engine",
            incident="inc_enginecrash",
            failure_kind="crash",
            reason="pid 4242 killed by SIGKILL after 12.345 s",
            source="process",
        ),
        SignalChanged(
            at=now,
            service="gateway",
            source="alertmanager:GatewayDown",
            ok=False,
            failure_kind="network_partition",
            reason="exchange gateway unreachable",
        ),
        FailureDetected(
            at=now,
            service="gateway",
            incident="inc_gatewaydown",
            failure_kind="network_partition",
            reason="exchange gateway unreachable",
            source="alertmanager:GatewayDown",
            severity="P1",
        ),
    ]
    await store.append_many(events)
    await store.close()
    return "inc_enginecrash", "inc_gatewaydown"


async def paged(hook: LoopbackReceiver, alert_ids: set[str]) -> None:
    """Return once the receiver got a trigger for each of `alert_ids`."""
    seen: set[str] = set()
    while not alert_ids <= seen:
        page = (await hook.next_request()).json()
        if page["action"] == "trigger":
            seen.add(page["alert_id"])


def alerts(p: RunningParamedic) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in p.get("/api/alerts").json()["alerts"]}


def timeline(p: RunningParamedic) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = p.get("/api/timeline", params={"limit": 1000}).json()["events"]
    return events


async def test_restart_finishes_failures_a_crash_left_without_alert_or_incident(
    tmp_path: Path,
) -> None:
    """A store holding two failures and nothing done about them (a crash right after their
    commit): the restart raises each alert (the gateway's at the severity its source stated),
    pages it, and opens the engine's recovery incident. A second restart raises nothing again:
    the alert rows and the incident had committed."""
    async with LoopbackReceiver() as hook:
        config = write_config(tmp_path, hook.url)
        engine, gateway = await crash_left(tmp_path / "var" / "p.db")
        first = await started(config, ENV)
        try:
            found = await until(
                "both alerts",
                lambda: (
                    (a := alerts(first)).get(f"{engine}:failure")
                    and a.get(f"{gateway}:failure")
                    and a
                ),
            )
            assert ("P0", "P1") == (
                found[f"{engine}:failure"]["severity"],
                found[f"{gateway}:failure"]["severity"],
            )
            await asyncio.wait_for(paged(hook, {f"{engine}:failure", f"{gateway}:failure"}), 15)
            opened = [e for e in timeline(first) if e["kind"] == "incident.opened"]
            assert [engine] == [e["payload"]["incident"] for e in opened]
            rows = {k: len(a["notifications"]) for k, a in alerts(first).items()}
            first.signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        finally:
            first.ensure_dead()
        second = await started(config, ENV)
        try:
            after = alerts(second)
            assert {f"{engine}:failure", f"{gateway}:failure"} <= set(after)
            # The engine's incident is not opened again. (Its child exits once orphaned by the
            # kill, so the second run may see that exit, a crash of its own, as a new incident.)
            reopened = [
                e["payload"]["incident"] for e in timeline(second) if e["kind"] == "incident.opened"
            ]
            assert 1 == reopened.count(engine), reopened
            assert rows[f"{gateway}:failure"] == len(after[f"{gateway}:failure"]["notifications"])
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 15)
        finally:
            second.ensure_dead()


def am_alert(ends: datetime | None = None) -> list[dict[str, Any]]:
    alert: dict[str, Any] = {
        "labels": {
            "alertname": "GatewayDown",
            "service": "gateway",
            "kind": "network_partition",
            "severity": "error",
        },
        "annotations": {"summary": "exchange gateway unreachable from the engine host"},
    }
    if ends is not None:
        alert["startsAt"] = (ends - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
        alert["endsAt"] = ends.isoformat().replace("+00:00", "Z")
    return [alert]


@needs_alertmanager
async def test_alertmanager_resolve_after_a_paramedic_restart_clears_the_alert(
    tmp_path: Path,
) -> None:
    """Fire GatewayDown in Debian's Alertmanager (kind network_partition, severity error):
    paramedic opens a P1 network_partition alert whose sentence is the summary. Restart
    paramedic (SIGTERM). Resolve it in Alertmanager: the same incident clears, the alert is
    resolved and the resolve is paged."""
    async with LoopbackReceiver() as hook:
        port = free_port()
        config = write_config(tmp_path, hook.url, port)
        am_config = {
            "route": route("paramedic"),
            "receivers": [
                {
                    "name": "paramedic",
                    "webhook_configs": [
                        webhook(f"http://127.0.0.1:{port}/api/v1/alertmanager", TOKEN)
                    ],
                }
            ],
        }
        async with running_alertmanager(tmp_path, am_config) as base:
            first = await started(config, ENV)
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    posted = await client.post(base + "/api/v2/alerts", json=am_alert())
                    assert 200 == posted.status_code

                def gateway_alert(p: RunningParamedic) -> dict[str, Any] | None:
                    return next((a for a in alerts(p).values() if a["service"] == "gateway"), None)

                raised = await until("the gateway's alert", lambda: gateway_alert(first))
                content = raised["alert"]
                assert ("P1", "network_partition", "firing") == (
                    raised["severity"],
                    content["type"],
                    raised["state"],
                )
                assert "exchange gateway unreachable from the engine host" == content["what"]
                first.signal(signal.SIGTERM)
                assert 0 == await asyncio.to_thread(first.wait, 15)
            finally:
                first.ensure_dead()
            second = await started(config, ENV)
            try:
                past = datetime.now(UTC) - timedelta(seconds=5)
                async with httpx.AsyncClient(timeout=10) as client:
                    posted = await client.post(base + "/api/v2/alerts", json=am_alert(past))
                    assert 200 == posted.status_code
                cleared = await until(
                    "the failure cleared",
                    lambda: [e for e in timeline(second) if e["kind"] == "failure.cleared"],
                )
                assert [raised["incident"]] == [e["payload"]["incident"] for e in cleared]
                after = await until(
                    "the gateway's alert resolved",
                    lambda: (a := gateway_alert(second)) and a["state"] == "resolved" and a,
                )
                actions = {n["action"] for n in after["notifications"]}
                assert {"trigger", "resolve"} <= actions
                second.signal(signal.SIGTERM)
                assert 0 == await asyncio.to_thread(second.wait, 15)
            finally:
                second.ensure_dead()
