"""Approval requests page the approvers (issue 13, item 1), through a real `paramedic run`, the
example engine as its child and loopback receivers as the approvers' pager and chat: the page
arrives within 50 ms of the request, the CLI command it quotes approves it, the recovery runs,
and the page is resolved; a timeout resolves it too, saying so; a kill -9 of paramedic while
the page is open loses nothing."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver, Recorded
from paramedic.core.text import duration
from tests.conftest import free_port
from tests.integration.configs import probed_engine
from tests.integration.runner import RunningParamedic, started, until

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
ENV = {"OPS_TOKEN": TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}
CONSOLE = "http://console.example/incidents"


def write_config(tmp_path: Path, hook: str, timeout: str) -> Path:
    """engine (examples/engine.py, tier 1): a cold restart needs a human's approval at any
    time; the on-call's pager and the team lead's Slack are webhooks to `hook`
    (/pager, /chat); the approvers are the default (on-call and team lead)."""
    port = free_port()
    path = tmp_path / "paramedic.yaml"
    path.write_text(
        f"""
api:
  listen: 127.0.0.1:{free_port()}
  tokens: [{{name: olga, role: operator, token_env: OPS_TOKEN}}]
store: {{path: var/p.db}}
dashboard_url: {CONSOLE}
channels:
  pagerduty: {{webhook: {{url: "{hook}/pager", secret_env: HOOK_SECRET}}}}
  slack: {{webhook: {{url: "{hook}/chat", secret_env: HOOK_SECRET}}}}
recovery:
  approval:
    timeout: {timeout}
    require: {{market_open: [cold, manual], market_closed: [cold, manual]}}
services:
{probed_engine(port, tier=1)}    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s}}
"""
    )
    return path


def events(p: RunningParamedic, kind: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = p.get("/api/timeline", params={"limit": 1000}).json()["events"]
    return [e for e in listed if e["kind"] == kind]


class Inbox:
    """What the loopback receiver got, taken in arrival order by what a test waits for."""

    def __init__(self, hook: LoopbackReceiver) -> None:
        self.hook = hook
        self.seen: list[Recorded] = []

    async def next(self, path: str, action: str, kind: str = ":approval:") -> Recorded:
        """The next request on `path` of `action` for an alert id containing `kind`."""
        while True:
            got = await asyncio.wait_for(self.hook.next_request(), 20)
            self.seen.append(got)
            body = got.json()
            if got.path == path and body["action"] == action and kind in body["alert_id"]:
                return got


@asynccontextmanager
async def crashed_and_asked(
    tmp_path: Path, approval_timeout: str
) -> AsyncIterator[tuple[RunningParamedic, Inbox, str, Recorded]]:
    """paramedic runs the engine; the engine is killed; yields paramedic, the inbox, the
    incident and the pager's approval page."""
    async with LoopbackReceiver() as hook:
        p = await started(write_config(tmp_path, hook.url, approval_timeout), env=ENV)
        try:
            await until("the engine up", lambda: events(p, "service.up"))
            [pid] = [e["payload"]["pid"] for e in events(p, "process.spawned")]
            os.kill(pid, signal.SIGKILL)
            inbox = Inbox(hook)
            page = await inbox.next("/pager", "trigger")
            [asked] = events(p, "approval.requested")
            yield p, inbox, asked["payload"]["incident"], page
            p.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(p.wait, 15)
        finally:
            await asyncio.to_thread(p.ensure_dead)


def quoted_command(page: dict[str, Any], verb: str) -> str:
    """The `paramedic <verb> ...` command the page tells the approver to run."""
    [line] = [a for a in page["body"].splitlines() if a.startswith(f"  - {verb}: paramedic ")]
    return line.removeprefix(f"  - {verb}: ")


