"""Debian's real Alertmanager in both directions.

paramedic -> Alertmanager: our API v2 adapter pushes a trigger then a resolve; Alertmanager
lists the alert with our labels and annotations, then (resolved) no longer lists it and its
own webhook reports it resolved with an endsAt.

Alertmanager -> paramedic: an Alertmanager webhook receiver points at a running paramedic's
`POST /api/v1/alertmanager` with an operator token; an alert posted to Alertmanager opens an
incident on the service its `service` label names, and resolving it clears the incident.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from paramedic.alerting.channels.alertmanager import AlertmanagerChannel
from paramedic.alerting.channels.base import Notification
from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.checks import HttpPool
from paramedic.core.failure_events import FailureCleared, FailureDetected
from paramedic.detect.events import SignalChanged
from tests.conftest import free_port
from tests.integration.harness import running_paramedic

pytestmark = pytest.mark.integration

# Debian package prometheus-alertmanager (bookworm: 0.25.0-1+b4).
BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
needs_alertmanager = pytest.mark.skipif(
    not os.access(BINARY, os.X_OK),
    reason="Debian's prometheus-alertmanager is not installed "
    "(apt-get install prometheus-alertmanager)",
)
TOKEN = "am-operator-token-0123456789"


@asynccontextmanager
async def running_alertmanager(tmp_path: Path, config: dict[str, Any]) -> AsyncIterator[str]:
    """Alertmanager on a free loopback port, clustering off, state in tmp; its base URL.

    The config is JSON, which is YAML. Readiness of an external binary has no event to wait
    on, so `/-/ready` is polled every 20 ms for at most 10 s.
    """
    port = free_port()
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(json.dumps(config))
    storage = tmp_path / "am-data"
    storage.mkdir()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        BINARY,
        f"--config.file={config_file}",
        f"--storage.path={storage}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=debug",
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(500):
                if process.returncode is not None:
                    break
                try:
                    async with session.get(base + "/-/ready") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.02)
            else:
                pytest.fail("Alertmanager was not ready within 10 s")
        if process.returncode is not None:
            log.flush()
            output = (tmp_path / "alertmanager.log").read_text()[-2000:]
            pytest.fail(f"Alertmanager exited with {process.returncode}:\n{output}")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


def route(receiver: str) -> dict[str, Any]:
    """Every alert its own group, sent at once; resolves one group_interval (1 s) later."""
    return {
        "receiver": receiver,
        "group_by": ["..."],
        "group_wait": "0s",
        "group_interval": "1s",
        "repeat_interval": "1h",
    }


def webhook(url: str, token: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"url": url, "send_resolved": True, "max_alerts": 0}
    if token is not None:
        config["http_config"] = {"authorization": {"type": "Bearer", "credentials": token}}
    return config


def note(action: str) -> Notification:
    return Notification(
        id=f"ntf_{action}",
        alert_id="alr_interop",
        action=action,  # type: ignore[arg-type]
        severity="P1",
        title="engine crashed; restarting (warm)",
        body="The engine process exited with signal 9.",
        fields={},
        labels={"service": "engine", "kind": "crash", "venue": "XNAS"},
        idempotency_key=f"alr_interop:{action}",
        links={"runbook": "https://wiki/runbooks/crash"},
    )


async def alerts_in(session: aiohttp.ClientSession, base: str) -> list[dict[str, Any]]:
    async with session.get(base + "/api/v2/alerts") as response:
        assert 200 == response.status
        result: list[dict[str, Any]] = await response.json()
        return result


@needs_alertmanager
async def test_paramedic_pushes_to_alertmanager_and_resolves(tmp_path: Path) -> None:
    """Trigger: Alertmanager lists the alert, active, with our labels and annotations, and
    its webhook sends it on as firing. Resolve: it is no longer listed, and the webhook sends
    it as resolved with the labels unchanged and an endsAt not after the moment we resolved."""
    async with LoopbackReceiver() as onward:
        config = {
            "route": route("onward"),
            "receivers": [{"name": "onward", "webhook_configs": [webhook(onward.url + "/am")]}],
        }
        http = HttpPool()
        async with running_alertmanager(tmp_path, config) as base, aiohttp.ClientSession() as s:
            channel = AlertmanagerChannel("am", http, url=base, hold=3600)
            trigger = await channel.send(note("trigger"))
            assert ("delivered", 200) == (trigger.outcome, trigger.status)

            labels = {
                "alertname": "ParamedicIncident",
                "severity": "error",
                "priority": "P1",
                "paramedic_alert_id": "alr_interop",
                "service": "engine",
                "kind": "crash",
                "venue": "XNAS",
            }
            annotations = {
                "summary": "engine crashed; restarting (warm)",
                "description": "The engine process exited with signal 9.",
                "runbook_url": "https://wiki/runbooks/crash",
            }
            (listed,) = await alerts_in(s, base)
            assert (labels, annotations, "active") == (
                listed["labels"],
                listed["annotations"],
                listed["status"]["state"],
            )
            assert "https://wiki/runbooks/crash" == listed["generatorURL"]
            fired = (await asyncio.wait_for(onward.next_request(), 10)).json()
            assert ("firing", labels) == (fired["status"], fired["alerts"][0]["labels"])

            resolved_at = datetime.now(UTC)
            resolve = await channel.send(note("resolve"))
            assert ("delivered", 200) == (resolve.outcome, resolve.status)
            assert [] == await alerts_in(s, base)
            sent = (await asyncio.wait_for(onward.next_request(), 10)).json()
            (alert,) = sent["alerts"]
            assert ("resolved", "resolved", labels) == (
                sent["status"],
                alert["status"],
                alert["labels"],
            )
            ends = datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00"))
            assert resolved_at - timedelta(seconds=1) <= ends <= resolved_at + timedelta(seconds=1)
            starts = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
            assert starts <= ends  # Alertmanager kept the trigger's startsAt
        await http.close()


def am_alert(ends: datetime | None = None) -> list[dict[str, Any]]:
    alert: dict[str, Any] = {
        "labels": {
            "alertname": "EngineLatencyHigh",
            "service": "engine",
            "paramedic_kind": "degradation",
            "instance": "engine-1:9100",
        },
        "annotations": {"summary": "engine p99 order latency above 250 ms for 1 m"},
        "generatorURL": "http://prometheus:9090/graph?g0.expr=engine_latency",
    }
    if ends is not None:
        alert["startsAt"] = (ends - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
        alert["endsAt"] = ends.isoformat().replace("+00:00", "Z")
    return [alert]


@needs_alertmanager
async def test_alertmanager_webhook_opens_and_clears_an_incident(tmp_path: Path) -> None:
    """Post EngineLatencyHigh to Alertmanager: its webhook reaches paramedic with our token;
    the engine goes down with a degradation incident whose reason is the rule's summary.
    Post it again with endsAt in the past: the resolved webhook clears the incident."""
    paramedic_yaml = """
  tokens:
    - {name: alertmanager, role: operator, token_env: AM_TOKEN}
