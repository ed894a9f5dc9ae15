"""A drill survives a kill -9 of paramedic itself (through a real `paramedic run`).

The example engine (tier 2, a cold plan, a 1 s target RTO) and a P0 ladder with a CTO rung
at 1 s of outage. A crash drill (the real CLI, SIGKILL of the real engine) names
`backup-oncall`, whose channel posts to one loopback receiver; the on-call's pager and every
executive's phone post to another. paramedic is killed -9 after the drill's first page,
mid-incident, and started again on the same store: the incident goes on and raises new pages
(escalations, the manual hand-over, the all-clear) and re-sends one the kill left undelivered,
and every one of them, like those before the kill, reads [DRILL] and reaches the backup
alone; the other receiver gets nothing, ever.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import free_port
from tests.integration.configs import probed_engine
from tests.integration.runner import OPERATOR_TOKEN, config_file, started, until
from tests.integration.test_resolve_recovered import ENV, cli, engines_ended, events

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


STEP_CUT_OFF = f"""
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Rebuild state, timeout: 30s,
                command: {{argv: [{sys.executable!r}, "-c", "import time; time.sleep(6)"]}}}}
            - {{name: Wait until healthy, wait_healthy: {{}}, timeout: 10s}}"""
COLD = """
            - {name: Restart engine, restart_process: {}, timeout: 10s}
            - {name: Wait until healthy, wait_healthy: {}, timeout: 10s}"""
NO_APPROVAL = "{market_open: [manual], market_closed: [manual]}"
COLD_APPROVED = "{market_open: [cold, manual], market_closed: [cold, manual]}"


def write_config(tmp_path: Path, drill_hook: str, others: str, *, steps: str, require: str) -> Path:
    """The engine's cold method of `steps`; `require`: which methods wait for an approval
    (timeout 4 s, then an escalation every 4 s)."""
    port = free_port()
    return config_file(
        tmp_path,
        f"""channels:
  pagerduty: {{webhook: {{url: "{others}/pager", secret_env: HOOK_SECRET}}}}
  phone: {{webhook: {{url: "{others}/phone", secret_env: HOOK_SECRET}}}}
  backup: {{webhook: {{url: "{drill_hook}/backup", secret_env: HOOK_SECRET}}}}
alerting:
  contacts:
    backup-oncall: {{channels: [backup]}}
  escalation:
    policies:
      P0: {{steps: [{{name: outage-cto, after: 1s, contacts: [cto], channels: [phone],
                      level: 4, until: resolve}}]}}
recovery:
  target_rto: 1s
  watch_period: 300ms
  approval: {{require: {require}, timeout: 4s}}
services:
{probed_engine(port, tier=2)}    recovery:
      methods:
        cold:
          steps:{steps}
        manual: {{runbook: "https://wiki.example/engine-manual"}}
      resumption: {{phases: [{{name: normal, size_multiplier: 1.0}}]}}
