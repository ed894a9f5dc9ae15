"""What validation and resumption put on the record as typed events (the incident report
reads these, not the notes written beside them)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from paramedic.core.incident_events import (
    RecoveryFinished,
    ResumptionPhaseEntered,
    ValidationChecked,
)
from tests.unit.test_orchestrator import OPEN_ANY, Harness, py, wait_for, warm_plan


async def test_each_window_verdict_and_phase_is_a_typed_event(tmp_path: Path) -> None:
    """The immediate window's verdict (each check: name, ok, critical, sentence, duration) is
    recorded before RECOVERED; the short window's when every window passed, before the success;
    each resumption phase once as it is entered (monitoring_only 0x, reduced 0.1x, normal 1x)."""
    plan = warm_plan(tmp_path, [py("s1", "ok_step")])
    plan["validation"] = {
        "immediate": [{"name": "proc", "process": {}}],
        "short": [{"name": "positions", "command": {"argv": ["true"]}}],
        "short_every": "1m",
        "short_window": "2m",
    }
    h = Harness(tmp_path, plan, OPEN_ANY)
    await h.orch.on_failure(h.failure())
    await h.orch.settle()
    for _ in range(2):
        h.clock.advance(60)
        await asyncio.sleep(0.05)
        await h.orch.settle()
    h.clock.advance(600)
    await h.orch.settle()
    checked = h.of(ValidationChecked)
    assert [("immediate", True), ("short", True)] == [(e.window, e.ok) for e in checked]
    name, ok, critical, sentence, took = checked[0].checks[0]
    assert ("proc", True, True, "proc: process running") == (name, ok, critical, sentence)
    assert 0 <= took < 1
    assert "positions" == checked[1].checks[0][0]
    kinds = [e.kind for e in h.events]
    assert kinds.index("validation.checked") < kinds.index("recovery.finished")
    assert [True] == [e.ok for e in h.of(RecoveryFinished)]
    phases = [(e.phase, e.multiplier, e.held) for e in h.of(ResumptionPhaseEntered)]
    assert [
        ("monitoring_only", 0.0, False),
        ("reduced", 0.1, False),
        ("normal", 1.0, False),
    ] == phases
    await h.orch.close()


async def test_a_failing_window_is_recorded_once_before_its_escalation(tmp_path: Path) -> None:
    """A critical short check failing: one `validation.checked` (ok false, naming the check)
    before the escalation, not one per run."""
    plan = warm_plan(tmp_path, [py("s1", "ok_step")])
    plan["validation"] = {
        "short": [{"name": "positions", "command": {"argv": ["false"]}}],
        "short_every": "30s",
        "short_window": "5m",
    }
    h = Harness(tmp_path, plan, OPEN_ANY)
    await h.orch.on_failure(h.failure())
    await h.orch.settle()
    h.clock.advance(30)
    await wait_for(lambda: h.orch.incidents()[0].state.value == "MANUAL_RECOVERY")
    h.clock.advance(300)
    await h.orch.settle()
    failed = [e for e in h.of(ValidationChecked) if not e.ok]
    assert ["short"] == [e.window for e in failed]
    assert ("positions", False, True) == failed[0].checks[0][:3]
    kinds = [e.kind for e in h.events]
    last_check = max(i for i, k in enumerate(kinds) if k == "validation.checked")
    assert last_check < kinds.index("escalation.triggered")
    await h.orch.close()
