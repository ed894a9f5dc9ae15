"""What the README promises is what a default config does.

The README's alerting example (its YAML block, read from README.md here so the README cannot
drift) is run as is: first in a real `paramedic run` whose PagerDuty, Slack and phone
channels point at loopback receivers through the environment variables the example reads,
for the pages at t=0; then through the alerting pipeline on a FakeClock with the same real
channels and receivers, for each rung of the README's table (two hours of ladder in a second).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from paramedic.alerting.channels import build_channels
from paramedic.alerting.channels.log import LogChannel
from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.alerting.service import AlertingService
from paramedic.checks import HttpPool
from paramedic.config import parse_config
from paramedic.core.failure_events import FailureDetected
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock
from tests.conftest import free_port
from tests.integration.configs import tier1_engine
from tests.integration.runner import RunningParamedic

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
TOKEN = "operator-token-0123456789"
MIN = 60.0
Page = tuple[float, str, str]  # (minutes after the failure, contact, channel)

ENGINE = tier1_engine()


def readme_section() -> str:
    text = README.read_text("utf-8")
    start = text.index("## Who hears about it")
    return text[start : text.index("\n## ", start + 1)]


def readme_example() -> str:
    """The YAML block of the README's alerting section, as a user would copy it."""
    match = re.search(r"```yaml\n(.*?)```", readme_section(), re.S)
    assert match is not None, "the README's alerting section has no yaml example"
    return match[1]


def readme_table(contacts: dict[str, list[str]]) -> set[Page]:
    """Every (minute, contact, channel) the README's P0 table promises. Contacts and channels
    are the backquoted names; "all of theirs" is every channel of that contact; a row with
    several times pairs them with its contacts in order."""
    pages: set[Page] = set()
    for line in readme_section().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not re.match(r"^\d", cells[0]):
            continue
        times = [float(t) for t in re.findall(r"\d+", cells[0])]
        who = re.findall(r"`([^`]+)`", cells[1])
        how = re.findall(r"`([^`]+)`", cells[2])
        if len(times) > 1:
            assert len(times) == len(who), line
            pairs = list(zip(times, who, strict=True))
        else:
            pairs = [(times[0], contact) for contact in who]
        for minute, contact in pairs:
            for channel in how or contacts[contact]:
                pages.add((minute, contact, channel))
    assert pages, "the README's alerting section has no P0 table"
    return pages


def channel_of(key: str) -> str:
    """The channel a notification was meant for (before any fallback to the log): the
    idempotency key is `alert:action:receiver:channel:level`."""
    return key.rsplit(":", 2)[1]


@asynccontextmanager
async def receivers() -> AsyncIterator[tuple[dict[str, LoopbackReceiver], dict[str, str]]]:
    """Loopback stand-ins for PagerDuty, Slack and the phone (Apprise json://), and the
    environment that points the README's channels at them."""
    async with AsyncExitStack() as stack:
        got = {
            "pagerduty": await stack.enter_async_context(
                LoopbackReceiver(status=202, reply='{"status":"success"}')
            ),
            "slack": await stack.enter_async_context(LoopbackReceiver()),
            "phone": await stack.enter_async_context(LoopbackReceiver()),
        }
        env = {
            "PAGERDUTY_ROUTING_KEY": "R0UTINGKEY0123456789abcdef012345",
            "PAGERDUTY_EVENTS_URL": f"{got['pagerduty'].url}/v2/enqueue",
            "SLACK_WEBHOOK_URL": f"{got['slack'].url}/services/T0/B0/x",
            "TWILIO_APPRISE_URL": f"json://127.0.0.1:{got['phone'].port}/call",
            "OPS_TOKEN": TOKEN,
        }
        yield got, env


def contacts_of(yaml_text: str, env: dict[str, str]) -> dict[str, list[str]]:
    config = parse_config(yaml_text, env=env)
    return {name: list(c.channels) for name, c in config.alerting.contacts.items()}


async def wait_for_alert(client: httpx.AsyncClient, count: int) -> dict[str, Any]:
    """Poll paramedic's API (another process: no event to wait on) until the P0 lists
    `count` notifications with an attempt each."""
    async with asyncio.timeout(15):
        while True:
            alerts = (await client.get("/api/alerts")).json()["alerts"]
            notifications = alerts[0]["notifications"] if alerts else []
            if len(notifications) >= count and all(n["attempts"] for n in notifications):
                return dict(alerts[0])
            await asyncio.sleep(0.05)


