"""The drill runner in-process (FakeClock, a real SQLite timeline, a real bus): what it
refuses and why (changing nothing), a chaos hook exec'd without a shell, the incident
followed to its end or the timeout on the injected clock, the report read back from the
store, and a drill cut off by a crash finished as interrupted at the next start."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from paramedic.alerting.events import AlertAcknowledged, AlertEscalated, AlertRaised
from paramedic.alerting.views import iso
from paramedic.api.drill_report import drill_history, drill_report
from paramedic.config.model import Config
from paramedic.core.bus import EventBus, Subscription
from paramedic.core.drill_events import DrillStarted
from paramedic.core.failure_events import FailureDetected
from paramedic.core.incident_events import IncidentTransitioned
from paramedic.runtime.drills import DrillRefused, Drills
from paramedic.store.outbox import AttemptRow, NotificationRow
from paramedic.store.sqlite import SQLiteStore
from paramedic.testing import FakeClock


@dataclass
class Rig:
    drills: Drills
    bus: EventBus
    store: SQLiteStore
    clock: FakeClock
    ends: Subscription

    async def kinds(self) -> list[str]:
        return [r.kind for r in await self.store.timeline(limit=1000)]

    async def finished(self) -> dict[str, Any]:
        """The payload of the next drill.finished, once it is recorded."""
        published = await asyncio.wait_for(self.ends.queue.get(), 10)
        return published.event.payload()


def config(tmp_path: Path) -> Config:
    marker = tmp_path / "latency-on"
    argv = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('on')"]
    return Config.model_validate(
        {
            "services": {
                "engine": {
                    "tier": 1,
                    "chaos": {
                        "latency": {"command": {"argv": argv}},
                        "crash": {"command": {"argv": [sys.executable, "-c", "exit(3)"]}},
                    },
                }
            }
        }
    )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = SQLiteStore(tmp_path / "p.db")
    await store.open()
    bus = EventBus(store)
    clock = FakeClock()
    drills = Drills(
        config(tmp_path),
        clock=clock,
        bus=bus,
        record=bus.publish,
        store=store,
        pid_of=lambda name: None,
        session=lambda: None,
    )
    yield Rig(drills, bus, store, clock, bus.subscribe("ends", "drill.finished"))
    await drills.stop()
    await store.close()


async def test_refusals_name_what_to_fix_and_record_nothing(rig: Rig) -> None:
    """Unknown service (404), a kind without a hook (names the key to add), hang of a
    service with no running process (409), an unknown contact: each refused, nothing on the
    timeline, no drill active."""
    cases = [
        (("nope", "crash"), {}, 404, "unknown service 'nope'"),
        (("engine", "leak"), {}, 422, "add services.engine.chaos.leak"),
        (("engine", "hang"), {}, 409, "no running process to hang"),
        (("engine", "latency"), {"contacts": ["ceo", "bob"]}, 422, "unknown contact bob"),
    ]
    for (service, kind), kw, status, words in cases:
        with pytest.raises(DrillRefused) as caught:
            await rig.drills.start(service, kind, by="olga", **kw)
        assert status == caught.value.status
        assert words in str(caught.value)
    assert [] == await rig.kinds()
    assert {} == rig.drills.active


def test_a_chaos_hook_is_one_of_http_or_command() -> None:
    """A hook naming both (or neither) is a config error that says which keys to choose."""
    both = {"http": {"url": "http://127.0.0.1:1/x"}, "command": {"argv": ["true"]}}
    with pytest.raises(ValidationError, match="give exactly one chaos hook of http or command"):
        Config.model_validate({"services": {"e": {"chaos": {"leak": both}}}})


async def test_a_hook_drill_labels_pages_follows_the_incident_and_reports_it(
    rig: Rig, tmp_path: Path
) -> None:
    """latency through its command hook (the program ran: its marker file exists); while it
    runs the service's alerts get drill labels naming oncall; the incident the bus then
    reports ends HEALTHY: drill.finished ok, the last-success time set, the report names the
    layer, the path and the RTO; after it, no label is added."""
    injected = rig.bus.subscribe("test", "drill.injected")
    drill = await rig.drills.start("engine", "latency", by="olga", follow_s=60)
    assert {"drill": drill, "drill_to": "oncall"} == rig.drills.labels("engine")
    await asyncio.wait_for(injected.queue.get(), 10)  # the hook is a real program
    assert (tmp_path / "latency-on").read_text() == "on"
    rig.clock.advance(0.25)
    await rig.bus.publish(
        FailureDetected(
            at=rig.clock.now(),
            service="engine",
            incident="inc_1",
            failure_kind="degradation",
            reason="p99 latency 40 ms over 10 ms",
            source="health",
        )
    )
    for to in ("RECOVERY_IN_PROGRESS", "RECOVERED", "HEALTHY"):
        rig.clock.advance(1.0)
        await rig.bus.publish(
            IncidentTransitioned(
                at=rig.clock.now(),
                service="engine",
                incident="inc_1",
                from_state="x",
                to_state=to,
                reason=f"to {to}",
            )
        )
    assert {"outcome": "HEALTHY", "ok": True, "incident": "inc_1"}.items() <= (
        await rig.finished()
    ).items()
    assert {} == rig.drills.labels("engine")
    assert rig.clock.wall() == rig.drills.last_success["engine"]
    report = await drill_report(rig.store, drill)
    assert report is not None
    assert ("health", 0.25, 2.25) == (
        report["detected"]["layer"],
        report["detected"]["time_to_detect_s"],
        report["rto_s"],
    )
    assert ["x", "RECOVERY_IN_PROGRESS", "RECOVERED", "HEALTHY"] == report["path"]
    # no recovery plan decided: the decision is the first move's reason
    assert {"method": None, "reason": "to RECOVERY_IN_PROGRESS"} == report["decision"]
    assert report["rto_met"] is True
    assert [("latency", "HEALTHY")] == [
        (d["kind"], d["outcome"]) for d in await drill_history(rig.store)
    ]


async def test_nothing_detected_by_the_timeout_is_a_failed_drill(rig: Rig) -> None:
    """The hook ran but nothing was convicted: at the drill's timeout (FakeClock) it finishes
    `not_detected`, not ok, and a second drill of the service may start."""
    injected = rig.bus.subscribe("test", "drill.injected")
    await rig.drills.start("engine", "latency", by="olga", follow_s=30)
    await asyncio.wait_for(injected.queue.get(), 10)
    rig.clock.advance(29)
    await asyncio.sleep(0)
    assert "drill.finished" not in await rig.kinds()
    rig.clock.advance(1)
    finished = await rig.finished()
    assert ("not_detected", False) == (finished["outcome"], finished["ok"])
    assert "nothing was detected within 30 s" == finished["sentence"]
    assert {} == rig.drills.last_success


async def test_a_drill_a_crash_cut_off_goes_on_and_ends_at_its_timeout(rig: Rig) -> None:
    """A drill.started with no drill.finished (paramedic was killed mid-drill, before
    anything was convicted): the next start labels the service's alerts as the drill's
    again and follows on with the time its timeout has left; nothing convicted by then, it
    finishes `not_detected`, so no drill reads as running forever. (It used to be finished
    `interrupted` at once, and the failure it caused paged the real ladder.)"""
    await rig.bus.publish(
        DrillStarted(
            at=rig.clock.now(),
            service="engine",
            drill="drl_x",
            drill_kind="crash",
            contacts=("oncall",),
            by="olga",
            timeout_s=60,
            target_rto_s=30,
        )
    )
    rig.clock.advance(20)
    await rig.drills.load()
    assert {"drill": "drl_x", "drill_to": "oncall"} == rig.drills.labels("engine")
    await asyncio.sleep(0)  # the resumed follow arms its timer
    rig.clock.advance(39)
    await asyncio.sleep(0)
    assert "drill.finished" not in await rig.kinds()
    rig.clock.advance(1)
    finished = await rig.finished()
    assert ("drl_x", "not_detected", False) == (
        finished["drill"],
        finished["outcome"],
        finished["ok"],
    )
    assert {} == rig.drills.labels("engine")
    report = await drill_report(rig.store, "drl_x")
    assert report is not None
    assert "finished" == report["state"]


async def test_a_failing_hook_is_used_instead_of_the_signal_and_finishes_not_injected(
    rig: Rig,
) -> None:
    """crash has a hook (no process needed): the hook runs, exits 3, and the drill finishes
    `not_injected` with the hook's sentence; nothing is followed."""
    await rig.drills.start("engine", "crash", by="olga")
    finished = await rig.finished()
    assert ("not_injected", False) == (finished["outcome"], finished["ok"])
    assert "3" in finished["sentence"]
    [injected] = await rig.store.timeline(kinds=("drill.injected",))
    assert injected.payload["ok"] is False


