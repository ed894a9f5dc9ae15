"""Resolve only what is recovered (issue 13, item 5), through a real `paramedic run`.

The example engine (examples/engine.py, its /health read by a readiness probe) has a recovery
plan: a cold restart, then validation, gradual resumption and a watch period. Its crash pages
a signed webhook on a loopback receiver. The engine is up again (`failure.cleared`) long
before the incident is HEALTHY; the alert must not be RESOLVED at the clear, but only when
the incident is recovered or a human resolves it, also across a kill -9 of paramedic.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import REPO, free_port
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
ENGINE = str(REPO / "examples" / "engine.py")


def write_config(tmp_path: Path, hook_url: str, *, watch: str, validation: str = "") -> Path:
    port = free_port()
    return config_file(
        tmp_path,
        f"""channels:
  pagerduty: {{webhook: {{url: "{hook_url}/hook", secret_env: HOOK_SECRET}}}}
recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
  watch_period: {watch}
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, {ENGINE!r}, --port, "{port}"]
      stop_timeout: 2s
    probes:
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 100ms, timeout: 100ms}}
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s}}
      validation:
{validation or "        immediate: []"}
      resumption:
        phases:
          - {{name: monitoring_only, size_multiplier: 0.0, duration: 100ms}}
          - {{name: normal, size_multiplier: 1.0}}
