"""Gradual resumption (seed 4.4): watch first, trade small, then trade normally.

A recovered engine does not go back to full size at once: it spends its first phase sending no
orders while its state is validated, then trades at a fraction of its size, and only then at
full size. Each phase ends with a gate (a set of checks); a failed gate *holds* the current
phase and the gate is tried again later, so a problem found at minute 2 keeps the engine
watching rather than trading.

The state is plain data (`to_dict`/`from_dict`) so the integrator can persist it and serve it
to `paramedic.client.ResumptionGate`. A restored resumption restarts its current phase from
the beginning: after a restart of paramedic itself, the safe mistake is a longer phase.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from paramedic.config.recovery_plan import PhaseConfig
from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.text import duration

__all__ = ["GateResult", "Phase", "Resumption", "ResumptionState"]


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    size_multiplier: float
    duration: float | None

    @classmethod
    def from_config(cls, config: PhaseConfig) -> Phase:
        return cls(config.name, config.size_multiplier, config.duration)


@dataclass(frozen=True, slots=True)
class GateResult:
    ok: bool
    sentence: str


@dataclass(frozen=True, slots=True)
class ResumptionState:
    """What a trading loop needs to know, plus why; `since` is wall time, for people."""

    phase: str
    index: int
    size_multiplier: float
    should_trade: bool
    since: float
    held: bool
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResumptionState:
        return cls(
            phase=str(data["phase"]),
            index=int(data["index"]),
            size_multiplier=float(data["size_multiplier"]),
            should_trade=bool(data["should_trade"]),
            since=float(data["since"]),
            held=bool(data["held"]),
            sentence=str(data["sentence"]),
        )


RunGate = Callable[[Phase], Awaitable[GateResult]]
"""Runs the end-of-phase gate of the given phase (the integrator maps it to checks)."""
OnPhase = Callable[[ResumptionState], Awaitable[None]]
"""Awaited on every change: entering a phase, or holding one after a failed gate."""


class Resumption:
    """Walks the phases on the injected clock; one gate run at a time."""

    def __init__(
        self,
        phases: Sequence[Phase],
        clock: Clock,
        run_gate: RunGate,
        on_phase: OnPhase,
        *,
        retry_gate_every: float = 30.0,
    ) -> None:
        if not phases:
            msg = "resumption needs at least one phase"
            raise ValueError(msg)
        self._phases = list(phases)
        self._clock = clock
        self._run_gate = run_gate
        self._on_phase = on_phase
        self._retry = retry_gate_every
        self._timer: TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._state = self._entered(0, "not started")
        self._stopped = False

    @property
    def current(self) -> ResumptionState:
        return self._state

    @property
    def done(self) -> bool:
        """In the last phase, which has no gate and no end."""
        return self._state.index == len(self._phases) - 1

    def _entered(self, index: int, sentence: str) -> ResumptionState:
        phase = self._phases[index]
        return ResumptionState(
            phase=phase.name,
            index=index,
            size_multiplier=phase.size_multiplier,
            should_trade=phase.size_multiplier > 0,
            since=self._clock.wall(),
            held=False,
            sentence=sentence,
        )

    async def start(self) -> None:
        """Enter the first phase (trading at its multiplier, usually none) and start its timer."""
        await self._enter(0, self._describe(0, "resumption started"))

    async def restore(self, state: ResumptionState) -> None:
        """Continue from persisted data; the current phase runs again in full (see module)."""
        index = next(
            (i for i, p in enumerate(self._phases) if p.name == state.phase),
            0,  # an unknown phase (config changed): start over, which is the cautious end
        )
        await self._enter(index, self._describe(index, "resumption restored"))

    def _describe(self, index: int, why: str) -> str:
        phase = self._phases[index]
        length = f" for {duration(phase.duration)}" if phase.duration is not None else ""
        return f"{why}: {phase.name} at {phase.size_multiplier:g}x size{length}"

    async def _enter(self, index: int, sentence: str) -> None:
        self._state = self._entered(index, sentence)
        await self._on_phase(self._state)
        duration = self._phases[index].duration
        if duration is not None and index < len(self._phases) - 1:
            self._arm(duration)

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self._stopped:
            self._timer = self._clock.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._gate())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _gate(self) -> None:
        index = self._state.index
        phase = self._phases[index]
        try:
            result = await self._run_gate(phase)
        except Exception as exc:  # a broken gate must hold, never advance
            result = GateResult(False, f"gate raised {type(exc).__name__}: {exc}")
        if self._stopped or self._state.index != index:
            return
        if result.ok:
            nxt = index + 1
            await self._enter(nxt, self._describe(nxt, f"{phase.name} gate passed"))
            return
        retry = duration(self._retry)
        sentence = f"holding {phase.name}: {result.sentence}; gate retried in {retry}"
        self._state = ResumptionState(
            phase=phase.name,
            index=index,
            size_multiplier=phase.size_multiplier,
            should_trade=phase.size_multiplier > 0,
            since=self._state.since,
            held=True,
            sentence=sentence,
        )
        await self._on_phase(self._state)
        self._arm(self._retry)

    async def settle(self) -> None:
        """Wait for gate runs already started (tests; an orderly stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:  # stopped from its own gate run: that run just ends
                task.cancel()
