"""The demo trading floor (examples/floor/) under a real `paramedic run`, drilled through the
real CLI, one decision path per test, each on a fresh floor (its own store, so one test's
failures never count toward another's "3 failures: manual").

The floor's six processes are real children (exchange connection, market data feed, the
engine and its hot standby, the order gateway, the inbox) on free ports; the config is
floor.yaml with only its ports and paths moved and its resumption phases and watch period
shortened, so a drill reaches HEALTHY in seconds. Pages go to the on-call's inbox (a signed
webhook to the inbox service) and the log: each drill report lists them with their delivery
times.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Callable
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
PORTS = ("8101", "8102", "8103", "8104", "8105", "8106")


def floor_copy(tmp_path: Path, *, short: bool = True) -> tuple[Path, dict[str, str]]:
    """floor.yaml on free ports, its programs and secrets where they are, its state under
    tmp_path; `short`: phases of 100 ms and a 500 ms watch period. The services' base URLs
    by name."""
    text = (FLOOR / "floor.yaml").read_text()
    urls = {}
    names = ("exchange", "feed", "engine", "standby", "gateway", "inbox")
    for name, port in zip(names, PORTS, strict=True):
        text = text.replace(port, f"<{name}>")  # no free port is rewritten by the next
    for name in names:
        free = str(free_port())
        text = text.replace(f"<{name}>", free)
        urls[name] = f"http://127.0.0.1:{free}"
    text = text.replace("9999", str(free_udp_port()))
    programs = ("exchange.py", "feed.py", "engine.py", "gateway.py", "checkpoint.py", "inbox.py")
    for program in programs:
        text = text.replace(f"python3, {program}", f"python3, {FLOOR / program}")
    text = text.replace("../demo-secrets/", f"{REPO / 'examples' / 'demo-secrets'}/")
    text = text.replace("../../var", str(tmp_path / "var"))
    if short:
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
        try:
            await until(
                "the floor up", lambda: len(events(p, "service.up")) >= len(PORTS), within=30
            )
            await until("no incident open", lambda: not open_incidents(p), within=30)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; paramedic said:\n{''.join(p.output[-40:])}") from None
        await until("a first checkpoint", lambda: (tmp_path / "var/floor/checkpoint.json").exists())
        yield p, urls
    finally:
        await asyncio.to_thread(p.ensure_dead)


def open_incidents(p: RunningParamedic) -> list[dict[str, Any]]:
    """Incidents not closed: a floor slow to start under load settles before a drill."""
    incidents = p.get("/api/incidents").json()["incidents"]
    return [i for i in incidents if i["state"] != "HEALTHY"]


def get(url: str) -> Any:
    return httpx.get(url, timeout=5).json()


def post(url: str) -> Any:
    return httpx.post(url, timeout=5).json()


async def drill(
    p: RunningParamedic,
    service: str,
    kind: str,
    *,
    approve: bool = False,
    approve_once: Callable[[], object] | None = None,
    follow_for: str = "40s",
) -> dict[str, Any]:
    """`paramedic drill SERVICE --kind KIND --json` (the real CLI), its report once
    every page of the drill is delivered. `approve`: approve the recovery through the API
    (POST /api/incidents/{id}/approve) as soon as it is requested, or once `approve_once()`
    is truthy. `follow_for` is the drill's --timeout."""
    env = {**os.environ, "PARAMEDIC_URL": p.url, "PARAMEDIC_TOKEN": TOKEN}
    argv = ["drill", service, "--kind", kind, "--timeout", follow_for, "--json"]
    asked = len(events(p, "approval.requested"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paramedic.cli", *argv, env=env, stdout=PIPE, stderr=PIPE
    )
    if approve:

        def asked_for() -> list[dict[str, Any]]:
            return [e for e in events(p, "approval.requested")[asked:] if e["service"] == service]

        asks = await until("the approval request", asked_for)
        incident = asks[0]["payload"]["incident"]
        if approve_once is not None:
            await until("the moment to approve", approve_once)
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.post(
                f"{p.url}/api/incidents/{incident}/approve",
                headers=AUTH,
                json={"reason": "approved by the floor drill"},
            )
        assert answer.status_code == 200, answer.text
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    report: dict[str, Any] = json.loads(stdout)
    if report["outcome"] == "not_detected":
        return report
    if report["outcome"] == "timeout":  # say what the incident did, to fix what stopped it
        kinds = [(e["kind"], e.get("summary", "")) for e in events(p)[-60:]]
        raise AssertionError(json.dumps(kinds, indent=1))
    # The CLI's exit code says whether the drill succeeded (a hand-over to a human does not).
    assert (0 if report["ok"] else 1) == proc.returncode, stderr.decode() + stdout.decode()

    def delivered() -> dict[str, Any] | None:
        again: dict[str, Any] = p.get(f"/api/drills/{report['id']}", headers=AUTH).json()
        pages = again["pages"]
        done = all(page["status"] == "delivered" for page in pages)
        if report["outcome"] == "HEALTHY":
            done = done and any(str(page["alert"]).endswith(":all-clear") for page in pages)
        return again if pages and done else None

    return await until("the drill's pages delivered", delivered)


def assert_pages_delivered(report: dict[str, Any]) -> None:
    """Every page of the drill was delivered (to the inbox and the log), with its time."""
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
        assert ("HEALTHY", True) == (report["outcome"], report["ok"]), json.dumps(report, indent=1)
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


async def test_warm_path_waits_for_approval_and_restores_a_verified_checkpoint(
    tmp_path: Path,
) -> None:
    """Warm, approval-gated: `paramedic drill engine --kind standby-lag` makes the standby
    fall behind (no failure by itself: the drill ends not_detected), then `paramedic drill
    engine --kind crash`: the decision is warm (checkpoint under 5 min old, standby
    not synced); the demo market is open, so it waits in AWAITING_APPROVAL until approved
    through the API; the warm steps load the checkpoint named by the decision's facts and the
    engine restarts from it, positions verified against its checksum; path to HEALTHY."""
    async with floor(tmp_path) as (p, urls):
        lag = await drill(p, "engine", "standby-lag", follow_for="1s")
        assert ("not_detected", True) == (lag["outcome"], lag["injected"]["ok"]), lag
        assert not get(f"{urls['standby']}/standby")["synced"]
        saved = tmp_path / "var/floor/checkpoint.json"
        await until("a checkpoint with fills", lambda: json.loads(saved.read_text())["seq"] > 0)
        before = json.loads(saved.read_text())["seq"]
        report = await drill(p, "engine", "crash", approve=True)
        assert ("HEALTHY", True) == (report["outcome"], report["ok"]), json.dumps(report, indent=1)
        assert "warm" == report["decision"]["method"]
        reason = report["decision"]["reason"]
        assert reason.startswith("warm restart: checkpoint "), reason
        assert "standby not synced" in reason
        path = report["path"]
        assert path.index("AWAITING_APPROVAL") < path.index("RECOVERY_IN_PROGRESS"), path
        assert "HEALTHY" == path[-1]
        [asked] = events(p, "approval.requested")
        assert ("warm", True) == (asked["payload"]["method"], asked["payload"]["market_open"])
        assert_pages_delivered(report)
        restored = get(f"{urls['engine']}/health")["restored"]
        assert ("checkpoint", True) == (restored["from"], restored["verified"])
        assert before <= restored["seq"], (before, restored)  # the newest checkpoint at the crash


async def test_cold_path_when_the_standby_lags_and_the_checkpoint_is_stale(
    tmp_path: Path,
) -> None:
    """Cold: the standby falls behind and the checkpoint is left 10 min old (the engine's
    chaos endpoints), then a crash drill: the decision is cold (no synced standby, no recent
    checkpoint), approved through the API, and the engine restarts flat; path to HEALTHY."""
    async with floor(tmp_path) as (p, urls):
        post(f"{urls['standby']}/chaos/lag")
        post(f"{urls['engine']}/chaos/stale-checkpoint")
        await until("the standby behind", lambda: not get(f"{urls['standby']}/standby")["synced"])
        report = await drill(p, "engine", "crash", approve=True)
        assert ("HEALTHY", True) == (report["outcome"], report["ok"]), json.dumps(report, indent=1)
        assert "cold" == report["decision"]["method"]
        reason = report["decision"]["reason"]
        assert reason.startswith("cold restart: checkpoint "), reason
        assert "standby not synced" in reason
        assert "AWAITING_APPROVAL" in report["path"]
        assert_pages_delivered(report)
        assert "flat" == get(f"{urls['engine']}/health")["restored"]["from"]


async def test_manual_path_when_the_checkpoint_is_corrupt(tmp_path: Path) -> None:
    """Manual: `paramedic drill engine --kind corrupt-checkpoint` (the engine's chaos hook
    alters the checkpoint after its checksum): the engine's own verification fails (its
    /health `positions` component), the corruption check answers corrupt, and the decision is
    manual although the standby is synced. A manual decision always asks a human first
    (approved through the API here): then nothing is restarted, the incident is handed to a
    human (MANUAL_RECOVERY) and the drill ends there with its pages delivered. The human
    heals the engine (`/chaos/heal` rewrites a good checkpoint) and `paramedic
    resolve-incident` closes the incident (HEALTHY after the watch period)."""
    async with floor(tmp_path) as (p, urls):
        report = await drill(p, "engine", "corrupt-checkpoint", approve=True)
        assert ("MANUAL_RECOVERY", False) == (report["outcome"], report["ok"]), report
        assert report["injected"]["ok"] is True
        assert report["injected"]["how"].startswith("corrupt-checkpoint hook: POST http://")
        assert "manual" == report["decision"]["method"]
        assert "data corruption" in report["decision"]["reason"], report["decision"]
        assert ["AWAITING_APPROVAL", "MANUAL_RECOVERY"] == report["path"][-2:], report["path"]
        assert_pages_delivered(report)
        assert not any(e["kind"] == "recovery.step_started" for e in events(p))
        assert not get(f"{urls['engine']}/health")["components"]["positions"]
        # The human's part, as the floor's README says: heal, then `paramedic resolve-incident`.
        post(f"{urls['engine']}/chaos/heal")
        await until("a good checkpoint", lambda: get(f"{urls['engine']}/health")["healthy"])
        env = {**os.environ, "PARAMEDIC_URL": p.url, "PARAMEDIC_TOKEN": TOKEN}
        argv = ["resolve-incident", report["incident"], "--reason", "checkpoint rewritten"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "paramedic.cli", *argv, env=env, stdout=PIPE, stderr=PIPE
        )
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert 0 == proc.returncode, err.decode()
        await until("the incident closed", lambda: not open_incidents(p))


async def test_an_exchange_outage_holds_the_engines_page_and_records_it(tmp_path: Path) -> None:
    """Dependency-aware suppression: `paramedic drill exchange --kind disconnect` drops the
    exchange session (its chaos hook); the exchange's own P0 is paged. A second later the
    engine (depends_on: exchange) loses it too: its failure is recorded and its page held,
    the reason naming the exchange, and no page is sent for it (the log, the demo's inbox,
    has the exchange's page and none of the engine's). The exchange's reconnect is approved
    through the API once the engine's page is held; the drill ends HEALTHY with every page's
    delivery time. (The hold is about pages: the engine's own recovery still runs.) The
    engine's resolve is sent, once, to those paged for the exchange, saying it was never
    paged and why; no progress notice or all-clear for it."""
    async with floor(tmp_path) as (p, _urls):

        def engine_held() -> list[dict[str, Any]]:
            return [
                e
                for e in events(p, "alert.held")
                if e["service"] == "engine" and "depends on exchange" in e["payload"]["reason"]
            ]

        report = await drill(p, "exchange", "disconnect", approve=True, approve_once=engine_held)
        assert ("HEALTHY", True) == (report["outcome"], report["ok"]), report
        assert "network_partition" == report["detected"]["failure_kind"]
        assert "cold" == report["decision"]["method"]
        assert_pages_delivered(report)
        [held, *_] = engine_held()
        assert held["payload"]["reason"].startswith("engine depends on exchange, which is down")
        engine_failures = [e for e in events(p, "failure.detected") if e["service"] == "engine"]
        assert engine_failures, "the engine's failure is recorded"
        assert "network_partition" == engine_failures[0]["payload"]["failure_kind"]
        incident = engine_failures[0]["payload"]["incident"]
        pages = [line for line in p.output if "page: " in line]
        assert any("alert_id=" + report["incident"] + ":failure" in line for line in pages)
        assert not any(f"alert_id={incident}:failure" in line for line in pages), pages

        def engine_lines() -> list[str]:
            return [line for line in p.output if f"alert_id={incident}:" in line]

        # Nobody was paged for the engine's incident: its resolve only, no progress, no
        # all-clear.
        [resolved] = await until("the engine's resolve", engine_lines)
        assert "resolved: " in resolved, resolved
        assert "it was not paged while held" in resolved, resolved
        assert "engine depends on exchange, which is down" in resolved, resolved
        assert "receivers=-" not in resolved, resolved


async def test_manual_path_after_three_failures(tmp_path: Path) -> None:
    """Manual after 3 failures: two crash drills recover hot; the third crash of the engine
    within the 30 min window is decided manual ("3 failures of engine") although the standby
    is synced; approved through the API, the incident is a human's (MANUAL_RECOVERY), and
    the engine stays down (nothing restarts it). `paramedic resolve-incident` starts the
    engine's process again, and the incident is RECOVERED only once the engine is up, then
    closes: a resolve never closes the incident of a dead engine."""
    async with floor(tmp_path) as (p, urls):
        for _ in range(2):
            await until("the standby synced", lambda: get(f"{urls['standby']}/standby")["synced"])
            assert "hot" == (await drill(p, "engine", "crash"))["decision"]["method"]
        await until("the standby synced", lambda: get(f"{urls['standby']}/standby")["synced"])
        report = await drill(p, "engine", "crash", approve=True)
        assert "MANUAL_RECOVERY" == report["outcome"], report
        assert ("manual", "manual: 3 failures of engine in 30 min") == (
            report["decision"]["method"],
            report["decision"]["reason"],
        )
        assert ["AWAITING_APPROVAL", "MANUAL_RECOVERY"] == report["path"][-2:]
        assert_pages_delivered(report)
        spawned = len([e for e in events(p, "process.spawned") if e["service"] == "engine"])
        env = {**os.environ, "PARAMEDIC_URL": p.url, "PARAMEDIC_TOKEN": TOKEN}
        argv = ["resolve-incident", report["incident"], "--reason", "engine checked by hand"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "paramedic.cli", *argv, env=env, stdout=PIPE, stderr=PIPE
        )
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert 0 == proc.returncode, err.decode()
        again = [e for e in events(p, "process.spawned") if e["service"] == "engine"]
        assert spawned + 1 == len(again), "the resolve started the engine's process"
        [started] = [
            e for e in events(p, "note.added") if "its process was not running" in e["summary"]
        ]
        assert f"started it (pid {again[-1]['payload']['pid']})" in started["summary"]
        [recovered] = [
            e
            for e in events(p, "incident.transitioned")
            if e["payload"]["incident"] == report["incident"]
            and e["payload"]["to_state"] == "RECOVERED"
        ]
        # The new process vouched for itself (its first heartbeat) before RECOVERED.
        vouched = [
            e
            for e in events(p, "signal.changed")
            if e["service"] == "engine"
            and "heartbeat ok" in e["summary"]
            and again[-1]["seq"] < e["seq"] < recovered["seq"]
        ]
        assert vouched, "the engine was up before the incident was RECOVERED"
        await until("the incident closed", lambda: not open_incidents(p))
        assert get(f"{urls['engine']}/health")["healthy"]


async def test_hang_and_latency_hooks_are_detected_and_recovered_hot(tmp_path: Path) -> None:
    """The engine's other chaos hooks: `--kind hang` (its loop stops: no heartbeat, /livez
    answers nothing) is convicted as a hang, `--kind latency` (p99 at 5 ms) as a degradation
    by the metric threshold; both are recovered hot to HEALTHY with their pages delivered."""
    async with floor(tmp_path) as (p, urls):
        hang = await drill(p, "engine", "hang")
        assert ("HEALTHY", "hang", "hot") == (
            hang["outcome"],
            hang["detected"]["failure_kind"],
            hang["decision"]["method"],
        ), hang
        assert_pages_delivered(hang)
        await until("the standby synced", lambda: get(f"{urls['standby']}/standby")["synced"])
        slow = await drill(p, "engine", "latency")
        assert ("HEALTHY", "degradation", "hot") == (
            slow["outcome"],
            slow["detected"]["failure_kind"],
            slow["decision"]["method"],
        ), slow
        assert "order_latency_p99_us" in slow["detected"]["sentence"]
        assert_pages_delivered(slow)
