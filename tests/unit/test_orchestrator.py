"""RecoveryOrchestrator on a FakeClock: decide, approve, run, fall back, validate, resume,
rebuild."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from paramedic.config.recovery_plan import RecoveryPlan
from paramedic.config.recovery_policy import RecoveryPolicy
from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event, NoteAdded
from paramedic.core.failure_events import FailureDetected
from paramedic.core.incident_events import (
    ApprovalGranted,
    ApprovalRejected,
    ApprovalRequested,
    ApprovalTimedOut,
    EscalationTriggered,
    IncidentTransitioned,
    RecoveryDecided,
    RecoveryFinished,
    RecoveryStepStarted,
)
from paramedic.recovery.hooks import RecoveryHooks, StepContext
from paramedic.recovery.orchestrator import RecoveryOrchestrator
from paramedic.store.protocol import StoredEvent
from paramedic.store.timeline import decode
from paramedic.testing import FakeClock

HERE = "tests.unit.test_orchestrator"
MODE: dict[str, bool] = {"block": False}
SEED_KEYS = {
    "state",
    "progress_percentage",
    "current_step",
    "status_message",
    "last_update",
    "completed_steps",
    "remaining_steps",
    "estimated_completion",
}


async def ok_step(ctx: StepContext) -> str:
    return f"{ctx.method} step done"


async def fail_step(ctx: StepContext) -> bool:
    return False


async def block_step(ctx: StepContext) -> str:
    if MODE["block"]:
        await asyncio.Event().wait()
    return "unblocked"


GATE: dict[str, asyncio.Event] = {}


async def gated_step(ctx: StepContext) -> str:
    await GATE["s2"].wait()
    return "released"


def py(name: str, fn: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "python": {"entry_point": f"{HERE}:{fn}"}, **extra}


class Harness:
    def __init__(self, tmp: Path, plan: dict[str, Any], policy: dict[str, Any]) -> None:
        self.tmp = tmp
        self.clock = FakeClock(wall=time.time() + 41)
        self.events: list[Event] = []
        self.pid: int | None = 4242
        self.plan = RecoveryPlan.model_validate(plan)
        self.policy = RecoveryPolicy.model_validate(policy)
        self.orch = self.make()

    def make(
        self,
        record: Callable[[Event], Awaitable[None]] | None = None,
        hooks: RecoveryHooks | None = None,
    ) -> RecoveryOrchestrator:
        async def append(event: Event) -> None:
            self.events.append(event)

        async def restart() -> str | None:
            return None

        async def wait(_t: float) -> bool:
            return True

        hooks = hooks or RecoveryHooks(restart, restart, wait, wait, lambda: self.pid)
        return RecoveryOrchestrator(
            "engine",
            self.plan,
            self.policy,
            clock=self.clock,
            record=record or append,
            hooks=hooks,
            session=None,
            base_dir=self.tmp,
        )

    def failure(self, incident: str = "inc_1") -> FailureDetected:
        return FailureDetected(
            at=self.clock.now(),
            service="engine",
            incident=incident,
            failure_kind="crash",
            reason="pid 4242 killed by SIGKILL",
            source="process",
        )

    def moves(self) -> list[tuple[str, str]]:
        return [(e.from_state, e.to_state) for e in self.of(IncidentTransitioned)]

    def of(self, cls: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def rows(self, upto: int | None = None) -> list[StoredEvent]:
        chosen = self.events if upto is None else self.events[:upto]
        return [
            StoredEvent(
                i + 1,
                e.id,
                e.kind,
                e.at.mono,
                e.at.wall,
                e.service,
                e.summary(),
                json.loads(json.dumps(e.payload())),
            )
            for i, e in enumerate(chosen)
        ]


OPEN_ANY = {"approval": {"require": {"market_open": ["manual"], "market_closed": ["manual"]}}}


def warm_plan(tmp: Path, steps: list[dict[str, Any]]) -> dict[str, Any]:
    (tmp / "checkpoint.bin").write_bytes(b"positions")
    return {
        "methods": {"warm": {"steps": steps}, "cold": {"steps": [py("c1", "ok_step")]}},
        "checkpoint": {"path": "checkpoint.bin"},
        "validation": {"immediate": [{"name": "proc", "process": {}}]},
    }


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    MODE["block"] = False
    h = Harness(tmp_path, warm_plan(tmp_path, [py("s1", "ok_step"), py("s2", "ok_step")]), OPEN_ANY)
    yield h
    await h.orch.close()


async def wait_for(pred: Any) -> None:
    for _ in range(2000):
        if pred():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


async def test_full_recovery_then_phases_then_healthy(harness: Harness) -> None:
    """Decision (warm, with its sentence) -> run -> validate -> RECOVERED, with the seed's log
    lines; resumption walks monitoring_only -> reduced -> normal; the watch period ends at
    5 min, but HEALTHY waits for the normal phase (7 min): never closed while trading ramps."""
    h = harness
    await h.orch.on_failure(h.failure())
    await h.orch.settle()
    decided = h.of(RecoveryDecided)[0]
    assert "warm restart: checkpoint 41 s old; hot restart not configured" == decided.sentence
    assert [
        ("FAILURE_DETECTED", "RECOVERY_IN_PROGRESS"),
        ("RECOVERY_IN_PROGRESS", "VALIDATING"),
        ("VALIDATING", "RECOVERED"),
    ] == h.moves()
    assert ["s1", "s2"] == [e.step for e in h.of(RecoveryStepStarted)]
    assert "[RECOVERY] [33%] Completed: s1" in h.orch.log_lines
    assert h.orch.log_lines[-1].startswith("Total recovery time: ")
    assert [True] == [e.ok for e in h.of(RecoveryFinished)]
    assert {"phase": "monitoring_only", "size_multiplier": 0.0, "should_trade": False} == {
        k: v for k, v in h.orch.resumption().items() if k != "since"
    }
    h.clock.advance(120)
    await h.orch.settle()
    assert ("reduced", 0.1) == (
        h.orch.resumption()["phase"],
        h.orch.resumption()["size_multiplier"],
    )
    h.clock.advance(180)
    await h.orch.settle()
    assert ("VALIDATING", "RECOVERED") == h.moves()[-1]
    status = h.orch.status()
    assert ("Resuming trading", "Recovered; trading resumes gradually: reduced at 0.1x size") == (
        status["current_step"],
        status["status_message"],
    )
    h.clock.advance(120)
    await h.orch.settle()
    assert ("RECOVERED", "HEALTHY") == h.moves()[-1]
    assert ("normal", True) == (h.orch.resumption()["phase"], h.orch.resumption()["should_trade"])


async def test_approval_approved_runs_the_method(tmp_path: Path) -> None:
    """Default policy, market open: warm needs a yes; nothing runs until it comes."""
    h = Harness(tmp_path, warm_plan(tmp_path, [py("s1", "ok_step")]), {})
    await h.orch.on_failure(h.failure())
    await h.orch.settle()
    assert "AWAITING_APPROVAL" == h.orch.status()["state"]
    assert [] == h.of(RecoveryStepStarted)
    await h.orch.approve("inc_1", by="alice", why="checked positions")
    await h.orch.settle()
    assert [("alice", "checked positions")] == [(e.by, e.why) for e in h.of(ApprovalGranted)]
    assert "RECOVERED" == h.orch.incidents()[0].state.value
    await h.orch.close()


async def test_approval_rejected_goes_manual_without_action(tmp_path: Path) -> None:
    """A no is audited and hands the incident to a human: no step ever starts."""
    h = Harness(tmp_path, warm_plan(tmp_path, [py("s1", "ok_step")]), {})
    await h.orch.on_failure(h.failure())
    await h.orch.reject("inc_1", by="bob", why="exchange halted")
    await h.orch.settle()
    assert ["bob"] == [e.by for e in h.of(ApprovalRejected)]
    assert ("AWAITING_APPROVAL", "MANUAL_RECOVERY") == h.moves()[-1]
    assert [] == h.of(RecoveryStepStarted)
    await h.orch.close()


async def test_approval_timeout_escalates_and_does_nothing(tmp_path: Path) -> None:
    """After 5 min of silence: timed out + escalation(approval_timeout); still waiting, no
    step run; a late yes is then taken and the method runs."""
    h = Harness(tmp_path, warm_plan(tmp_path, [py("s1", "ok_step")]), {})
    await h.orch.on_failure(h.failure())
    h.clock.advance(299)
    await h.orch.settle()
    assert [] == h.of(ApprovalTimedOut)
    h.clock.advance(1)
    await h.orch.settle()
    assert [300.0] == [e.waited_s for e in h.of(ApprovalTimedOut)]
    assert ["approval_timeout"] == [e.trigger for e in h.of(EscalationTriggered)]
    assert "AWAITING_APPROVAL" == h.orch.incidents()[0].state.value
    assert [] == h.of(RecoveryStepStarted)
    await h.orch.approve("inc_1", by="alice", why="late")
    await h.orch.settle()
    assert [True] == [e.late for e in h.of(ApprovalGranted)]
    assert "RECOVERED" == h.orch.incidents()[0].state.value
    await h.orch.close()


async def test_warm_fails_cold_fails_manual_with_snapshots(tmp_path: Path) -> None:
    """A failing warm step: state preserved first, fall back to cold (command `false`), which
    fails too: preserved again, MANUAL_RECOVERY and escalation(recovery_failed)."""
    plan = warm_plan(tmp_path, [py("s1", "fail_step")])
    plan["methods"]["cold"] = {"steps": [{"name": "c1", "command": {"argv": ["false"]}}]}
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text("last words\n")
    plan["preserve"] = {"paths": ["logs"], "snapshot_dir": "snaps"}
    h = Harness(tmp_path, plan, OPEN_ANY)
    await h.orch.on_failure(h.failure())
    await h.orch.settle()
    assert [
        ("FAILURE_DETECTED", "RECOVERY_IN_PROGRESS"),
        ("RECOVERY_IN_PROGRESS", "RECOVERY_FAILED"),
        ("RECOVERY_FAILED", "RECOVERY_IN_PROGRESS"),
        ("RECOVERY_IN_PROGRESS", "RECOVERY_FAILED"),
        ("RECOVERY_FAILED", "MANUAL_RECOVERY"),
    ] == h.moves()
    fallback = h.of(IncidentTransitioned)[2]
    assert ("cold", True) == (fallback.method, fallback.reason.startswith("falling back from warm"))
    assert ["recovery_failed"] == [e.trigger for e in h.of(EscalationTriggered)]
    folders = sorted((tmp_path / "snaps").iterdir())
    assert 2 == len(folders)
    for folder in folders:
        copied = folder / "files" / str(logs).lstrip("/") / "app.log"
        assert "last words\n" == copied.read_text()
        assert json.loads((folder / "manifest.json").read_text())["files"]
    await h.orch.close()


async def test_rto_plus_50_percent_escalates(tmp_path: Path) -> None:
    """Target RTO 30 s: a step still running at 45 s raises escalation(rto_exceeded), once."""
    MODE["block"] = True
    h = Harness(tmp_path, warm_plan(tmp_path, [py("s1", "block_step")]), OPEN_ANY)
    await h.orch.on_failure(h.failure())
    await wait_for(lambda: h.of(RecoveryStepStarted))
    h.clock.advance(44.9)
    await asyncio.sleep(0.01)
    assert [] == h.of(EscalationTriggered)
    h.clock.advance(0.1)
    await wait_for(lambda: h.of(EscalationTriggered))
    assert ["rto_exceeded"] == [e.trigger for e in h.of(EscalationTriggered)]
    await h.orch.close()


async def three_step_run(tmp_path: Path) -> Harness:
    """s1 done, s2 running (blocked), s3 waiting: the instant paramedic gets killed."""
    MODE["block"] = True
    steps = [py("s1", "ok_step"), py("s2", "block_step", expected="10s"), py("s3", "ok_step")]
    steps[2]["expected"] = "20s"
    h = Harness(tmp_path, warm_plan(tmp_path, steps), OPEN_ANY)
    await h.orch.on_failure(h.failure())
    await wait_for(lambda: len(h.of(RecoveryStepStarted)) == 2)
    return h


async def test_status_is_the_seeds_shape_field_by_field(tmp_path: Path) -> None:
    """Mid-run: every key of the seed's 3.4 example, with its value for step 2 of 3."""
    h = await three_step_run(tmp_path)
    h.clock.advance(4)
    body = h.orch.status()
    now = h.clock.wall()
    assert SEED_KEYS == set(body)
    assert "RECOVERY_IN_PROGRESS" == body["state"]
    assert 25 == body["progress_percentage"]  # 1 of 3 steps, validation the 4th share
    assert "s2" == body["current_step"]
    assert "1/3 steps complete" == body["status_message"]
    assert isinstance(body["last_update"], int)
    assert ["s1"] == body["completed_steps"]
    assert ["s2", "s3"] == body["remaining_steps"]
    assert round((now + 6 + 20) * 1000) == body["estimated_completion"]
    await h.orch.close()


