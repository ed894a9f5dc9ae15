"""The demo trading floor (examples/floor/) under a real `paramedic run`, drilled through the
real CLI, one decision path per test, each on a fresh floor (its own store, so one test's
failures never count toward another's "3 failures: manual").

The floor's five processes are real children (exchange connection, market data feed, the
engine and its hot standby, the order gateway) on free ports; the config is floor.yaml with
only its ports and paths moved and its resumption phases and watch period shortened, so a
drill reaches HEALTHY in seconds. Pages go to the log channel (the demo's inbox): each drill
report lists them with their delivery times.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, free_port, free_udp_port
from tests.integration.runner import RunningParamedic, started, until
from tests.integration.test_resolve_recovered import events

pytestmark = pytest.mark.integration

FLOOR = REPO / "examples" / "floor"
TOKEN = (REPO / "examples" / "demo-secrets" / "operator.token").read_text().strip()
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PORTS = ("8101", "8102", "8103", "8104", "8105")


def floor_copy(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """floor.yaml on free ports, its programs and secrets where they are, its state under
    tmp_path; phases of 100 ms and a 500 ms watch period. The services' base URLs by name."""
    text = (FLOOR / "floor.yaml").read_text()
    urls = {}
    names = ("exchange", "feed", "engine", "standby", "gateway")
    for name, port in zip(names, PORTS, strict=True):
        text = text.replace(port, f"<{name}>")  # no free port is rewritten by the next
    for name in names:
        free = str(free_port())
        text = text.replace(f"<{name}>", free)
        urls[name] = f"http://127.0.0.1:{free}"
    text = text.replace("9999", str(free_udp_port()))
    for program in ("exchange.py", "feed.py", "engine.py", "gateway.py", "checkpoint.py"):
        text = text.replace(f"python3, {program}", f"python3, {FLOOR / program}")
    text = text.replace("../demo-secrets/", f"{REPO / 'examples' / 'demo-secrets'}/")
    text = text.replace("../../var", str(tmp_path / "var"))
    text = text.replace("duration: 10s", "duration: 100ms")
    text = text.replace("watch_period: 30s", "watch_period: 500ms")
    path = tmp_path / "floor.yaml"
    path.write_text(text)
    return path, urls


@asynccontextmanager
async def floor(tmp_path: Path) -> AsyncIterator[tuple[RunningParamedic, dict[str, str]]]:
    """The floor running, every service up; stopped (children included) at the end."""
    config, urls = floor_copy(tmp_path)
    env = {
        "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
        "PARAMEDIC_LISTEN": f"127.0.0.1:{free_port()}",
    }
    p = await started(config, env)
    try:
        await until("the floor up", lambda: len(events(p, "service.up")) >= 5, within=30)
        await until("a first checkpoint", lambda: (tmp_path / "var/floor/checkpoint.json").exists())
        yield p, urls
    finally:
        await asyncio.to_thread(p.ensure_dead)


def get(url: str) -> Any:
    return httpx.get(url, timeout=5).json()


def post(url: str) -> Any:
    return httpx.post(url, timeout=5).json()


async def drill(
    p: RunningParamedic, service: str, kind: str, *, approve: bool = False
) -> dict[str, Any]:
    """`paramedic drill SERVICE --kind KIND --json` (the real CLI, exit 0), its report once
    every page of the drill is delivered. `approve`: approve the recovery through the API
    (POST /api/incidents/{id}/approve) as soon as it is requested."""
    env = {**os.environ, "PARAMEDIC_URL": p.url, "PARAMEDIC_TOKEN": TOKEN}
    argv = ["drill", service, "--kind", kind, "--timeout", "40s", "--json"]
    asked = len(events(p, "approval.requested"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paramedic.cli", *argv, env=env, stdout=PIPE, stderr=PIPE
    )
    if approve:
        asks = await until("the approval request", lambda: events(p, "approval.requested")[asked:])
        incident = asks[0]["payload"]["incident"]
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.post(
                f"{p.url}/api/incidents/{incident}/approve",
                headers=AUTH,
                json={"reason": "approved by the floor drill"},
            )
        assert answer.status_code == 200, answer.text
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert 0 == proc.returncode, stderr.decode() + stdout.decode()
    report: dict[str, Any] = json.loads(stdout)

    def delivered() -> dict[str, Any] | None:
        again: dict[str, Any] = p.get(f"/api/drills/{report['id']}", headers=AUTH).json()
        pages = again["pages"]
        done = all(page["status"] == "delivered" for page in pages)
        if report["outcome"] == "HEALTHY":
            done = done and any(str(page["alert"]).endswith(":all-clear") for page in pages)
        return again if pages and done else None

    return await until("the drill's pages delivered", delivered)


def assert_pages_delivered(report: dict[str, Any]) -> None:
    """Every page of the drill was delivered (to the log, the demo's inbox), with its time."""
    assert any(page["action"] == "trigger" for page in report["pages"]), report
    for page in report["pages"]:
        assert ("delivered", "[DRILL]") == (page["status"], page["title"][:7]), page
        assert page["delivered_at"] is not None, page


async def test_hot_path_promotes_the_synced_standby_under_a_second(tmp_path: Path) -> None:
    """Hot: `paramedic drill engine --kind crash` SIGKILLs the primary while its standby is
    synced; the decision is hot, the standby is promoted over HTTP, the primary comes back
    and takes the positions back from it (nothing the standby had is lost), RTO under 1 s;
    the report's path ends HEALTHY and every page has its delivery time."""
    async with floor(tmp_path) as (p, urls):
        before = get(f"{urls['engine']}/positions")["seq"]
        await until(
            "the standby synced past it", lambda: get(f"{urls['standby']}/standby")["seq"] >= before
        )
        report = await drill(p, "engine", "crash")
        assert ("HEALTHY", True) == (report["outcome"], report["ok"]), report
        assert "hot" == report["decision"]["method"]
        assert report["decision"]["reason"].startswith("hot restart: standby synced")
        assert "HEALTHY" == report["path"][-1]
        print(
            f"hot: detected in {report['detected']['time_to_detect_s']} s, RTO {report['rto_s']} s"
        )
        assert report["rto_s"] < 1.0, report["rto_s"]
        assert_pages_delivered(report)
        health = get(f"{urls['engine']}/health")
        assert ("primary", "standby") == (health["role"], health["restored"]["from"])
        assert health["restored"]["seq"] >= before
        assert "standby" == get(f"{urls['standby']}/health")["role"]