""",
    )


def bodies(hook: LoopbackReceiver) -> list[dict[str, Any]]:
    return [r.json() for r in hook.requests]


def triggers(hook: LoopbackReceiver) -> list[dict[str, Any]]:
    return [b for b in bodies(hook) if b["action"] == "trigger"]


async def drill_then_kill_9(
    config: Path, drill_hook: LoopbackReceiver, pids: list[int], ready: Callable[[Any], object]
) -> tuple[str, int]:
    """Start paramedic, drill a crash of the engine to backup-oncall, wait for the drill's
    first page and `ready(p)`, then kill -9 paramedic; returns the drill's id and how many
    escalations were triggered before the kill."""
    first = await started(config, ENV)
    try:
        await until("the engine up", lambda: events(first, "service.up"))
        code, out, err = await cli(
            first.url,
            *("drill", "engine", "--kind", "crash", "--contacts", "backup-oncall"),
            *("--timeout", "60s", "--no-wait"),
        )
        assert 0 == code, err
        await until("the drill's first page", lambda: triggers(drill_hook))
        await until("the incident mid-way", lambda: ready(first))
        pids += first.child_pids()
        assert [] == events(first, "drill.finished")
        escalated = len(events(first, "escalation.triggered"))
        first.signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
    finally:
        await asyncio.to_thread(first.ensure_dead)
    return out.strip(), escalated


def assert_drill_only(drill: str, drill_hook: LoopbackReceiver, others: LoopbackReceiver) -> None:
    """Every request (trigger, update, resolve) reached the backup, titled DRILL and labelled
    with the drill; the receiver of the on-call and the executives got none."""
    assert bodies(drill_hook)
    for body in bodies(drill_hook):
        assert "[DRILL] " in body["title"], body
        assert ("backup-oncall", drill) == (body["labels"]["receiver"], body["labels"]["drill"])
    assert {"/backup"} == {r.path for r in drill_hook.requests}
    assert [] == others.requests


def step_running(p: Any) -> bool:
    return any(e["payload"]["step"] == "Rebuild state" for e in events(p, "recovery.step_started"))


async def test_a_drill_cut_off_mid_step_pages_only_its_contact_after_the_restart(
    tmp_path: Path,
) -> None:
    """kill -9 paramedic while the drill's recovery runs a 6 s step. Restart: the step's
    outcome is unknown, so the incident goes to a human; the drill is followed on and
    finishes MANUAL_RECOVERY (not `interrupted`); the P0 "Manual intervention required"
    raised after the restart and the CTO level's page read [DRILL] and reach backup-oncall
    alone, and so do their resolves when the incident is resolved by hand; the receiver of
    the on-call's pager and the CTO's phone got nothing at all."""
    async with (
        LoopbackReceiver() as drill_hook,
        LoopbackReceiver() as others,
        engines_ended(tmp_path) as pids,
    ):
        config = write_config(
            tmp_path, drill_hook.url, others.url, steps=STEP_CUT_OFF, require=NO_APPROVAL
        )
        drill, _ = await drill_then_kill_9(config, drill_hook, pids, step_running)
        before = len(triggers(drill_hook))
        second = await started(config, ENV)
        try:

            def escalations() -> list[dict[str, Any]]:
                return [b for b in triggers(drill_hook) if ":escalation:" in b["alert_id"]]

            def manual_and_cto() -> list[dict[str, Any]]:
                """The on-call's manual page and the CTO level's page (this one raised
                with it, or with the RTO page if the outage reached 1 s before the kill)."""
                got = escalations()
                manual = [
                    b
                    for b in got
                    if "Manual intervention required" in b["title"]
                    and "oncall" == b["labels"]["escalation_level"]
                ]
                cto = [b for b in got if "outage-cto" == b["labels"]["escalation_level"]]
                return manual if manual and cto else []

            [manual] = await until("the manual page and the CTO level's", manual_and_cto)
            [opened] = events(second, "incident.opened")
            incident = opened["payload"]["incident"]
            answer = second.post(
                f"/api/incidents/{incident}/resolve",
                json={"reason": "state rebuilt by hand"},
                headers=AUTH,
            )
            assert 200 == answer.status_code, answer.text

            def resolves() -> set[str]:
                done = {b["alert_id"] for b in bodies(drill_hook) if b["action"] == "resolve"}
                return done if {b["alert_id"] for b in escalations()} <= done else set()

            await until("the escalation pages resolved", resolves)
            [finished] = events(second, "drill.finished")
            report = second.get(f"/api/drills/{drill}", headers=AUTH).json()
            pids += second.child_pids()
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 20)
        finally:
            await asyncio.to_thread(second.ensure_dead)

    assert (drill, "MANUAL_RECOVERY", incident) == (
        finished["payload"]["drill"],
        finished["payload"]["outcome"],
        finished["payload"]["incident"],
    )
    assert ("finished", "MANUAL_RECOVERY") == (report["state"], report["outcome"])
    assert "P0" == manual["severity"]
    assert len(triggers(drill_hook)) > before >= 1  # pages were raised after the restart
    assert_drill_only(drill, drill_hook, others)


def failure_pages(hook: LoopbackReceiver) -> list[dict[str, Any]]:
    return [b for b in triggers(hook) if b["alert_id"].endswith(":failure")]


def awaiting_approval(p: Any) -> bool:
    return bool(events(p, "approval.requested"))


async def test_a_drill_cut_off_awaiting_approval_escalates_and_clears_only_to_its_contact(
    tmp_path: Path,
) -> None:
    """cold needs an approval (4 s timeout); the backup's receiver answers 503 until
    paramedic is killed -9 while the drill's incident waits for the approval. Restart: the
    failed page is re-sent from the outbox; the unanswered request times out and escalates
    (pages raised after the restart, on-call and CTO level); approved through the API, the
    engine is restarted, the incident is HEALTHY and the all-clear goes out; the drill,
    followed on, finishes HEALTHY and ok. Every page reads [DRILL] and reaches
    backup-oncall alone."""
    async with (
        LoopbackReceiver() as drill_hook,
        LoopbackReceiver() as others,
        engines_ended(tmp_path) as pids,
    ):
        config = write_config(
            tmp_path, drill_hook.url, others.url, steps=COLD, require=COLD_APPROVED
        )
        drill_hook.status = 503  # every page fails until the kill: the outbox retries it
        drill, escalated = await drill_then_kill_9(config, drill_hook, pids, awaiting_approval)
        sent = len(failure_pages(drill_hook))
        drill_hook.status = 200
        second = await started(config, ENV)
        try:
            await until("the page re-sent", lambda: len(failure_pages(drill_hook)) > sent)

            def escalations() -> list[dict[str, Any]]:
                return [b for b in triggers(drill_hook) if ":escalation:" in b["alert_id"]]

            pages = await until("the approval's escalation", escalations)
            assert len(events(second, "escalation.triggered")) > escalated  # after the restart
            [opened] = events(second, "incident.opened")
            incident = opened["payload"]["incident"]
            answer = second.post(
                f"/api/incidents/{incident}/approve", json={"reason": "game day"}, headers=AUTH
            )
            assert 200 == answer.status_code, answer.text

            def all_clear() -> list[dict[str, Any]]:
                return [b for b in triggers(drill_hook) if b["alert_id"].endswith(":all-clear")]

            await until("the all-clear", all_clear)
            [finished] = events(second, "drill.finished")
            pids += second.child_pids()
            second.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(second.wait, 20)
        finally:
            await asyncio.to_thread(second.ensure_dead)

    assert (drill, "HEALTHY", True, incident) == (
        finished["payload"]["drill"],
        finished["payload"]["outcome"],
        finished["payload"]["ok"],
        finished["payload"]["incident"],
    )
    assert "approval_timeout" in {p["labels"]["trigger"] for p in pages}
    assert_drill_only(drill, drill_hook, others)