async def test_rebuild_unknown_step_goes_manual(tmp_path: Path) -> None:
    """Killed during step 2: the new paramedic cannot know if it happened; MANUAL_RECOVERY,
    the sentence says exactly what is unknown, and it escalates. Nothing is re-run."""
    h = await three_step_run(tmp_path)
    await h.orch.close()
    rows = h.rows()
    h.events.clear()
    h.orch = h.make()
    await h.orch.rebuild(decode(rows))
    await h.orch.settle()
    why = (
        'paramedic restarted during step 2/3 "s2" of the warm method;'
        " whether it completed is unknown"
    )
    assert [("RECOVERY_IN_PROGRESS", "MANUAL_RECOVERY")] == h.moves()
    assert why == h.of(IncidentTransitioned)[0].reason
    assert [("recovery_failed", why)] == [(e.trigger, e.reason) for e in h.of(EscalationTriggered)]
    assert [] == h.of(RecoveryStepStarted)
    await h.orch.close()


async def test_rebuild_after_finished_step_resumes_at_next(tmp_path: Path) -> None:
    """Killed right after step 1's finish was durable: steps 2 and 3 run, never step 1."""
    h = await three_step_run(tmp_path)
    await h.orch.close()
    started_2 = next(
        i for i, e in enumerate(h.events) if isinstance(e, RecoveryStepStarted) and e.index == 2
    )
    rows = h.rows(upto=started_2)
    MODE["block"] = False
    h.events.clear()
    h.orch = h.make()
    await h.orch.rebuild(decode(rows))
    await h.orch.settle()
    assert [(2, "s2"), (3, "s3")] == [(e.index, e.step) for e in h.of(RecoveryStepStarted)]
    assert ("VALIDATING", "RECOVERED") == h.moves()[-1]
    await h.orch.close()


