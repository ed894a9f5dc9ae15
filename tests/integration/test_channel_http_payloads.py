"""Every HTTP channel against a real loopback server: the documented payload, field by field."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from paramedic.alerting.channels.alertmanager import AlertmanagerChannel
from paramedic.alerting.channels.base import Notification
from paramedic.alerting.channels.jira import JiraChannel
from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.alerting.channels.pagerduty import PagerDutyChannel
from paramedic.alerting.channels.slack import SlackChannel
from paramedic.alerting.channels.webhook import WebhookChannel, sign
from paramedic.checks import HttpPool

NOW = datetime(2025, 11, 25, 10, 15, 23, tzinfo=UTC)
SECRET = "s3cret-hmac-key-0123456789"


def clock() -> datetime:
    return NOW


def note(action: str = "trigger", severity: str = "P0", nid: str = "ntf_1") -> Notification:
    return Notification(
        id=nid,
        alert_id="alr_42",
        action=action,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        title="[P0] engine crash - restart in progress",
        body="What: engine crashed (SIGSEGV)\nImpact: trading halted\n",
        fields={
            "what": "engine crashed (SIGSEGV)",
            "when": "2025-11-25 10:15:23 UTC",
            "impact": "trading halted for 12 s",
            "status": "restarting",
            "runbook": "https://wiki/runbooks/crash",
            "service": "engine",
            "kind": "crash",
        },
        labels={"service": "engine", "kind": "crash", "severity": severity},
        idempotency_key=f"{nid}:alr_42",
        links={"runbook": "https://wiki/runbooks/crash", "dashboard": "https://grafana/d/rec"},
    )


@pytest.fixture
async def server() -> AsyncIterator[LoopbackReceiver]:
    async with LoopbackReceiver() as receiver:
        yield receiver


async def test_webhook_body_headers_and_signature(http: HttpPool, server: LoopbackReceiver) -> None:
    """The webhook posts the v1 body, a signature that verifies with the shared secret over the
    raw bytes, the timestamp, and the same Idempotency-Key on a retry."""
    channel = WebhookChannel(
        "hook", http, url=server.url + "/in", secret=SecretStr(SECRET), now=clock
    )
    first = await channel.send(note())
    retry = await channel.send(note())
    assert "delivered" == first.outcome
    assert "delivered" == retry.outcome
    req, again = server.requests
    assert "POST" == req.method
    assert "/in" == req.path
    assert "application/json" == req.headers["Content-Type"]
    stamp = str(int(NOW.timestamp()))
    signed = b"v1:" + stamp.encode() + b":" + req.body
    expected_sig = "v1=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert expected_sig == req.headers["X-Paramedic-Signature"]
    assert stamp == req.headers["X-Paramedic-Timestamp"]
    assert "ntf_1:alr_42" == req.headers["Idempotency-Key"]
    assert req.headers["Idempotency-Key"] == again.headers["Idempotency-Key"]
    n = note()
    assert {
        "version": 1,
        "id": "ntf_1",
        "alert_id": "alr_42",
        "action": "trigger",
        "severity": "P0",
        "title": n.title,
        "body": n.body,
        "fields": dict(n.fields),
        "labels": dict(n.labels),
        "links": dict(n.links),
        "idempotency_key": "ntf_1:alr_42",
        "sent_at": "2025-11-25T10:15:23+00:00",
    } == req.json()
    assert SECRET not in first.detail


@pytest.mark.parametrize(
    ("severity", "color"),
    [("P0", "#d00000"), ("P1", "#ff8c00"), ("P2", "#f2c744"), ("P3", "#9e9e9e")],
)
async def test_slack_attachment_colour_by_severity(
    http: HttpPool, server: LoopbackReceiver, severity: str, color: str
) -> None:
    """Slack gets the top-level fallback text and one attachment coloured by severity, with
    title, text, fields [{title, value, short}] in the seed's reading order and `ts`."""
    url = SecretStr(server.url + "/services/T000/B000/XXXX")
    channel = SlackChannel("team", http, webhook_url=url, now=clock)
    result = await channel.send(note(severity=severity))
    assert "delivered" == result.outcome
    assert 200 == result.status
    req = server.requests[0]
    assert "/services/T000/B000/XXXX" == req.path
    sent = req.json()
    title = "[P0] engine crash - restart in progress"
    assert title == sent["text"]
    (att,) = sent["attachments"]
    assert color == att["color"]
    assert title == att["title"]
    assert title == att["fallback"]
    assert "https://grafana/d/rec" == att["title_link"]
    assert note().body == att["text"]
    assert int(NOW.timestamp()) == att["ts"]
    assert [
        {"title": "What", "value": "engine crashed (SIGSEGV)", "short": True},
        {"title": "When", "value": "2025-11-25 10:15:23 UTC", "short": True},
        {"title": "Impact", "value": "trading halted for 12 s", "short": True},
        {"title": "Status", "value": "restarting", "short": True},
        {"title": "Runbook", "value": "https://wiki/runbooks/crash", "short": True},
        {"title": "Service", "value": "engine", "short": True},
        {"title": "Kind", "value": "crash", "short": True},
    ] == att["fields"]


