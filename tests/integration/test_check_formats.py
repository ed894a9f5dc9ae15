"""The decision's checks answering in a format of their own, through real check programs: the
sentence says what was expected, and the decision takes the cautious reading."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from paramedic.config.recovery_plan import StandbySource
from paramedic.core.clock import SystemClock
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureDetected
from paramedic.core.incident_events import RecoveryDecided
from paramedic.recovery.sources import CORRUPTION_FORMAT, STANDBY_FORMAT, VOLATILITY_FORMAT
from paramedic.recovery.standby import StandbyWatch
from paramedic.testing import FakeClock
from tests.integration.test_orchestrator import Child, crash, orchestrator

pytestmark = pytest.mark.integration

ENGINE = "import time; print('up', flush=True); time.sleep(60)"
COLD = {
    "cold": {
        "steps": [
            {"name": "restart", "timeout": "10s", "restart_process": {}},
            {"name": "healthy", "timeout": "10s", "wait_healthy": {}},
        ]
    }
}


def printing(doc: Any) -> dict[str, Any]:
    """A check source: a program printing `doc` as JSON."""
    return {"check": {"command": {"argv": [sys.executable, "-c", f"print({json.dumps(doc)!r})"]}}}


async def decided(tmp_path: Path, plan: dict[str, Any]) -> RecoveryDecided:
    engine = Child(ENGINE)
    events: list[Event] = []
    orch = orchestrator(tmp_path, {"methods": COLD, **plan}, engine, events)
    try:
        await orch.on_failure(crash(SystemClock()))
        await orch.settle()
    finally:
        await orch.close()
        await engine.stop()
    [decision] = [e for e in events if isinstance(e, RecoveryDecided)]
    return decision


async def test_a_corruption_answer_in_another_format_is_taken_for_corrupt(tmp_path: Path) -> None:
    """`{"ok": true}` is not `{"corrupt": false}`: manual, and the sentence names the format."""
    decision = await decided(tmp_path, {"corruption": printing({"ok": True})})
    assert "manual" == decision.method
    assert decision.sentence.startswith("manual: data corruption detected")
    assert (
        'integrity unknown, treated as corrupt: the corruption check answered {"ok": true}'
        f" (corrupt is not true or false); expected {CORRUPTION_FORMAT}"
    ) in decision.sentence


async def test_a_volatility_answer_in_another_format_keeps_cold_for_a_human(
    tmp_path: Path,
) -> None:
    """`{"vix": 31}` cannot say the market is calm: the cold restart waits for a human."""
    decision = await decided(tmp_path, {"volatility": printing({"vix": 31})})
    assert "manual" == decision.method
    assert decision.sentence.startswith("manual: volatility unknown")
    assert (
        'the volatility check answered {"vix": 31} (current is missing);'
        f" expected {VOLATILITY_FORMAT}"
    ) in decision.sentence
    assert "cold" == (await decided(tmp_path, {})).method  # the same plan without the check


async def test_the_standby_watch_names_the_expected_format() -> None:
    """After a hot restart, a standby check answering `{"in_sync": true}` is a "running
    without a standby" failure whose reason says what the check should answer."""
    recorded: list[Event] = []

    async def record(event: Event) -> Any:
        recorded.append(event)

    source = StandbySource.model_validate(printing({"in_sync": True}))
    watch = StandbyWatch(
        "engine",
        source,
        clock=FakeClock(),
        record=record,
        session=_no_session,
        spawn=lambda coro: coro.close(),
    )
    await watch.check()
    watch.stop()
    [failure] = recorded
    assert isinstance(failure, FailureDetected)
    assert (
        'the standby check answered {"in_sync": true} (available is not true or false);'
        f" expected {STANDBY_FORMAT}"
    ) in failure.reason


async def _no_session() -> Any:
    raise AssertionError("a command source needs no HTTP session")