def state_of(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


async def stopped(pid: int, want: bool) -> bool:
    """Whether the process is (or is no longer) stopped, polled across the process boundary
    for at most 5 s: a signal's effect shows in /proc a moment after kill() returns."""
    for _ in range(500):
        if (state_of(pid) == "T") == want:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_hang_drill_never_leaves_the_process_stopped(rig: Rig, tmp_path: Path) -> None:
    """hang of a real child with no hook: SIGSTOP (its state is T); nothing convicts it and
    the drill times out (FakeClock): the drill sends SIGCONT, the child runs again."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(60)"
    )
    try:
        drills = Drills(
            Config.model_validate({"services": {"engine": {}}}),
            clock=rig.clock,
            bus=rig.bus,
            record=rig.bus.publish,
            store=rig.store,
            pid_of=lambda name: child.pid,
            session=lambda: None,
        )
        injected = rig.bus.subscribe("test", "drill.injected")
        await drills.start("engine", "hang", by="olga", follow_s=5)
        published = await asyncio.wait_for(injected.queue.get(), 10)
        assert published.event.payload()["how"] == f"SIGSTOP sent to process {child.pid} of engine"
        assert await stopped(child.pid, True)
        rig.clock.advance(5)
        finished = await rig.finished()
        assert "not_detected" == finished["outcome"]
        assert await stopped(child.pid, False)
    finally:
        child.kill()
        await child.wait()


async def test_the_report_gives_each_page_its_delivery_ack_and_escalation(rig: Rig) -> None:
    """The report reads the outbox: a DRILL page to oncall on pagerduty, delivered 40 ms
    after its commit and acknowledged by bob, and the backup's rung (level 1) that fired:
    each with its times in UTC; an alert of another service in the window is not the
    drill's."""
    clock = rig.clock
    start = DrillStarted(
        at=clock.now(),
        service="engine",
        drill="drl_p",
        drill_kind="crash",
        contacts=("oncall", "backup-oncall"),
        by="olga",
        timeout_s=60,
        target_rto_s=30,
    )
    await rig.bus.publish(start)
    now = clock.wall()
    for alert, service in (("a1", "engine"), ("other", "gateway")):
        raised = AlertRaised(
            at=clock.now(),
            service=service,
            alert_id=alert,
            severity="P0",
            title=f"[DRILL] {service} crash",
            severity_reason="tier 1",
            receivers=("oncall",),
        )
        await rig.bus.publish(raised)
        row = NotificationRow(
            id=f"ntf_{alert}",
            alert_id=alert,
            channel="pagerduty",
            action="trigger",
            severity="P0",
            idempotency_key=f"{alert}:trigger:oncall",
            status="pending",
            attempts=0,
            due_wall=now,
            created_wall=now,
            last_detail="",
            payload={"labels": {"receiver": "oncall"}},
        )
        await rig.store.enqueue([row], starting={row.id})
        done = AttemptRow(row.id, 1, now + 0.01, 0.03, "delivered", 200, "200 OK")
        await rig.store.record_attempts([(done, "delivered", now)])
    clock.advance(60)
    await rig.bus.publish(
        AlertEscalated(
            at=clock.now(),
            service="engine",
            alert_id="a1",
            level=1,
            step="backup-oncall",
            contacts=("backup-oncall",),
            reason="not acknowledged",
        )
    )
    clock.advance(30)
    await rig.bus.publish(
        AlertAcknowledged(at=clock.now(), service="engine", alert_id="a1", by="bob", why="mine")
    )
    report = await drill_report(rig.store, "drl_p")
    assert report is not None
    [page] = report["pages"]
    assert {
        "alert": "a1",
        "receiver": "oncall",
        "channel": "pagerduty",
        "status": "delivered",
        "created_at": iso(now),
        "delivered_at": iso(now + 0.01 + 0.03),  # started + duration
        "acknowledged_at": iso(now + 90),
        "acknowledged_by": "bob",
        "title": "[DRILL] engine crash",
    }.items() <= page.items()
    assert [(1, "backup-oncall", ["backup-oncall"])] == [
        (e["level"], e["step"], list(e["contacts"])) for e in report["escalation"]
    ]
    assert "running" == report["state"]


async def test_a_drill_cut_off_by_a_stop_finishes_interrupted(rig: Rig) -> None:
    """paramedic stops while a drill follows its incident: the drill is finished as
    `interrupted` and the service's alerts carry no drill label any more."""
    injected = rig.bus.subscribe("test", "drill.injected")
    await rig.drills.start("engine", "latency", by="olga", follow_s=600)
    await asyncio.wait_for(injected.queue.get(), 10)
    await rig.drills.stop()
    finished = await rig.finished()
    assert ("interrupted", False) == (finished["outcome"], finished["ok"])
    assert {} == rig.drills.labels("engine")