services:
  engine:
    health: {up_after: 2, evaluate_every: 50ms}
"""
    # The harness starts the YAML with `api:\n  listen: ...`; the tokens continue that section.
    async with running_paramedic(tmp_path, paramedic_yaml, env={"AM_TOKEN": TOKEN}) as (
        paramedic,
        timeline,
    ):
        host, port = paramedic.parts.api.address
        hook = webhook(f"http://{host}:{port}/api/v1/alertmanager", TOKEN)
        config = {
            "route": route("paramedic"),
            "receivers": [{"name": "paramedic", "webhook_configs": [hook]}],
        }
        await timeline.wait_for("service.up", lambda e: e.service == "engine")
        async with running_alertmanager(tmp_path, config) as base, aiohttp.ClientSession() as s:
            async with s.post(base + "/api/v2/alerts", json=am_alert()) as response:
                assert 200 == response.status

            detected = await timeline.wait_for(
                "failure.detected", lambda e: e.service == "engine", within=10
            )
            assert isinstance(detected, FailureDetected)
            expected = (
                "degradation",
                "engine p99 order latency above 250 ms for 1 m",
                "alertmanager:EngineLatencyHigh",
            )
            assert expected == (detected.failure_kind, detected.reason, detected.source)

            past = datetime.now(UTC) - timedelta(seconds=5)
            async with s.post(base + "/api/v2/alerts", json=am_alert(ends=past)) as response:
                assert 200 == response.status
            ok = await timeline.wait_for(
                "signal.changed",
                lambda e: isinstance(e, SignalChanged) and e.service == "engine" and e.ok,
                within=10,
            )
            assert isinstance(ok, SignalChanged)
            assert "alertmanager:EngineLatencyHigh" == ok.source
            cleared = await timeline.wait_for(
                "failure.cleared", lambda e: e.service == "engine", within=10
            )
            assert isinstance(cleared, FailureCleared)
            assert detected.incident == cleared.incident
