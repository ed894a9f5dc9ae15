"""`paramedic preflight` on the demo trading floor (examples/floor/floor.yaml, as `make demo`
runs it, on free ports), through a real `paramedic run` and the real CLI.

The floor's on-call is paged on its inbox (the floor's own `inbox` service, paramedic's signed
webhook) and the log. One successful drill per tier-1 service, then `preflight --send-test`
passes every item and the test page is on the inbox. Then the same paramedic (same store: its
drills and the delivered test page stay on record) is restarted with the inbox channel's URL
on a port nobody listens on: `preflight --send-test` exits 1, the alerts item names the
channel and the connection error, and every other item keeps its verdict.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

import httpx
import pytest

from paramedic.alerting.channels.webhook import sign
from tests.conftest import REPO, free_port
from tests.integration.runner import RunningParamedic, started, until, wait_until
from tests.integration.test_floor_drills import (
    FLOOR,
    PORTS,
    TOKEN,
    drill,
    floor,
    get,
    open_incidents,
)

pytestmark = pytest.mark.integration

ITEMS = ("monitoring", "alerts", "dashboards", "on_call", "escalation")


async def preflight(p: RunningParamedic) -> tuple[int, dict[str, dict[str, Any]]]:
    """`paramedic preflight --send-test --json` (the real CLI): exit code, items by name."""
    env = {**os.environ, "PARAMEDIC_URL": p.url, "PARAMEDIC_TOKEN": TOKEN}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paramedic.cli", "preflight", "--send-test", "--json",
        env=env, stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    body = json.loads(out)
    assert body["ok"] == (proc.returncode == 0), err.decode()
    return proc.returncode or 0, {i["name"]: i for i in body["items"]}


def inbox(urls: dict[str, str]) -> list[dict[str, Any]]:
    """What the on-call's pager showed (the inbox's GET /messages)."""
    messages: list[dict[str, Any]] = get(f"{urls['inbox']}/messages")["messages"]
    return messages


async def test_preflight_passes_on_the_demo_then_fails_the_inbox_on_a_dead_port(
    tmp_path: Path,
) -> None:
    """On the floor: a crash drill of each tier-1 service (engine hot; gateway and exchange
    cold, approved through the API) ends HEALTHY, its DRILL pages on the inbox; then
    `preflight --send-test --json` exits 0 with all five items ok, and the inbox shows the
    TEST page to oncall. Restarted on the same store with the inbox channel on a dead port:
    exit 1; alerts fails, its sentence naming the inbox channel and the refused connection;
    monitoring, dashboards, on_call and escalation keep their verdicts, on_call still naming
    the page the inbox got before (the new one reached only the log, which is nobody) and
    escalation the drills on record; nothing new reaches the inbox."""
    async with floor(tmp_path) as (p, urls):
        await until("the standby synced", lambda: get(f"{urls['standby']}/standby")["synced"])
        for service, approve in (("engine", False), ("gateway", True), ("exchange", True)):
            report = await drill(p, service, "crash", approve=approve)
            assert ("HEALTHY", True) == (report["outcome"], report["ok"]), (service, report)
            await until("no incident open", lambda: not open_incidents(p), within=30)
        drilled = {
            m["labels"].get("service")
            for m in inbox(urls)
            if m["said"] == "PAGE" and "[DRILL]" in m["title"] and m["receiver"] == "oncall"
        }
        assert {"exchange", "engine", "gateway"} <= drilled, inbox(urls)
        before = len(inbox(urls))
        code, items = await preflight(p)
        assert (0, dict.fromkeys(ITEMS, True)) == (code, {n: i["ok"] for n, i in items.items()})
        assert "P0 -> inbox; P1 -> inbox" in items["alerts"]["sentence"]
        assert items["on_call"]["sentence"].startswith("last test page delivered: oncall at ")
        for service in ("exchange", "engine", "gateway"):
            assert service in items["escalation"]["sentence"]
        tests = [m for m in inbox(urls)[before:] if "[TEST]" in m["title"]]
        assert any((m["said"], m["receiver"]) == ("PAGE", "oncall") for m in tests), tests
        passed = items

    config = tmp_path / "floor.yaml"
    inbox_port = urls["inbox"].rsplit(":", 1)[1]
    text = config.read_text()
    live = f"http://127.0.0.1:{inbox_port}/page"
    dead = f"http://127.0.0.1:{free_port()}/page"  # never listened on
    assert 1 == text.count(live)
    config.write_text(text.replace(live, dead))
    env = {
        "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
        "PARAMEDIC_LISTEN": f"127.0.0.1:{free_port()}",
    }
    p = await started(config, env)
    try:
        up = "kind=service.up"
        await until("the floor up again", lambda: sum(up in o for o in p.output) >= len(PORTS))
        await until("no incident open", lambda: not open_incidents(p), within=30)
        before = len(inbox(urls))
        code, items = await preflight(p)
        assert 1 == code
        verdicts = {n: i["ok"] for n, i in items.items()}
        assert {**dict.fromkeys(ITEMS, True), "alerts": False} == verdicts, items
        sentence = items["alerts"]["sentence"]
        assert "channel inbox did not deliver its test page: " in sentence, sentence
        assert "refused" in sentence.lower(), sentence
        assert "P0: every channel's test page failed (inbox: " in sentence, sentence
        # on_call still names the page delivered to the inbox before: the one sent now reached
        # only the log, which is nobody.
        for name in ("monitoring", "on_call", "escalation"):
            assert passed[name]["sentence"] == items[name]["sentence"], name
        assert before == len(inbox(urls))
    finally:
        await asyncio.to_thread(p.ensure_dead)


def test_the_inbox_shows_signed_pages_once_and_refuses_the_rest(tmp_path: Path) -> None:
    """The floor's inbox (a real process): a body signed under the shared secret is shown
    (200, one line on stdout, listed by GET /messages); a retry with the same Idempotency-Key
    is answered 200 and not shown twice; a wrong signature or a stale timestamp is refused
    with 401 and not shown; /health answers like every floor service."""
    secret = "s3cret-for-the-test"
    (tmp_path / "inbox.secret").write_text(secret + "\n")
    port = free_port()
    argv = [sys.executable, str(FLOOR / "inbox.py"), "--port", str(port)]
    argv += ["--secret-file", str(tmp_path / "inbox.secret")]
    proc = subprocess.Popen(argv, cwd=FLOOR, stdout=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until("the inbox up", lambda: _answers(f"{url}/health"))
        doc = {
            "version": 1, "id": "ntf_1", "alert_id": "inc_1:failure", "action": "trigger",
            "severity": "P0", "title": "[P0] engine crash", "body": "b", "fields": {},
            "labels": {"receiver": "oncall", "service": "engine"}, "links": {},
            "idempotency_key": "k1", "sent_at": "2026-01-01T00:00:00+00:00",
        }  # fmt: skip
        body = json.dumps(doc).encode()

        def post(stamp: int, signature: str, key: str = "k1") -> int:
            headers = {
                "X-Paramedic-Timestamp": str(stamp),
                "X-Paramedic-Signature": signature,
                "Idempotency-Key": key,
                "Content-Type": "application/json",
            }
            return httpx.post(f"{url}/page", content=body, headers=headers, timeout=5).status_code

        now = int(time.time())
        assert 200 == post(now, sign(secret, str(now), body))
        assert 200 == post(now, sign(secret, str(now), body))  # the retry: shown once
        assert 401 == post(now, sign("another secret", str(now), body), key="k2")
        old = now - 600
        assert 401 == post(old, sign(secret, str(old), body), key="k3")
        [shown] = httpx.get(f"{url}/messages", timeout=5).json()["messages"]
        assert ("PAGE", "oncall", "inc_1:failure") == (
            shown["said"],
            shown["receiver"],
            shown["alert_id"],
        )
        assert "PAGE      [P0] engine crash  (to oncall, alert inc_1:failure)" in shown["line"]
        health = httpx.get(f"{url}/health", timeout=5).json()
        assert (True, 1, 2) == (
            health["healthy"],
            health["metrics"]["messages_total"],
            health["metrics"]["refused_total"],
        )
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert 1 == sum(shown["line"] in line for line in out.splitlines()), out


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
