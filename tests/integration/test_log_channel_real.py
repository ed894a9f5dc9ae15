"""The log channel through a real `paramedic run` with the default alerting policy and no
channel configured (issue 13, item 8): one readable line per notification, not one Python
repr of the whole body per receiver."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.integration.runner import OPERATOR_TOKEN, config_file, started, until

pytestmark = pytest.mark.integration

SLEEPER = f'[{sys.executable!r}, "-c", "import signal; signal.pause()"]'


async def test_one_crash_is_one_page_line_and_one_resolved_line(tmp_path: Path) -> None:
    """kill -9 a tier-1 engine (no plan; the watchdog restarts it): paramedic's stderr holds
    exactly one page line for the alert, naming the service and every receiver the default
    policy paged through the log (the receivers of its log notifications), and, once the engine is
    back, exactly one resolved line; no body is written at the default level (info)."""
    config = config_file(
        tmp_path,
        f"""services:
  engine:
    tier: 1
    process:
      argv: {SLEEPER}
      restart: {{policy: always, initial_backoff: 100ms}}
    health: {{up_after: 1, evaluate_every: 50ms}}
""",
    )
    p = await started(config, {"OPS_TOKEN": OPERATOR_TOKEN})
    try:
        pid = (await until("the engine", p.child_pids))[0]
        os.kill(pid, signal.SIGKILL)
        page = await asyncio.to_thread(p.wait_for_line, "page: [")
        alert_id = re.search(r"alert_id=(\S+)", page)
        assert alert_id is not None, page
        alert = alert_id[1]
        resolved = await asyncio.to_thread(p.wait_for_line, "resolved: [")
        assert f"alert_id={alert}" in resolved
        listed = p.get("/api/alerts", params={"limit": 1000}).json()["alerts"]
        [row] = [a for a in listed if a["id"] == alert]
        logged = {
            n["receiver"]
            for n in row["notifications"]
            if n["channel"] == "log" and n["action"] == "trigger"
        }
        receivers = re.search(r"receivers=(.*?)(?= \w+=|$)", page.rstrip())
        assert receivers is not None, page
        named = receivers[1].split(",")
        assert sorted(logged) == sorted(named), page
        assert len(named) > 1, page
        assert "service=engine" in page
        pages = [line for line in p.output if "page: [" in line and alert in line]
        ends = [line for line in p.output if "resolved: [" in line and alert in line]
        assert (1, 1) == (len(pages), len(ends)), pages + ends
        assert [] == [line for line in p.output if "body=" in line or "alert body" in line]
        p.signal(signal.SIGTERM)
        assert 0 == await asyncio.to_thread(p.wait, 15)
    finally:
        await asyncio.to_thread(p.ensure_dead)
