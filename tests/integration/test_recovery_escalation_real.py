"""Escalation during recovery pages people (issue 13, item 2), through a real `paramedic run`,
the example engine as its child and a loopback receiver as the on-call's pager and the team
lead's chat: a recovery slower than 1.5 x its RTO pages the on-call once, naming the trigger
and its facts, and the page resolves when the incident is healthy; a kill -9 of paramedic
after the page pages no one twice, and the recovery it cut off ends in the P0 "Manual
intervention required"."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver, Recorded
from tests.conftest import free_port
from tests.integration.configs import probed_engine
from tests.integration.runner import RunningParamedic, started, until

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
ENV = {"OPS_TOKEN": TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}
MANUAL_RUNBOOK = "https://wiki.example/engine-manual-recovery"
ESCALATION = ":escalation:"


def write_config(tmp_path: Path, hook: str, *, sleep_s: float, exit_code: int = 0) -> Path:
    """engine (examples/engine.py, tier 2) with a 1 s target RTO; its cold recovery first
    runs a command that sleeps `sleep_s` (longer than 1.5 x the RTO), then restarts the
    engine and waits until it is healthy (`exit_code` other than 0: the command fails, and
    with it the only method); one resumption phase, a 300 ms watch period.
    The on-call's pager and the team lead's chat are webhooks to `hook` (/pager, /chat)."""
    port = free_port()
    path = tmp_path / "paramedic.yaml"
    sleep = f"import time; time.sleep({sleep_s}); raise SystemExit({exit_code})"
    path.write_text(
        f"""
api:
  listen: 127.0.0.1:{free_port()}
  tokens: [{{name: olga, role: operator, token_env: OPS_TOKEN}}]
store: {{path: var/p.db}}
channels:
  pagerduty: {{webhook: {{url: "{hook}/pager", secret_env: HOOK_SECRET}}}}
  slack: {{webhook: {{url: "{hook}/chat", secret_env: HOOK_SECRET}}}}
recovery:
  target_rto: 1s
  watch_period: 300ms
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
services:
{probed_engine(port, tier=2)}    recovery:
      methods:
        cold:
          steps:
            - {{name: Rebuild state, timeout: 30s,
                command: {{argv: [{sys.executable!r}, "-c", "{sleep}"]}}}}
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s}}
        manual: {{runbook: "{MANUAL_RUNBOOK}"}}
      resumption: {{phases: [{{name: normal, size_multiplier: 1.0}}]}}