async def test_readme_example_pages_at_t0_what_its_table_says(tmp_path: Path) -> None:
    """A real `paramedic run` of the README's example and a tier-1 engine: kill -9 the
    engine; at once the on-call is paged on PagerDuty and the team is told on Slack (the
    compliance email goes to the log, no email channel being configured); nobody else: the
    phone, which later rungs use, stays silent."""
    async with receivers() as (got, env):
        yaml_text = readme_example() + ENGINE
        promised = readme_table(contacts_of(yaml_text, env))
        at_once = {(contact, channel) for minute, contact, channel in promised if minute == 0}
        assert {("oncall", "pagerduty"), ("team", "slack"), ("compliance", "email")} == at_once
        config = tmp_path / "paramedic.yaml"
        config.write_text(
            f"api:\n  listen: 127.0.0.1:{free_port()}\n"
            "  tokens: [{name: olga, role: operator, token_env: OPS_TOKEN}]\n"
            "store: {path: var/p.db}\n" + yaml_text
        )
        p = RunningParamedic(config, env=env)
        try:
            await asyncio.to_thread(p.wait_started)
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=p.url, headers=auth, timeout=5) as client:
                # Children are spawned (and recorded) before paramedic announces its API.
                [engine] = await asyncio.to_thread(p.child_pids)
                os.kill(engine, signal.SIGKILL)
                trigger = (await asyncio.wait_for(got["pagerduty"].next_request(), 15)).json()
                await asyncio.wait_for(got["slack"].next_request(), 15)
                alert = await wait_for_alert(client, len(at_once))
            assert ("P0", "trigger") == (alert["severity"], trigger["event_action"])
            sent = {
                (n["receiver"], channel_of(n["idempotency_key"])) for n in alert["notifications"]
            }
            assert at_once == sent
            via = {n["receiver"]: n["channel"] for n in alert["notifications"]}
            assert "log" == via["compliance"]  # no email channel: the log, as config check warns
            first = min(a["at"] for n in alert["notifications"] for a in n["attempts"])
            last = max(a["at"] for n in alert["notifications"] for a in n["attempts"])
            assert last - first < 1.0  # all three at t=0, not on a rung
            assert 1 == len(got["pagerduty"].requests)
            assert 1 == len(got["slack"].requests)
            assert [] == got["phone"].requests
        finally:
            p.ensure_dead()


async def test_readme_example_ladder_pages_each_rung_at_the_time_in_its_table(
    tmp_path: Path,
) -> None:
    """The README's example through the alerting pipeline on a FakeClock, with its real
    channels and the loopback receivers: nobody acknowledges a tier-1 crash; at each minute
    of the README's table exactly the promised contacts are notified on the promised
    channels, and each receiver gets exactly that many requests at that minute."""
    async with receivers() as (got, env):
        yaml_text = readme_example() + ENGINE
        config = parse_config(yaml_text, env=env)
        promised = readme_table(contacts_of(yaml_text, env))
        store = SQLiteStore(tmp_path / "p.db")
        await store.open()
        http = HttpPool()
        channels = build_channels(config.channels, http)
        channels.setdefault("log", LogChannel("log"))
        clock = FakeClock()
        tasks: set[asyncio.Task[Any]] = set()
        service = AlertingService(
            config.alerting,
            clock=clock,
            store=store,
            channels=channels,
            submit=lambda events: None,
            job=lambda coro: tasks.add(asyncio.ensure_future(coro)),
            service_facts=lambda name: (config.services[name].tier, {}, ""),
        )
        runner = asyncio.create_task(service.outbox.run())
        try:
            start = clock.now()
            alert = await service.raise_for_failure(
                FailureDetected(
                    at=start,
                    service="engine",
                    incident="inc_readme",
                    failure_kind="crash",
                    reason="pid 4242 killed by SIGKILL after 12.345 s",
                    source="process",
                )
            )
            assert "P0" == alert.severity
            arrived: Counter[tuple[float, str]] = Counter()
            for minute in sorted({m for m, _, _ in promised}):
                clock.advance(start.mono + minute * MIN - clock.monotonic())
                for name, receiver in got.items():
                    expected = sum(1 for m, _, ch in promised if m == minute and ch == name)
                    for _ in range(expected):
                        await asyncio.wait_for(receiver.next_request(), 10)
                        arrived[(minute, name)] += 1
            await asyncio.gather(*tasks)
            rows = await store.notifications_for(alert.id)
            sent = {
                (
                    round((row.created_wall - start.wall) / MIN, 6),
                    row.payload["labels"]["receiver"],
                    channel_of(row.idempotency_key),
                )
                for row in rows
                if row.action == "trigger"
            }
            assert promised == sent
            for name, receiver in got.items():  # nothing more than the table, anywhere
                assert 0 == receiver._arrived.qsize(), name
            assert sum(arrived.values()) == sum(len(r.requests) for r in got.values())
        finally:
            runner.cancel()
            await asyncio.gather(runner, *tasks, return_exceptions=True)
            await service.close()
            await http.close()
            await store.close()