async def test_rebuild_awaiting_approval_rearms_remaining_time(tmp_path: Path) -> None:
    """Restarted 100 s into a 300 s approval wait: it times out 200 s later, not 300 s."""
    h = Harness(tmp_path, warm_plan(tmp_path, [py("s1", "ok_step")]), {})
    await h.orch.on_failure(h.failure())
    await h.orch.close()
    rows = h.rows()
    h.events.clear()
    h.clock.advance(100)
    h.orch = h.make()
    await h.orch.rebuild(decode(rows))
    assert "AWAITING_APPROVAL" == h.orch.status()["state"]
    h.clock.advance(199)
    await h.orch.settle()
    assert [] == h.of(ApprovalTimedOut)
    h.clock.advance(1)
    await h.orch.settle()
    assert ["approval_timeout"] == [e.trigger for e in h.of(EscalationTriggered)]
    await h.orch.close()


async def test_the_request_is_published_once_the_incident_awaits_approval(
    tmp_path: Path,
) -> None:
    """Whoever reads the views on `approval.requested` (a test, the console) sees
    AWAITING_APPROVAL: the move is recorded before the request, not after it."""
    h = Harness(tmp_path, warm_plan(tmp_path, [py("s1", "ok_step")]), {})
    seen: list[str] = []

    async def record(event: Event) -> None:
        h.events.append(event)
        if isinstance(event, ApprovalRequested):
            seen.append(h.orch.status()["state"])

    h.orch = h.make(record)
    await h.orch.on_failure(h.failure())
    await h.orch.settle()
    assert ["AWAITING_APPROVAL"] == seen
    await h.orch.close()


