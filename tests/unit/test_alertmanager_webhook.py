"""Alertmanager's webhook in: each alert a signal for its service; a bad payload named."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from paramedic.api.alertmanager import router
from paramedic.api.auth import TokenAuth
from paramedic.config import parse_config
from paramedic.detect.signals import Signal
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock

TOKENS = {"VIEWER_T": "viewer-token-0123456789", "OPERATOR_T": "operator-token-0123456789"}
OPERATOR = {"Authorization": f"Bearer {TOKENS['OPERATOR_T']}"}
URL = "/api/v1/alertmanager"


@dataclass
class StubContext:
    """The two attributes the route uses besides auth and clock: a sink that records."""

    auth: TokenAuth
    clock: FakeClock
    known_services: frozenset[str]
    store: SQLiteStore  # the audit trail of each call
    received: list[tuple[str, Signal]] = field(default_factory=list)
    durable: int = 0  # how many of `received` had been made durable when the route answered

    def signal_sink(self, service: str, signal: Signal) -> bool:
        if service not in self.known_services:
            return False
        self.received.append((service, signal))
        return True

    async def inputs_durable(self) -> None:
        self.durable = len(self.received)


@pytest.fixture
async def hook(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, StubContext]]:
    config = parse_config(
        "api:\n  tokens:\n"
        "    - {name: vic, role: viewer, token_env: VIEWER_T}\n"
        "    - {name: olga, role: operator, token_env: OPERATOR_T}\n",
        env=TOKENS,
    )
    context = StubContext(
        auth=TokenAuth(config.api.tokens),
        clock=FakeClock(wall=1_767_225_600.0),
        known_services=frozenset({"engine", "exchange"}),
        store=SQLiteStore(tmp_path / "p.db"),
    )
    await context.store.open()
    app = FastAPI()
    app.state.context = context
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client, context
    await context.store.close()


def alert(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "EngineLatencyHigh", "service": "engine", **labels},
        "annotations": {},
        "startsAt": "2026-01-01T00:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": "c0ffee0123456789",
    }


def payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    """What Alertmanager 0.25 sends, field for field."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="EngineLatencyHigh"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "paramedic",
        "groupLabels": {"alertname": "EngineLatencyHigh"},
        "commonLabels": {"alertname": "EngineLatencyHigh"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


async def test_firing_alert_is_a_bad_signal_with_kind_and_summary(
    hook: tuple[httpx.AsyncClient, StubContext],
) -> None:
    """A firing alert with paramedic_kind and a summary: a failing signal of that kind, from
    `alertmanager:<alertname>`, whose reason is the summary, at the clock's monotonic now."""
    client, context = hook
    firing = alert(paramedic_kind="db_connection_loss")
    firing["annotations"] = {"summary": "engine p99 latency 2.3 s", "description": "long"}
    response = await client.post(URL, json=payload(firing), headers=OPERATOR)
    assert (200, {"accepted": 1, "skipped": []}) == (response.status_code, response.json())
    expected = Signal(
        service="engine",
        source="alertmanager:EngineLatencyHigh",
        ok=False,
        reason="engine p99 latency 2.3 s",
        at=context.clock.monotonic(),
        kind="db_connection_loss",
    )
    assert [("engine", expected)] == context.received


async def test_reason_falls_back_to_description_then_alertname_and_instance(
    hook: tuple[httpx.AsyncClient, StubContext],
) -> None:
    """No summary: the description; neither: `<alertname> firing on <instance>`. A kind that
    given is a degradation."""
    client, context = hook
    described = alert()
    described["annotations"] = {"description": "p99 over 2 s for 5 m"}
    bare = alert(alertname="DiskSlow", instance="10.0.0.7:9100", service="exchange")
    response = await client.post(URL, json=payload(described, bare), headers=OPERATOR)
    assert {"accepted": 2, "skipped": []} == response.json()
    assert [
        ("engine", "alertmanager:EngineLatencyHigh", "p99 over 2 s for 5 m", "degradation"),
        ("exchange", "alertmanager:DiskSlow", "DiskSlow firing on 10.0.0.7:9100", "degradation"),
    ] == [(svc, s.source, s.reason, s.kind) for svc, s in context.received]


@pytest.mark.parametrize(
    ("labels", "kind", "severity"),
    [
        ({"kind": "crash", "severity": "P0"}, "crash", "P0"),
        ({"kind": "memory_leak", "severity": "critical"}, "memory_leak", "P0"),
        ({"kind": "hang", "severity": "error"}, "hang", "P1"),
        ({"severity": "Warning"}, "degradation", "P2"),
        ({"severity": "info"}, "degradation", "P3"),
        ({"severity": "p1"}, "degradation", "P1"),
        ({"paramedic_kind": "disk_full", "kind": "crash"}, "disk_full", None),
        ({}, "degradation", None),
    ],
)
async def test_kind_and_severity_labels_are_honoured(
    hook: tuple[httpx.AsyncClient, StubContext],
    labels: dict[str, str],
    kind: str,
    severity: str | None,
) -> None:
    """`kind` (or `paramedic_kind`, which wins) names the failure kind; `severity` is P0-P3 or
    Alertmanager's words (critical P0, error P1, warning P2, info P3, any case); without it
    the severity rules decide (None). Understood labels add no note."""
    client, context = hook
    response = await client.post(URL, json=payload(alert(**labels)), headers=OPERATOR)
    assert {"accepted": 1, "skipped": []} == response.json()
    [(_service, signal)] = context.received
    assert (kind, severity) == (signal.kind, signal.severity)


async def test_unknown_kind_or_severity_is_a_clear_default_with_a_note(
    hook: tuple[httpx.AsyncClient, StubContext],
) -> None:
    """An unknown kind is a degradation and an unknown severity is left to the rules; each is
    said in the answer (by alert index) and in the signal's sentence, which is the page's."""
    client, context = hook
    odd = alert(kind="latency", severity="urgent")
    odd["annotations"] = {"summary": "p99 over 2 s"}
    response = await client.post(URL, json=payload(alert(), odd), headers=OPERATOR)
    kinds = (
        "crash, hang, degradation, network_partition, memory_leak, disk_full, db_connection_loss"
    )
    words = "p0, p1, p2, p3, critical, page, error, high, warning, medium, info, low, none"
    notes = [
        f"kind 'latency' is not a failure kind ({kinds}); taken as degradation",
        f"severity 'urgent' is not one of {words}; the severity rules decide",
    ]
    expected = {
        "accepted": 2,
        "skipped": [],
        "notes": [{"index": 1, "note": note} for note in notes],
    }
    assert expected == response.json()
    signal = context.received[1][1]
    assert ("degradation", None) == (signal.kind, signal.severity)
    assert f"p99 over 2 s ({'; '.join(notes)})" == signal.reason


async def test_answers_only_after_the_signals_are_made_durable(
    hook: tuple[httpx.AsyncClient, StubContext],
) -> None:
    """The route hands every signal over, then waits for them to be durable, then answers."""
    client, context = hook
    response = await client.post(URL, json=payload(alert(), alert()), headers=OPERATOR)
    assert (200, 2, 2) == (response.status_code, len(context.received), context.durable)


async def test_resolved_alert_is_an_ok_signal(
    hook: tuple[httpx.AsyncClient, StubContext],
) -> None:
    """A resolved alert is a good verdict from the same source, so it clears the firing one."""
    client, context = hook
    resolved = alert("resolved", paramedic_kind="degradation")
    resolved["annotations"] = {"summary": "engine p99 latency 2.3 s"}
    resolved["endsAt"] = "2026-01-01T00:05:00Z"
    response = await client.post(URL, json=payload(resolved, status="resolved"), headers=OPERATOR)
    assert {"accepted": 1, "skipped": []} == response.json()
    [(service, signal)] = context.received
    expected = (
        "engine",
        "alertmanager:EngineLatencyHigh",
        True,
        None,
        "EngineLatencyHigh resolved in Alertmanager: engine p99 latency 2.3 s",
    )
    assert expected == (service, signal.source, signal.ok, signal.kind, signal.reason)


async def test_unknown_or_missing_service_is_skipped_not_an_error(
    hook: tuple[httpx.AsyncClient, StubContext],
) -> None:
    """Alerts for services paramedic does not supervise are reported back by index; the rest
    of the group is still accepted."""
    client, context = hook
    no_label = alert()
    del no_label["labels"]["service"]
    body = payload(alert(service="billing"), alert(), no_label)
    response = await client.post(URL, json=body, headers=OPERATOR)
    expected = {
        "accepted": 1,
        "skipped": [
            {"index": 0, "reason": "unknown service 'billing' (label 'service')"},
            {"index": 2, "reason": "no 'service' label"},
        ],
    }
    assert (200, expected) == (response.status_code, response.json())
    assert ["engine"] == [service for service, _ in context.received]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        pytest.param(
            {k: v for k, v in payload(alert()).items() if k != "alerts"},
            422,
            "alerts: required",
            id="missing-alerts",
        ),
        pytest.param(
            payload(alert(), alert("exploded")),
            422,
            "alerts[1].status: must be firing or resolved",
            id="bad-alert-status",
        ),
        pytest.param(
            {**payload(alert()), "alerts": [{**alert(), "labels": ["service=engine"]}]},
            422,
            "alerts[0].labels: must be an object",
            id="labels-not-an-object",
        ),
        pytest.param(
            {**payload(alert()), "version": "3"},
            400,
            "version: '3' is not supported; this endpoint accepts Alertmanager's webhook"
            " payload version '4'",
            id="bad-version",
        ),
        pytest.param(
            {k: v for k, v in payload(alert()).items() if k != "version"},
            422,
            "version: required",
            id="missing-version",
        ),
        pytest.param(
            [payload(alert())],
            400,
            "body: must be a JSON object (Alertmanager's webhook payload version 4)",
            id="array-not-object",
        ),
    ],
)
async def test_malformed_payload_is_a_4xx_naming_the_field(
    hook: tuple[httpx.AsyncClient, StubContext], body: Any, status: int, detail: str
) -> None:
    """Alertmanager does not retry a 4xx, and its log shows our one sentence: it names the
    field. Nothing is signalled from a payload that is refused."""
    client, context = hook
    response = await client.post(URL, json=body, headers=OPERATOR)
    assert (status, {"detail": detail}) == (response.status_code, response.json())
    assert [] == context.received


