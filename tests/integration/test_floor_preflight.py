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
import sys
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, free_port
from tests.integration.runner import RunningParamedic, started, until
from tests.integration.test_floor_drills import (
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