async def test_rebuild_between_the_move_and_the_request_asks_again(tmp_path: Path) -> None:
    """Killed after the move to AWAITING_APPROVAL but before the request was recorded: the
    restart records the request (so it can be answered and times out), not a silent wait."""
    h = Harness(tmp_path, warm_plan(tmp_path, [py("s1", "ok_step")]), {})
    await h.orch.on_failure(h.failure())
    await h.orch.close()
    cut = next(i for i, e in enumerate(h.events) if isinstance(e, ApprovalRequested))
    rows = [r for r in h.rows() if r.kind != ApprovalRequested.kind]
    assert cut == len(rows)  # the request was the last record
    h.events.clear()
    h.orch = h.make()
    await h.orch.rebuild(decode(rows))
    await h.orch.settle()
    assert "AWAITING_APPROVAL" == h.orch.status()["state"]
    assert ["warm"] == [e.method for e in h.of(ApprovalRequested)]
    assert [] == h.moves()
    await h.orch.approve("inc_1", by="alice", why="checked")
    await h.orch.settle()
    assert "RECOVERED" == h.orch.incidents()[0].state.value
    await h.orch.close()


async def test_rebuild_after_an_approval_timeout_keeps_the_request_answerable(
    tmp_path: Path,
) -> None:
    """Restarted after the request timed out: it is still open (the next reminder comes a
    timeout after the last one), and a late approval runs the method."""
    h = Harness(tmp_path, warm_plan(tmp_path, [py("s1", "ok_step")]), {})
    await h.orch.on_failure(h.failure())
    h.clock.advance(300)
    await h.orch.settle()
    await h.orch.close()
    rows = h.rows()
    h.events.clear()
    h.clock.advance(100)
    h.orch = h.make()
    await h.orch.rebuild(decode(rows))
    h.clock.advance(199)
    await h.orch.settle()
    assert [] == h.of(ApprovalTimedOut)
    h.clock.advance(1)
    await h.orch.settle()
    assert 1 == len(h.of(ApprovalTimedOut))
    await h.orch.approve("inc_1", by="alice", why="late but sure")
    await h.orch.settle()
    assert "RECOVERED" == h.orch.incidents()[0].state.value
    await h.orch.close()