""",
    )


def events(p: RunningParamedic, kind: str | None = None) -> list[dict[str, Any]]:
    """The whole timeline (paged), or its events of `kind`, oldest first."""
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = p.get("/api/timeline", params={"after": after, "limit": 1000}).json()
        found += page["events"]
        if len(page["events"]) < 1000:
            return [e for e in found if kind is None or e["kind"] == kind]
        after = page["next_after"]


def moved_to(p: RunningParamedic, incident: str, state: str) -> list[dict[str, Any]]:
    return [
        e
        for e in events(p, "incident.transitioned")
        if e["payload"]["incident"] == incident and e["payload"]["to_state"] == state
    ]


def resolves(hook: LoopbackReceiver, alert_id: str) -> list[dict[str, Any]]:
    pages = [r.json() for r in hook.requests]
    return [b for b in pages if b["action"] == "resolve" and b["alert_id"] == alert_id]


async def next_resolve(hook: LoopbackReceiver, alert_id: str, within: float = 30.0) -> None:
    """Return as soon as the receiver gets a RESOLVED for `alert_id` (event-driven)."""

    async def wait() -> None:
        while True:
            body = (await hook.next_request()).json()
            if body["action"] == "resolve" and body["alert_id"] == alert_id:
                return

    if not resolves(hook, alert_id):
        await asyncio.wait_for(wait(), within)


async def crash_engine(p: RunningParamedic) -> str:
    """kill -9 the running engine once it is up; the incident its crash opened."""
    await until("the engine up", lambda: events(p, "service.up"))
    [spawned] = events(p, "process.spawned")[-1:]
    os.kill(spawned["payload"]["pid"], signal.SIGKILL)
    opened = await until("the incident", lambda: events(p, "incident.opened"))
    incident: str = opened[-1]["payload"]["incident"]
    return incident


@contextlib.asynccontextmanager
async def engines_ended(tmp_path: Path) -> AsyncIterator[list[int]]:
    """The pids of every engine the runs spawned, killed at the end whatever happened (a
    kill -9 of paramedic leaves its child running, to be re-adopted)."""
    pids: list[int] = []
    try:
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def cli(url: str, *args: str) -> tuple[int, str, str]:
    """`python -m paramedic.cli ARGS` as an operator runs it."""
    return await run_cli(url, *args)


async def test_a_failed_validation_is_never_resolved_before_a_human_resolves_it(
    tmp_path: Path,
) -> None:
    """kill -9 the engine: the cold restart brings it back (the failure clears), then the
    short-window `positions` check fails: RECOVERY_FAILED -> MANUAL_RECOVERY and the P0
    validation page. By then the receiver has seen no RESOLVED for the crash's alert (it was
    kept: `alert.kept` names the incident's state). `paramedic resolve-incident` (the real
    CLI) then sends the RESOLVED for it, and for the validation page."""
    closed = free_port()
    validation = f"""\
        short: [{{name: positions, tcp: {{host: 127.0.0.1, port: {closed}}}}}]
        short_every: 200ms
        short_window: 2s"""
    async with LoopbackReceiver() as hook, engines_ended(tmp_path) as pids:
        config = write_config(tmp_path, hook.url, watch="30s", validation=validation)
        p = await started(config, ENV)
        try:
            incident = await crash_engine(p)
            alert_id = f"{incident}:failure"
            await until("manual recovery", lambda: moved_to(p, incident, "MANUAL_RECOVERY"))
            page = f"{incident}_validation:failure"
            await until(
                "the validation page",
                lambda: [r for r in hook.requests if page in r.json()["alert_id"]],
            )
            pids += [e["payload"]["pid"] for e in events(p, "process.spawned")]
            cleared = [
                e for e in events(p, "failure.cleared") if e["payload"]["incident"] == incident
            ]
            assert 1 == len(cleared), "the engine came back before the validation failed"
            kept = [e["payload"] for e in events(p, "alert.kept")]
            assert [(alert_id, incident)] == [(k["alert_id"], k["incident"]) for k in kept]
            assert [] == resolves(hook, alert_id)
            triggers = [r.json() for r in hook.requests if r.json()["action"] == "trigger"]
            assert alert_id in {t["alert_id"] for t in triggers}

            code, out, err = await cli(
                p.url, "resolve-incident", incident, "--reason", "positions reconciled by hand"
            )
            assert 0 == code, err
            assert f"resolved {incident}" in out
            await next_resolve(hook, alert_id)
            await next_resolve(hook, page)
            [by_hand] = moved_to(p, incident, "RECOVERED")[-1:]
            assert "resolved by olga: positions reconciled by hand" in by_hand["payload"]["reason"]
            p.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(p.wait, 20)
        finally:
            await asyncio.to_thread(p.ensure_dead)


async def test_a_passed_validation_resolves_only_once_the_incident_is_healthy(
    tmp_path: Path,
) -> None:
    """kill -9 the engine: recovered, the failure cleared and the alert kept (`alert.kept`
    after `failure.cleared` on the timeline) with no RESOLVED at the receiver; the RESOLVED
    arrives after the 1.5 s watch period, once the move to HEALTHY is on the timeline."""
    async with LoopbackReceiver() as hook, engines_ended(tmp_path) as pids:
        config = write_config(tmp_path, hook.url, watch="1500ms")
        p = await started(config, ENV)
        try:
            incident = await crash_engine(p)
            alert_id = f"{incident}:failure"
            kept = await until("the alert kept", lambda: events(p, "alert.kept"))
            assert [] == resolves(hook, alert_id)
            assert [] == moved_to(p, incident, "HEALTHY")
            timeline = events(p)
            cleared = next(
                e
                for e in timeline
                if e["kind"] == "failure.cleared" and e["payload"]["incident"] == incident
            )
            assert cleared["seq"] < kept[0]["seq"]
            await next_resolve(hook, alert_id)
            healthy = moved_to(p, incident, "HEALTHY")
            assert 1 == len(healthy), "RESOLVED arrived before the incident was HEALTHY"
            resolved = [
                e for e in events(p, "alert.resolved") if e["payload"]["alert_id"] == alert_id
            ]
            assert healthy[0]["seq"] < resolved[0]["seq"]
            assert resolved[0]["payload"]["why"].startswith(f"incident {incident} recovered:")
            pids += [e["payload"]["pid"] for e in events(p, "process.spawned")]
            p.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(p.wait, 20)
        finally:
            await asyncio.to_thread(p.ensure_dead)


async def test_kill_9_between_the_clear_and_healthy_still_resolves_only_when_healthy(
    tmp_path: Path,
) -> None:
    """kill -9 the engine, then kill -9 paramedic once the alert is kept (the failure cleared,
    the incident not HEALTHY: 6 s watch period). Restarted on the same store: no RESOLVED at
    start (the kept alert is rebuilt from the store), and the RESOLVED arrives once the
    re-adopted incident is HEALTHY."""
    async with LoopbackReceiver() as hook, engines_ended(tmp_path) as pids:
        config = write_config(tmp_path, hook.url, watch="6s")
        first = await started(config, ENV)
        try:
            incident = await crash_engine(first)
            alert_id = f"{incident}:failure"
            await until("the alert kept", lambda: events(first, "alert.kept"))
            assert [] == moved_to(first, incident, "HEALTHY")
            pids += [e["payload"]["pid"] for e in events(first, "process.spawned")]
            first.signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        finally:
            await asyncio.to_thread(first.ensure_dead)
        assert [] == resolves(hook, alert_id)
        second = await started(config, ENV)
        try:
            listed = second.get("/api/alerts", params={"limit": 1000}).json()["alerts"]
            [alert] = [a for a in listed if a["id"] == alert_id]
            assert "firing" == alert["state"], alert
            assert [] == resolves(hook, alert_id)
            await next_resolve(hook, alert_id)
            assert 1 == len(moved_to(second, incident, "HEALTHY"))
            pids += [e["payload"]["pid"] for e in events(second, "process.spawned")]
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 20)
        finally:
            await asyncio.to_thread(second.ensure_dead)
