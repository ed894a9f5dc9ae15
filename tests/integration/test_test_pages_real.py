"""Scheduled test pages through a real `paramedic run` killed with SIGKILL (issue 15, item 4):
the on-call's pager (a loopback receiver answering 500) has not received its page when
paramedic is killed; the backup's chat has, and is waiting for an acknowledgement. After the
restart the pager's page is delivered once, acknowledged with `paramedic ack` (no P2 for
it), and the chat's unanswered page raises exactly one P2 at its original deadline; a
second kill -9 and restart neither repeats the round nor raises the P2 again.

paramedic runs under libfaketime (Debian `faketime`) with its wall clock set a few seconds
before a whole minute, and monotonic time real: the schedule fires without the test waiting
for a real minute to turn. The offset is kept in a file, the same for every run, so the
wall clock goes on across the restarts as a real one would."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver, Recorded
from tests.integration.runner import (
    OPERATOR_TOKEN,
    RunningParamedic,
    config_file,
    run_cli,
    started,
    until,
)

pytestmark = pytest.mark.integration

ENV = {"OPS_TOKEN": OPERATOR_TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}
ACK_WITHIN_S = 10
LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
LEAD_S = 8  # paramedic's wall clock starts this far before the minute it fires at


def faked_minute(tmp_path: Path) -> tuple[dt.datetime, int, dict[str, str]]:
    """The minute paramedic's test page fires at (on its faked wall clock), the whole
    seconds its clock is ahead of the real one, and the environment that runs it so."""
    now = int(time.time())
    ahead = (60 - LEAD_S - now % 60) % 60
    at = dt.datetime.fromtimestamp(now + ahead + LEAD_S, dt.UTC)
    offset = tmp_path / "faketime"
    offset.write_text(f"+{ahead}\n")
    env = {
        **ENV,
        "LD_PRELOAD": str(LIB),
        "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    return at, ahead, env


def body(pager: str, chat: str, at: dt.datetime) -> str:
    """oncall on `pager`, backup on `chat` (both webhooks: channels that page a person); one
    firing, at `at` (UTC), held to a 10 s acknowledgement."""
    return f"""
channels:
  pager: {{webhook: {{url: "{pager}/pager", secret_env: HOOK_SECRET}}}}
  chat: {{webhook: {{url: "{chat}/chat", secret_env: HOOK_SECRET}}}}
alerting:
  contacts:
    oncall: {{channels: [pager]}}
    backup: {{channels: [chat]}}
test_pages:
  cron: "{at.minute} {at.hour} {at.day} {at.month} *"
  contacts: [oncall, backup]
  deliver_within: 2m
  ack_within: {ACK_WITHIN_S}s
"""


def timeline(p: RunningParamedic, kind: str) -> list[dict[str, Any]]:
    listed = p.get("/api/timeline", params={"limit": 1000}).json()["events"]
    return [e for e in listed if e["kind"] == kind]


def triggers(receiver: LoopbackReceiver) -> list[Recorded]:
    return [r for r in receiver.requests if r.json()["action"] == "trigger"]


async def cli(url: str, *args: str) -> tuple[int, str, str]:
    """`python -m paramedic.cli ARGS` as an operator runs it (token from the environment)."""
    return await run_cli(url, *args)


async def kill9(p: RunningParamedic) -> None:
    p.signal(signal.SIGKILL)
    assert -signal.SIGKILL == await asyncio.to_thread(p.wait, 15)


async def test_kill9_before_delivery_and_during_the_ack_wait_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    """Round recorded, pager failing (500), chat delivered: kill -9. Pager fixed, restart:
    the pager's page (the same id, no new round) is delivered once and `paramedic ack`
    closes it, no P2 for it; the chat's page raises one P2 ("not acknowledged within 10 s")
    no earlier than its delivery + 10 s; kill -9 and restart again: still one round, one
    P2, one delivered trigger per receiver."""
    at, ahead, env = faked_minute(tmp_path)
    firing = at.strftime("%Y%m%dT%H%MZ")
    pager_page = f"test:sched-{firing}-oncall-pager"
    async with LoopbackReceiver(status=500) as pager, LoopbackReceiver() as chat:
        config = config_file(tmp_path, body(pager.url, chat.url, at))
        p = await started(config, env=env)
        try:
            wait_s = LEAD_S + 30
            await until("the round recorded", lambda: timeline(p, "test_page.round"), wait_s)
            await until("the chat's page", lambda: triggers(chat))
            await until("the pager's first 500", lambda: triggers(pager))
            await until("the chat's delivery recorded", lambda: timeline(p, "test_page.delivered"))
            chat_delivered = chat.requests[0].at + ahead  # on paramedic's clock
            raised = timeline(p, "alert.raised")
            assert [] == [e for e in raised if e["payload"]["severity"] == "P2"]
            await kill9(p)
        finally:
            await asyncio.to_thread(p.ensure_dead)

        pager.status = 200
        failed_before = len(triggers(pager))
        p = await started(config, env=env)
        try:
            await until("the pager's page delivered", lambda: len(triggers(pager)) > failed_before)
            code, out, err = await cli(p.url, "ack", pager_page, "-r", "test page seen")
            assert 0 == code, err
            assert f"acknowledged {pager_page}" in out

            def p2s() -> list[dict[str, Any]]:
                raised = timeline(p, "alert.raised")
                return [e for e in raised if e["payload"]["severity"] == "P2"]

            [p2] = await until("the chat's P2", p2s, ACK_WITHIN_S + 15)
            assert (
                p2["payload"]["title"] == "scheduled test page to backup on chat not acknowledged"
            )
            late = p2["wall"] - (chat_delivered + ACK_WITHIN_S)
            print(f"P2 raised {late:.2f} s after its deadline (delivery + {ACK_WITHIN_S} s)")
            assert late >= 0
            assert p2["wall"] < chat_delivered + ACK_WITHIN_S + 5
            await until(
                "the pager's page resolved",
                lambda: any(r.json()["action"] == "resolve" for r in pager.requests),
            )
            await kill9(p)
        finally:
            await asyncio.to_thread(p.ensure_dead)

        p = await started(config, env=env)
        try:
            await until("the checks resumed", lambda: timeline(p, "test_page.delivered"))
            await asyncio.sleep(3)  # a repeated round or P2 would show within a poll or two
            rounds = timeline(p, "test_page.round")
            raised = [e for e in timeline(p, "alert.raised") if e["payload"]["severity"] == "P2"]
            alerts = p.get(
                "/api/alerts", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
            ).json()["alerts"]
            p.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(p.wait, 15)
        finally:
            await asyncio.to_thread(p.ensure_dead)
    assert 1 == len(rounds)
    assert [p2["payload"]["alert_id"]] == [e["payload"]["alert_id"] for e in raised]
    assert 1 == len(triggers(pager)[failed_before:])
    assert 1 == len(triggers(chat))
    by_id = {a["id"]: a for a in alerts}
    pager_alert = by_id[pager_page]
    assert ("resolved", "olga") == (pager_alert["state"], pager_alert["alert"]["ack"]["by"])
    assert "resolved" == by_id[f"test:sched-{firing}-backup-chat"]["state"]
    assert "firing" == by_id[f"tpf_{firing}-backup-chat"]["state"]