async def test_taking_over_stops_the_run_before_its_next_step(tmp_path: Path) -> None:
    """An operator takes over during step 2 of 3: step 2 ends, step 3 never starts, nothing
    is validated, trading stays halted; then `resolve` resumes gradually from 0x."""
    GATE["s2"] = asyncio.Event()
    steps = [py("s1", "ok_step"), py("s2", "gated_step"), py("s3", "ok_step")]
    h = Harness(tmp_path, warm_plan(tmp_path, steps), OPEN_ANY)
    await h.orch.on_failure(h.failure())
    await wait_for(lambda: len(h.of(RecoveryStepStarted)) == 2)
    await h.orch.take_manual("inc_1", by="olga", why="doing it by hand")
    GATE["s2"].set()
    await h.orch.settle()
    assert ["s1", "s2"] == [e.step for e in h.of(RecoveryStepStarted)]
    assert ("RECOVERY_IN_PROGRESS", "MANUAL_RECOVERY") == h.moves()[-1]
    assert "halted" == h.orch.resumption()["phase"]
    with pytest.raises(RecoveryError, match="already in manual recovery"):
        await h.orch.take_manual("inc_1", by="olga", why="again")
    await h.orch.resolve("inc_1", by="olga", why="fixed")
    assert ("MANUAL_RECOVERY", "RECOVERED") == h.moves()[-1]
    assert ("monitoring_only", 0.0) == (
        h.orch.resumption()["phase"],
        h.orch.resumption()["size_multiplier"],
    )
    assert [("manual", True)] == [(e.method, e.ok) for e in h.of(RecoveryFinished)]
    await h.orch.close()