async def test_slack_resolve_is_green_and_says_so(http: HttpPool, server: LoopbackReceiver) -> None:
    """A resolve turns the bar green and prefixes the text, whatever the severity was."""
    channel = SlackChannel("team", http, webhook_url=SecretStr(server.url + "/h"), now=clock)
    await channel.send(note(action="resolve"))
    sent = server.requests[0].json()
    assert "Resolved: [P0] engine crash - restart in progress" == sent["text"]
    assert "#2eb67d" == sent["attachments"][0]["color"]


@pytest.mark.parametrize(
    ("severity", "pd_severity"),
    [("P0", "critical"), ("P1", "error"), ("P2", "warning"), ("P3", "info")],
)
async def test_pagerduty_trigger_event(
    http: HttpPool, server: LoopbackReceiver, severity: str, pd_severity: str
) -> None:
    """A trigger is a full Events API v2 event: routing_key, dedup_key = alert id, the payload
    with the mapped severity, links, client and client_url; 202 is delivered."""
    server.status, server.reply = 202, '{"status":"success","dedup_key":"alr_42"}'
    channel = PagerDutyChannel(
        "oncall",
        http,
        routing_key=SecretStr("R0UTINGKEY0123456789012345678901"),
        url=server.url + "/v2/enqueue",
        source="trade-host-1",
        now=clock,
    )
    result = await channel.send(note(severity=severity))
    assert "delivered" == result.outcome
    assert 202 == result.status
    assert "R0UTINGKEY" not in result.detail
    req = server.requests[0]
    assert "/v2/enqueue" == req.path
    n = note()
    assert {
        "routing_key": "R0UTINGKEY0123456789012345678901",
        "event_action": "trigger",
        "dedup_key": "alr_42",
        "payload": {
            "summary": n.title,
            "source": "trade-host-1",
            "severity": pd_severity,
            "timestamp": "2025-11-25T10:15:23+00:00",
            "component": "engine",
            "group": "engine",
            "class": "crash",
            "custom_details": {**n.fields, "description": n.body},
        },
        "links": [
            {"href": "https://wiki/runbooks/crash", "text": "Runbook"},
            {"href": "https://grafana/d/rec", "text": "Dashboard"},
        ],
        "client": "paramedic",
        "client_url": "https://grafana/d/rec",
    } == req.json()


async def test_pagerduty_ack_and_resolve_share_the_dedup_key(
    http: HttpPool, server: LoopbackReceiver
) -> None:
    """Acknowledge and resolve carry only routing_key, dedup_key and event_action, and the
    dedup_key equals the trigger's (and a retry's), so they land on the same incident."""
    server.status = 202
    key = SecretStr("R0UTINGKEY0123456789012345678901")
    channel = PagerDutyChannel("oncall", http, routing_key=key, url=server.url, now=clock)
    for action in ("trigger", "trigger", "acknowledge", "resolve"):
        assert "delivered" == (await channel.send(note(action=action))).outcome
    bodies = [r.json() for r in server.requests]
    assert ["alr_42"] * 4 == [b["dedup_key"] for b in bodies]
    assert {
        "routing_key": key.get_secret_value(),
        "event_action": "acknowledge",
        "dedup_key": "alr_42",
    } == bodies[2]
    assert {
        "routing_key": key.get_secret_value(),
        "event_action": "resolve",
        "dedup_key": "alr_42",
    } == bodies[3]


