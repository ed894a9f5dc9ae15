"""A rate-limit summary of alerts that still fire is a trigger that reads as one, on every
channel kind that renders text (Slack, PagerDuty, webhook), and is resolved there, under the
same key, once the last alert it names has resolved. Real channels, loopback receivers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.alerting.channels.pagerduty import PagerDutyChannel
from paramedic.alerting.channels.slack import SlackChannel
from paramedic.alerting.channels.webhook import WebhookChannel
from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.checks import HttpPool
from paramedic.config.alerting import AlertingConfig
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock

pytestmark = pytest.mark.integration

TITLE = (
    "[P3] 2 more P2/P3 alerts suppressed in the last 1 min:"
    " [P3] disk filling on db-2; [P3] disk filling on db-3"
)


def p3(n: int) -> Alert:
    return Alert(
        id=f"disk-{n}",
        type="disk_full",
        source=f"db-{n}",
        severity="P3",
        title=f"disk filling on db-{n}",
        labels={"service": f"db-{n}", "kind": "disk_full"},
        what="/var/lib 91% full",
    )


@pytest.fixture
async def receivers() -> AsyncIterator[dict[str, LoopbackReceiver]]:
    async with (
        LoopbackReceiver() as slack,
        LoopbackReceiver(status=202, reply='{"status":"success"}') as pd,
        LoopbackReceiver() as hook,
    ):
        yield {"slack": slack, "pagerduty": pd, "hook": hook}


async def next_json(receiver: LoopbackReceiver) -> Any:
    return (await asyncio.wait_for(receiver.next_request(), 10)).json()


async def test_a_summary_of_firing_alerts_triggers_then_resolves_with_them(
    tmp_path: Path, http: HttpPool, receivers: dict[str, LoopbackReceiver]
) -> None:
    """Rate limit 1 per 60 s: db-1 pages, db-2 and db-3 are held. After the window the
    summary goes out on each channel: a trigger, titled without "RESOLVED" (Slack's text,
    its attachment's first line, PagerDuty's summary, the webhook's title and body). When
    db-2 resolves nothing changes; when db-3 resolves, each channel gets the summary's
    resolve, PagerDuty under the summary's dedup_key."""
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    clock = FakeClock()
    config = AlertingConfig.model_validate(
        {
            "contacts": {"ops": {"channels": ["slack", "pagerduty", "hook"]}},
            "routes": {"routes": [{"matchers": ["severity=~P2|P3"], "receivers": ["ops"]}]},
            "grouping": {"severities": []},
            "rate_limit": {"max_per_receiver": 1, "window": "60s"},
            "escalation": {"policies": {}},
            "replace_defaults": True,  # only ops hears of it, as this test means
        }
    )
    r = receivers
    channels = {
        "slack": SlackChannel(
            "slack", http, webhook_url=SecretStr(r["slack"].url + "/services/T0/B0/x")
        ),
        "pagerduty": PagerDutyChannel(
            "pagerduty", http, routing_key=SecretStr("R" * 32), url=r["pagerduty"].url
        ),
        "hook": WebhookChannel("hook", http, url=r["hook"].url, secret=SecretStr("s" * 20)),
    }
    tasks: set[asyncio.Task[Any]] = set()
    service = AlertingService(
        config,
        clock=clock,
        store=store,
        channels=channels,
        submit=lambda events: None,
        job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
    )
    outbox = asyncio.create_task(service.outbox.run())
    try:
        for n in (1, 2, 3):
            await service.raise_alert(p3(n))
        for name in ("slack", "pagerduty", "hook"):  # db-1, within the budget
            await next_json(r[name])
        clock.advance(61)
        assert 3 == await service.flush_summaries()

        slack, pd, hook = [await next_json(r[name]) for name in ("slack", "pagerduty", "hook")]
        assert TITLE == slack["text"]
        assert f"*{TITLE}*" == slack["attachments"][0]["text"].splitlines()[0]
        assert ("trigger", TITLE) == (pd["event_action"], pd["payload"]["summary"])
        assert ("trigger", TITLE) == (hook["action"], hook["title"])
        assert hook["body"].startswith(f"Subject: {TITLE}\n")
        for text in (str(slack), str(pd), str(hook)):
            assert "RESOLVED" not in text
            assert "(resolved)" not in text
        summary_id = pd["dedup_key"]
        assert "firing" == service.alerts[summary_id].state

        await service.resolve("disk-2", by="paramedic", why="space freed")
        assert summary_id in service.alerts  # db-3 still fires
        await service.resolve("disk-3", by="paramedic", why="space freed")
        assert summary_id not in service.alerts
        slack, pd, hook = [await next_json(r[name]) for name in ("slack", "pagerduty", "hook")]
        assert slack["text"].startswith("Resolved: [P3] RESOLVED 2 more P2/P3 alerts")
        assert {"routing_key": "R" * 32, "event_action": "resolve", "dedup_key": summary_id} == pd
        assert ("resolve", summary_id) == (hook["action"], hook["alert_id"])
        row = await store.get_alert(summary_id)
        assert row is not None
        assert "resolved" == row.state
    finally:
        outbox.cancel()
        await asyncio.gather(outbox, *tasks, return_exceptions=True)
        await store.close()