async def test_a_resolve_by_hand_starts_a_dead_process_and_refuses_while_the_service_is_down(
    tmp_path: Path,
) -> None:
    """Manual recovery with the process dead (pid None) and the service down: `resolve`
    starts the process (the human's go-ahead), and the incident is RECOVERED only once the
    service is up. A service still down after the start, or down with its process running,
    refuses the resolve with a sentence; the incident stays in manual recovery, nothing
    resumes. (A resolve of a dead service once closed it HEALTHY and nothing paged again.)"""
    h = Harness(tmp_path, warm_plan(tmp_path, [py("s1", "ok_step")]), OPEN_ANY)
    up = {"now": False, "after_start": False}
    starts: list[int] = []

    async def restart() -> str | None:
        starts.append(1)
        h.pid = 5151
        up["now"] = up["after_start"]
        return None

    async def wait(_within: float) -> bool:
        return up["now"]

    await h.orch.close()  # replaced by one with these hands
    orch = h.make(hooks=RecoveryHooks(restart, restart, wait, wait, lambda: h.pid))
    try:
        await orch.on_failure(h.failure())
        await orch.take_manual("inc_1", by="olga", why="doing it by hand")
        await orch.settle()
        h.pid = None  # the process died and nothing restarts it in manual recovery
        with pytest.raises(RecoveryError) as refused:
            await orch.resolve("inc_1", by="olga", why="fixed")
        said = str(refused.value)
        assert said.startswith("engine is not up after 8 s (its process was not running;")
        assert "started it (pid 5151)" in said
        assert "resolve it again once `paramedic top` shows engine up" in said
        assert 1 == len(starts)
        assert "MANUAL_RECOVERY" == h.moves()[-1][1]
        assert "halted" == orch.resumption()["phase"]

        with pytest.raises(RecoveryError, match=r"after 8 s \(its detectors still report a"):
            await orch.resolve("inc_1", by="olga", why="fixed")  # running now, still down
        assert 1 == len(starts), "a running process is not started again"

        h.pid, up["after_start"] = None, True
        await orch.resolve("inc_1", by="olga", why="fixed")
        assert 2 == len(starts)
        assert ("MANUAL_RECOVERY", "RECOVERED") == h.moves()[-1]
        notes = [e.text for e in h.of(NoteAdded) if "started it" in e.text]
        said = "incident inc_1: resolve by olga: its process was not running; started it (pid 5151)"
        assert [said, said] == notes
    finally:
        await orch.close()


async def test_a_non_critical_check_warns_and_a_critical_one_halts(tmp_path: Path) -> None:
    """Short window on the FakeClock: a failing `critical: false` check is a note and changes
    nothing; a failing critical one halts trading at 0x, records the recovery as failed (no
    success ever) and hands the incident to a human, naming the check."""
    plan = warm_plan(tmp_path, [py("s1", "ok_step")])
    plan["validation"] = {
        "short": [
            {"name": "latency", "critical": False, "command": {"argv": ["false"]}},
            {"name": "positions", "command": {"argv": ["false"]}},
        ],
        "short_every": "30s",
        "short_window": "5m",
    }
    h = Harness(tmp_path, plan, OPEN_ANY)
    await h.orch.on_failure(h.failure())
    await h.orch.settle()
    assert [] == h.of(RecoveryFinished)  # not a success before the windows pass
    h.clock.advance(30)
    await wait_for(lambda: h.orch.incidents()[0].state.value == "MANUAL_RECOVERY")
    await h.orch.settle()
    assert [False] == [e.ok for e in h.of(RecoveryFinished)]
    escalations = [(e.trigger, e.checks) for e in h.of(EscalationTriggered)]
    assert [("validation_failed", ("positions",))] == escalations
    notes = [e.text for e in h.events if e.kind == "note.added"]
    assert any("short validation warning: latency" in n for n in notes)
    assert ("halted", 0.0) == (
        h.orch.resumption()["phase"],
        h.orch.resumption()["size_multiplier"],
    )
    h.clock.advance(600)  # past every phase's end: trading never ramps back by itself
    await h.orch.settle()
    assert "MANUAL_RECOVERY" == h.orch.incidents()[0].state.value
    assert ("halted", 0.0) == (
        h.orch.resumption()["phase"],
        h.orch.resumption()["size_multiplier"],
    )
    await h.orch.close()


async def test_passing_windows_record_the_success_when_they_end(tmp_path: Path) -> None:
    """With a short window that passes, the success is recorded when the window ends (with
    the RTO measured at the immediate validation), then HEALTHY once trading is normal."""
    plan = warm_plan(tmp_path, [py("s1", "ok_step")])
    plan["validation"] = {
        "short": [{"name": "positions", "command": {"argv": ["true"]}}],
        "short_every": "1m",
        "short_window": "3m",
    }
    h = Harness(tmp_path, plan, OPEN_ANY)
    await h.orch.on_failure(h.failure())
    await h.orch.settle()
    for _ in range(3):
        assert [] == h.of(RecoveryFinished)
        h.clock.advance(60)
        await asyncio.sleep(0.05)
        await h.orch.settle()
    finished = h.of(RecoveryFinished)
    assert [True] == [e.ok for e in finished]
    assert finished[0].duration_s < 1
    h.clock.advance(420)
    await h.orch.settle()
    assert ("RECOVERED", "HEALTHY") == h.moves()[-1]
    await h.orch.close()