"""
    )
    return path


def events(p: RunningParamedic, kind: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = p.get("/api/timeline", params={"limit": 1000}).json()["events"]
    return [e for e in listed if e["kind"] == kind]


class Inbox:
    """What the loopback receiver got, in arrival order."""

    def __init__(self, hook: LoopbackReceiver) -> None:
        self.hook = hook

    async def next(self, path: str, action: str, kind: str = ESCALATION) -> dict[str, Any]:
        """The next request on `path` of `action` for an alert id containing `kind`."""
        while True:
            got: Recorded = await asyncio.wait_for(self.hook.next_request(), 30)
            body = got.json()
            if got.path == path and body["action"] == action and kind in body["alert_id"]:
                return body

    def received(self) -> list[dict[str, Any]]:
        """Every request the receiver got so far, taken or not."""
        return [{**r.json(), "path": r.path} for r in self.hook.requests]

    def escalation_keys(self) -> dict[str, set[str]]:
        """Every escalation trigger received: alert id -> its idempotency keys."""
        out: dict[str, set[str]] = {}
        for body in self.received():
            if body["action"] == "trigger" and ESCALATION in body["alert_id"]:
                out.setdefault(body["alert_id"], set()).add(body["idempotency_key"])
        return out

    def triggers(self, alert_id: str) -> list[dict[str, Any]]:
        got = self.received()
        return [b for b in got if b["alert_id"] == alert_id and b["action"] == "trigger"]


def kill_engine(p: RunningParamedic) -> None:
    [pid] = [e["payload"]["pid"] for e in events(p, "process.spawned")][-1:]
    os.kill(pid, signal.SIGKILL)


@asynccontextmanager
async def running(config: Path) -> AsyncIterator[RunningParamedic]:
    p = await started(config, env=ENV)
    try:
        yield p
    finally:
        await asyncio.to_thread(p.ensure_dead)


async def test_a_recovery_slower_than_its_rto_pages_the_on_call_once_with_its_facts(
    tmp_path: Path,
) -> None:
    """kill -9 the engine; the recovery's first step sleeps 2.5 s against a 1 s RTO: at
    1.5 s `rto_exceeded` is recorded and the on-call's pager gets ONE page naming it, the
    reason, the RTO target against the outage and the incident; nobody above the on-call
    (the outage is seconds old). The recovery then succeeds; at HEALTHY the page resolves
    saying so, and it was never sent twice."""
    async with (
        LoopbackReceiver() as hook,
        running(write_config(tmp_path, hook.url, sleep_s=2.5)) as p,
    ):
        await until("the engine up", lambda: events(p, "service.up"))
        kill_engine(p)
        inbox = Inbox(hook)
        page = await inbox.next("/pager", "trigger")
        [escalated] = events(p, "escalation.triggered")
        [opened] = events(p, "incident.opened")
        incident = opened["payload"]["incident"]
        assert "rto_exceeded" == escalated["payload"]["trigger"]
        assert 1.0 == escalated["payload"]["rto_target_s"]
        assert f"{incident}:escalation:{escalated['id']}" == page["alert_id"]
        assert ("P1", "oncall") == (page["severity"], page["labels"]["receiver"])
        assert ("rto_exceeded", "oncall") == (
            page["labels"]["trigger"],
            page["labels"]["escalation_level"],
        )
        assert page["title"].startswith(
            f"[P1] engine: escalation: recovery over its RTO by 50%, incident {incident}, down "
        )
        fields = page["fields"]
        assert fields["what"] == f"rto_exceeded: {escalated['payload']['reason']}"
        assert "over 1.5 x the target RTO of 1 s" in fields["what"]
        assert re.search(
            r"RTO target 1 s, outage [\d.]+ s \([\d.]+x the target\)", fields["actions"]
        )
        assert "decided: " in fields["actions"]
        assert re.match(r"engine out for [\d.]+ s since 20", fields["impact"]), fields["impact"]
        assert "crash: " in fields["impact"]

        resolved = await inbox.next("/pager", "resolve")
        assert page["alert_id"] == resolved["alert_id"]
        assert resolved["fields"]["status"].startswith(
            f"resolved by paramedic: incident {incident} recovered: "
        )
        moves = [e["payload"]["to_state"] for e in events(p, "incident.transitioned")]
        assert "HEALTHY" == moves[-1], moves
        assert {page["alert_id"]: {page["idempotency_key"]}} == inbox.escalation_keys()
        assert 1 == len(inbox.triggers(page["alert_id"]))
        chat = [b for b in inbox.received() if b["path"] == "/chat"]
        assert [] == [b for b in chat if ESCALATION in b["alert_id"]]
        p.signal(signal.SIGTERM)
        assert 0 == await asyncio.to_thread(p.wait, 15)


async def test_after_a_kill_9_no_level_is_paged_twice_and_the_cut_off_recovery_pages_manual(
    tmp_path: Path,
) -> None:
    """The RTO page is out while the 6 s step still runs; paramedic is killed with SIGKILL
    and started again on the same store. The restart ends the orphaned step and, since it
    cannot know whether it completed, hands the incident to a human: the on-call's pager
    gets the P0 "Manual intervention required" (what was tried, the manual runbook, the
    command that resolves it). The RTO page is never sent again (only a resend of an
    unknown delivery under its own key could repeat it). Resolving the incident by hand
    resolves both pages."""
    async with LoopbackReceiver() as hook:
        config = write_config(tmp_path, hook.url, sleep_s=6.0)
        inbox = Inbox(hook)
        async with running(config) as first:
            await until("the engine up", lambda: events(first, "service.up"))
            kill_engine(first)
            rto_page = await inbox.next("/pager", "trigger")
            [opened] = events(first, "incident.opened")
            incident = opened["payload"]["incident"]
            first.proc.kill()
            await asyncio.to_thread(first.wait, 15)
        async with running(config) as second:
            manual = await inbox.next("/pager", "trigger")
            assert rto_page["alert_id"] != manual["alert_id"]
            escalations = events(second, "escalation.triggered")
            assert ["rto_exceeded", "recovery_failed"] == [
                e["payload"]["trigger"] for e in escalations
            ]
            assert f"{incident}:escalation:{escalations[1]['id']}" == manual["alert_id"]
            assert "P0" == manual["severity"]
            assert "automated recovery failed - Manual intervention required" in manual["title"]
            fields = manual["fields"]
            assert fields["status"].startswith("manual recovery: automation stopped")
            assert "paramedic restarted during step 1/3" in fields["what"]
            assert f"paramedic resolve-incident {incident} --url " in fields["actions"]
            assert MANUAL_RUNBOOK == fields["runbook"]

            answer = second.post(
                f"/api/incidents/{incident}/resolve",
                json={"reason": "state rebuilt by hand"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert 200 == answer.status_code, answer.text
            ends = {(await inbox.next("/pager", "resolve"))["alert_id"] for _ in range(2)}
            assert {rto_page["alert_id"], manual["alert_id"]} == ends
            assert {
                rto_page["alert_id"]: {rto_page["idempotency_key"]},
                manual["alert_id"]: {manual["idempotency_key"]},
            } == inbox.escalation_keys()
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 15)


async def test_a_recovery_that_fails_to_manual_pages_what_was_tried_and_where_the_state_is(
    tmp_path: Path,
) -> None:
    """The cold recovery's first step exits 3: the method failed, the failed state is
    preserved, no automatic method is left, the incident goes to manual recovery. The
    on-call's pager gets ONE P0 "Manual intervention required" saying what was tried (cold,
    failed, with its sentence), where the state was preserved (the snapshot folder that
    exists on disk), the manual runbook and how to resolve the incident."""
    config = write_config(tmp_path, "", sleep_s=0, exit_code=3)
    async with LoopbackReceiver() as hook:
        config.write_text(config.read_text().replace('url: "/', f'url: "{hook.url}/'))
        async with running(config) as p:
            await until("the engine up", lambda: events(p, "service.up"))
            kill_engine(p)
            inbox = Inbox(hook)
            page = await inbox.next("/pager", "trigger")
            [escalated] = events(p, "escalation.triggered")
            [finished] = events(p, "recovery.finished")
            assert "recovery_failed" == escalated["payload"]["trigger"]
            assert "P0" == page["severity"]
            assert "automated recovery failed - Manual intervention required" in page["title"]
            actions = page["fields"]["actions"]
            assert "tried cold: failed after " in actions
            assert finished["payload"]["reason"] in actions
            [folder] = (tmp_path / "var" / "snapshots").iterdir()
            assert f"preserved state: {folder}" in actions
            assert (folder / "manifest.json").is_file()
            assert MANUAL_RUNBOOK == page["fields"]["runbook"]
            assert page["fields"]["status"].startswith("manual recovery: automation stopped")
            p.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(p.wait, 15)
        assert {page["alert_id"]: {page["idempotency_key"]}} == inbox.escalation_keys()
        assert 1 == len(inbox.triggers(page["alert_id"]))
