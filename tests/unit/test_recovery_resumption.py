"""Gradual resumption on a FakeClock: the seed's phases, gates that hold, restore."""

from __future__ import annotations

from paramedic.config.recovery_plan import RecoveryPlan
from paramedic.recovery.resumption import (
    GateResult,
    Phase,
    Resumption,
    ResumptionState,
)
from paramedic.testing import FakeClock


def default_phases() -> list[Phase]:
    return [Phase.from_config(p) for p in RecoveryPlan().resumption.phases]


class Harness:
    def __init__(self, gate_answers: list[bool]) -> None:
        self.clock = FakeClock()
        self.answers = gate_answers
        self.gated: list[str] = []
        self.seen: list[tuple[str, float, bool]] = []

        async def run_gate(phase: Phase) -> GateResult:
            self.gated.append(phase.name)
            ok = self.answers.pop(0)
            return GateResult(ok, "positions match" if ok else "positions differ")

        async def on_phase(state: ResumptionState) -> None:
            self.seen.append((state.phase, state.size_multiplier, state.held))

        self.resumption = Resumption(
            default_phases(), self.clock, run_gate, on_phase, retry_gate_every=30.0
        )

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.resumption.settle()


async def test_default_phases_advance_on_the_clock() -> None:
    """2 min watching (0x), 5 min at 0.1x, then normal; each move after a passed gate."""
    h = Harness([True, True])
    await h.resumption.start()
    assert (0.0, False) == (h.resumption.current.size_multiplier, h.resumption.current.should_trade)
    await h.advance(119)
    assert "monitoring_only" == h.resumption.current.phase
    await h.advance(1)
    assert ("reduced", 0.1, True) == (
        h.resumption.current.phase,
        h.resumption.current.size_multiplier,
        h.resumption.current.should_trade,
    )
    await h.advance(300)
    expected = [("monitoring_only", 0.0, False), ("reduced", 0.1, False), ("normal", 1.0, False)]
    assert expected == h.seen
    assert ["monitoring_only", "reduced"] == h.gated
    assert True is h.resumption.done
    assert "reduced gate passed: normal at 1x size" == h.resumption.current.sentence
    assert 0 == h.clock.pending


async def test_failed_gate_holds_monitoring_only_and_retries() -> None:
    """A failed gate keeps the engine at 0x with the reason; the retry 30 s later moves it on."""
    h = Harness([False, True])
    await h.resumption.start()
    await h.advance(120)
    state = h.resumption.current
    assert ("monitoring_only", 0.0, True) == (state.phase, state.size_multiplier, state.held)
    assert "holding monitoring_only: positions differ; gate retried in 30 s" == state.sentence
    await h.advance(29)
    assert ["monitoring_only"] == h.gated
    await h.advance(1)
    assert "reduced" == h.resumption.current.phase


async def test_state_round_trips_and_restore_restarts_the_phase() -> None:
    """Exported state is plain data; a restored resumption reruns its phase in full."""
    h = Harness([True, True])
    await h.resumption.start()
    await h.advance(120)
    data = h.resumption.current.to_dict()
    assert h.resumption.current == ResumptionState.from_dict(data)
    again = Harness([True])
    await again.resumption.restore(ResumptionState.from_dict(data))
    assert "reduced" == again.resumption.current.phase
    await again.advance(299)
    assert "reduced" == again.resumption.current.phase
    await again.advance(1)
    assert "normal" == again.resumption.current.phase