async def test_non_json_body_is_a_400(hook: tuple[httpx.AsyncClient, StubContext]) -> None:
    """A body that is not JSON at all says so, with the parser's position."""
    client, _ = hook
    headers = {**OPERATOR, "Content-Type": "application/json"}
    response = await client.post(URL, content=b"alertname=EngineLatencyHigh", headers=headers)
    assert 400 == response.status_code
    detail = response.json()["detail"]
    assert detail.startswith("body: not JSON (Expecting value: line 1 column 1 (char 0))"), detail


async def test_needs_an_operator_token(hook: tuple[httpx.AsyncClient, StubContext]) -> None:
    """No token: 401; a viewer token: 403; nothing is signalled either way."""
    client, context = hook
    body = json.dumps(payload(alert())).encode()
    anonymous = await client.post(URL, content=body)
    viewer = await client.post(
        URL, content=body, headers={"Authorization": f"Bearer {TOKENS['VIEWER_T']}"}
    )
    assert (401, 403) == (anonymous.status_code, viewer.status_code)
    assert "Bearer" == anonymous.headers["WWW-Authenticate"]
    assert [] == context.received


def test_openapi_documents_the_payload() -> None:
    """The request body schema is in the spec (clients, fuzzers), standing alone."""
    app = FastAPI()
    app.include_router(router)
    spec = app.openapi()
    body = spec["paths"][URL]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert ["firing", "resolved"] == body["properties"]["alerts"]["items"]["properties"]["status"][
        "enum"
    ]
    assert "$ref" not in json.dumps(body)