async def test_rebuild_during_the_windows_runs_them_again_then_records_the_success(
    tmp_path: Path,
) -> None:
    """Killed while a short window was still open: the new paramedic runs the window again
    in full and only then records the recovery as a success."""
    plan = warm_plan(tmp_path, [py("s1", "ok_step")])
    plan["validation"] = {
        "short": [{"name": "positions", "command": {"argv": ["true"]}}],
        "short_every": "1m",
        "short_window": "2m",
    }
    h = Harness(tmp_path, plan, OPEN_ANY)
    await h.orch.on_failure(h.failure())
    await h.orch.settle()
    await h.orch.close()
    rows = h.rows()
    h.events.clear()
    h.orch = h.make()
    await h.orch.rebuild(decode(rows))
    for _ in range(2):
        assert [] == h.of(RecoveryFinished)
        h.clock.advance(60)
        await asyncio.sleep(0.05)
        await h.orch.settle()
    assert [True] == [e.ok for e in h.of(RecoveryFinished)]
    await h.orch.close()


async def test_rebuild_after_a_failed_validation_goes_to_a_human_not_a_fallback(
    tmp_path: Path,
) -> None:
    """Killed right after a critical short check failed (RECOVERY_FAILED recorded, manual not
    yet): the new paramedic hands it to a human instead of running cold; resolving it later
    clears the validation page."""
    plan = warm_plan(tmp_path, [py("s1", "ok_step")])
    plan["validation"] = {
        "short": [{"name": "positions", "command": {"argv": ["false"]}}],
        "short_every": "30s",
        "short_window": "1m",
    }
    h = Harness(tmp_path, plan, OPEN_ANY)
    await h.orch.on_failure(h.failure())
    await h.orch.settle()
    h.clock.advance(30)
    await wait_for(lambda: h.orch.incidents()[0].state.value == "MANUAL_RECOVERY")
    await h.orch.settle()
    await h.orch.close()
    failed_at = next(
        i
        for i, e in enumerate(h.events)
        if isinstance(e, IncidentTransitioned) and e.to_state == "RECOVERY_FAILED"
    )
    everything, cut = h.rows(), h.rows(upto=failed_at + 1)
    page = next(e for e in h.events if e.kind == "failure.detected")
    assert "inc_1_validation" == page.incident
    h.events.clear()
    h.orch = h.make()
    await h.orch.rebuild(decode(cut))
    await h.orch.settle()
    assert [("RECOVERY_FAILED", "MANUAL_RECOVERY")] == h.moves()
    assert [] == h.of(RecoveryStepStarted)
    await h.orch.close()
    h.events.clear()
    h.orch = h.make()
    await h.orch.rebuild(decode(everything))
    await h.orch.resolve("inc_1", by="olga", why="positions fixed by hand")
    cleared = [e for e in h.events if e.kind == "failure.cleared"]
    assert ["inc_1_validation"] == [e.incident for e in cleared]
    await h.orch.close()


async def test_rebuild_between_recovered_and_its_record_finishes_the_record(
    harness: Harness,
) -> None:
    """Killed right after VALIDATING -> RECOVERED was durable, before recovery.finished: the
    new paramedic records the success once (no windows to wait for), nothing runs again."""
    h = harness
    await h.orch.on_failure(h.failure())
    await h.orch.settle()
    await h.orch.close()
    recovered = next(
        i
        for i, e in enumerate(h.events)
        if isinstance(e, IncidentTransitioned) and e.to_state == "RECOVERED"
    )
    rows = h.rows(upto=recovered + 1)
    h.events.clear()
    h.orch = h.make()
    await h.orch.rebuild(decode(rows))
    await h.orch.settle()
    assert [("warm", True)] == [(e.method, e.ok) for e in h.of(RecoveryFinished)]
    assert [] == h.of(RecoveryStepStarted)