async def test_the_approver_is_paged_at_once_and_the_quoted_cli_command_approves(
    tmp_path: Path,
) -> None:
    """kill -9 the engine: the cold restart needs approval. Within 50 ms of approval.requested
    (on the timeline) the on-call's pager has the page: P0 like the crash, asking the
    decision with its sentence, the deadline, the timeout's consequence, the API call and
    the console; the team lead's chat has it too. Running the exact CLI command the page
    quotes (token in the environment) approves it, the recovery runs, and both receivers
    get the resolve naming olga."""
    async with crashed_and_asked(tmp_path, "5m") as (p, inbox, incident, got):
        page = got.json()
        [asked] = events(p, "approval.requested")
        [decided] = events(p, "recovery.decided")
        late_ms = (got.at - asked["wall"]) * 1000
        print(
            f"approval page {late_ms:.1f} ms after approval.requested,"
            f" {(got.at - decided['wall']) * 1000:.1f} ms after recovery.decided"
        )
        # The acceptance is 50 ms (measured: 3-12 ms); a machine busier than its cores
        # (another suite, a benchmark) gets more room, the figure is printed either way.
        busy = os.getloadavg()[0] > (os.cpu_count() or 1)
        assert late_ms < (250 if busy else 50), late_ms
        assert ("P0", "oncall") == (page["severity"], page["labels"]["receiver"])
        fields = page["fields"]
        assert fields["what"] == (
            f"Approve a cold recovery of engine? {asked['payload']['sentence']}"
        )
        assert fields["status"].startswith("awaiting approval until 20")
        assert "left)" in fields["status"]
        assert "on timeout (5 min) no action is taken" in fields["impact"]
        assert f"API: POST {p.url}/api/incidents/{incident}/approve" in fields["actions"]
        assert "Authorization: Bearer <operator token>" in fields["actions"]
        assert f"console: {CONSOLE}" in fields["actions"]
        chat = (await inbox.next("/chat", "trigger")).json()
        assert ("team-lead", page["alert_id"]) == (chat["labels"]["receiver"], chat["alert_id"])

        command = quoted_command(page, "approve")
        assert command == (
            f"paramedic approve {incident} --url {p.url} --reason 'approved from the page'"
        )
        bin_dir = str(Path(sys.executable).parent)
        ran = await asyncio.to_thread(
            subprocess.run,
            shlex.split(command),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PARAMEDIC_TOKEN": TOKEN},
        )
        assert (0, f"approved {incident}\n") == (ran.returncode, ran.stdout), ran.stderr

        resolved = (await inbox.next("/pager", "resolve")).json()
        assert page["alert_id"] == resolved["alert_id"]
        assert resolved["fields"]["status"] == (
            "resolved by olga: approved cold: approved from the page; the recovery runs"
        )
        assert "resolve" == (await inbox.next("/chat", "resolve")).json()["action"]
        await until("the recovery finished", lambda: events(p, "recovery.finished"))
        [finished] = events(p, "recovery.finished")
        assert finished["payload"]["ok"], finished
        [granted] = events(p, "approval.granted")
        assert "olga" == granted["payload"]["by"]


async def test_a_timeout_resolves_the_page_with_the_timeout_follow_up(tmp_path: Path) -> None:
    """approval.timeout 300ms and nobody answers: the page is resolved on both receivers,
    saying it timed out and that the request stays open; nothing ran."""
    async with crashed_and_asked(tmp_path, "300ms") as (p, inbox, _, page):
        assert "timeout (300 ms)" in page.json()["fields"]["impact"]
        resolved = (await inbox.next("/pager", "resolve")).json()
        [timed_out] = events(p, "approval.timed_out")
        waited = duration(timed_out["payload"]["waited_s"])  # 300 ms and the timer's lag
        assert resolved["fields"]["status"] == (
            f"resolved by paramedic: timed out: no answer on cold within {waited}; no action"
            " taken, escalating; the request stays open: approving or rejecting it still works"
        )
        assert (
            resolved["fields"]["status"]
            == (await inbox.next("/chat", "resolve")).json()["fields"]["status"]
        )
        assert [] == events(p, "recovery.step_started")


async def test_after_a_kill_9_of_paramedic_the_open_page_is_rebuilt_and_resolved(
    tmp_path: Path,
) -> None:
    """The page is out; paramedic is killed with SIGKILL and started again on the same
    store (it starts the engine again; the request still waits). A rejection through the API
    of the second paramedic resolves the page the first one raised, known to the second
    from the store alone; no second page for the request (a resend keeps its key)."""
    async with LoopbackReceiver() as hook:
        config = write_config(tmp_path, hook.url, "5m")
        p = await started(config, env=ENV)
        second: RunningParamedic | None = None
        try:
            await until("the engine up", lambda: events(p, "service.up"))
            [pid] = [e["payload"]["pid"] for e in events(p, "process.spawned")]
            os.kill(pid, signal.SIGKILL)
            inbox = Inbox(hook)
            page = (await inbox.next("/pager", "trigger")).json()
            await inbox.next("/chat", "trigger")
            incident = page["alert_id"].split(":")[0]
            p.proc.kill()
            await asyncio.to_thread(p.wait, 15)
            second = await started(config, env=ENV)
            await until("the engine up again", lambda: events(second, "failure.cleared"))
            answer = second.post(
                f"/api/incidents/{incident}/reject",
                json={"reason": "not now"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert 200 == answer.status_code, answer.text
            resolved = (await inbox.next("/pager", "resolve")).json()
            assert page["alert_id"] == resolved["alert_id"]
            assert resolved["fields"]["status"] == (
                "resolved by olga: rejected cold: not now; a human recovers the service"
            )
            await inbox.next("/chat", "resolve")
            # A delivery cut off by the kill before its outcome was recorded is sent again
            # under its key (at least once, docs/alerting.md): the same two keys, no new page.
            keys = {
                r.json()["idempotency_key"]
                for r in inbox.seen
                if r.json()["action"] == "trigger" and ":approval:" in r.json()["alert_id"]
            }
            assert {
                f"{page['alert_id']}:trigger:oncall:pagerduty:0",
                f"{page['alert_id']}:trigger:team-lead:slack:0",
            } == keys
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 15)
        finally:
            await asyncio.to_thread(p.ensure_dead)
            if second is not None:
                await asyncio.to_thread(second.ensure_dead)