async def test_pagerduty_summary_is_cut_to_1024(http: HttpPool, server: LoopbackReceiver) -> None:
    """PagerDuty refuses summaries over 1024 characters; a long title is cut, not refused."""
    server.status = 202
    channel = PagerDutyChannel("pd", http, routing_key=SecretStr("k" * 32), url=server.url)
    long = dataclasses.replace(note(), title="x" * 2000)
    await channel.send(long)
    assert 1024 == len(server.requests[0].json()["payload"]["summary"])


async def test_alertmanager_trigger_then_resolve(http: HttpPool, server: LoopbackReceiver) -> None:
    """Alertmanager gets a postableAlert array at /api/v2/alerts; labels are identical on
    trigger and resolve (same alert), and the resolve sets endsAt to now."""
    channel = AlertmanagerChannel("am", http, url=server.url + "/", hold=3600, now=clock)
    assert "delivered" == (await channel.send(note())).outcome
    assert "delivered" == (await channel.send(note(action="resolve"))).outcome
    trigger, resolve = server.requests
    assert "/api/v2/alerts" == trigger.path
    labels = {
        "alertname": "ParamedicIncident",
        "severity": "critical",
        "priority": "P0",
        "service": "engine",
        "kind": "crash",
        "paramedic_alert_id": "alr_42",
    }
    annotations = {
        "summary": note().title,
        "description": note().body,
        "runbook_url": "https://wiki/runbooks/crash",
        "dashboard": "https://grafana/d/rec",
    }
    assert [
        {
            "labels": labels,
            "annotations": annotations,
            "startsAt": "2025-11-25T10:15:23Z",
            "endsAt": "2025-11-25T11:15:23Z",
            "generatorURL": "https://grafana/d/rec",
        }
    ] == trigger.json()
    (resolved,) = resolve.json()
    assert labels == resolved["labels"]
    assert "2025-11-25T10:15:23Z" == resolved["endsAt"]
    assert resolved["startsAt"] == resolved["endsAt"]


async def test_jira_creates_an_issue_on_trigger_only(
    http: HttpPool, server: LoopbackReceiver
) -> None:
    """A trigger creates an issue with basic auth, project, issue type, summary, an ADF
    description, labels and the mapped priority; acknowledge and resolve send nothing."""
    server.status, server.reply = 201, '{"id":"10000","key":"OPS-24"}'
    channel = JiraChannel(
        "tickets",
        http,
        url=server.url,
        project="OPS",
        email="bot@acme.com",
        api_token=SecretStr("jira-api-token-xyz"),
        issue_type="Incident",
    )
    result = await channel.send(note(severity="P2"))
    assert "delivered" == result.outcome
    assert 201 == result.status
    assert "OPS-24" in result.detail
    assert "delivered" == (await channel.send(note(action="acknowledge"))).outcome
    assert "delivered" == (await channel.send(note(action="resolve"))).outcome
    (req,) = server.requests
    assert "/rest/api/3/issue" == req.path
    creds = base64.b64encode(b"bot@acme.com:jira-api-token-xyz").decode()
    assert f"Basic {creds}" == req.headers["Authorization"]
    para = "paragraph"
    assert {
        "fields": {
            "project": {"key": "OPS"},
            "issuetype": {"name": "Incident"},
            "summary": note().title,
            "description": {
                "type": "doc",
                "version": 1,
                "content": [
                    {
                        "type": para,
                        "content": [{"type": "text", "text": "What: engine crashed (SIGSEGV)"}],
                    },
                    {"type": para, "content": [{"type": "text", "text": "Impact: trading halted"}]},
                    {"type": para, "content": [_link("Runbook", "https://wiki/runbooks/crash")]},
                    {"type": para, "content": [_link("Dashboard", "https://grafana/d/rec")]},
                ],
            },
            "labels": ["paramedic", "paramedic-alr_42", "service-engine", "kind-crash"],
            "priority": {"name": "Medium"},
        }
    } == req.json()


def _link(text: str, href: str) -> dict[str, object]:
    return {"type": "text", "text": text, "marks": [{"type": "link", "attrs": {"href": href}}]}


def test_sign_is_hmac_sha256_hex_of_timestamp_and_raw_body() -> None:
    """`sign` is exactly what a receiver recomputes: v1=<hex HMAC-SHA256(secret,
    "v1:<timestamp>:<body>")>."""
    body = b'{"a":1}'
    expected = "v1=" + hmac.new(b"k", b"v1:1700000000:" + body, hashlib.sha256).hexdigest()
    assert expected == sign("k", "1700000000", body)
