"""How far along a recovery is, when it will end, and when it is late (seed 3.3-3.5, 7.1).

The ETA is built per remaining step, from the best evidence there is: (a) the median of that
step's durations in past recoveries (the median, so one pathological run does not swing it),
else (b) the step's configured expected duration, else (c) the seed's naive estimate (time per
completed step so far). The time already spent in the running step is taken off its share, so
the ETA does not jump while a long step runs. Validation is the run's last share (the seed's
"Validate state" step), estimated the same way from past validations. Durations and deadlines
are monotonic; wall time is only used to print the timestamps people read.

Progress only goes up: n steps are n shares of n + 1 (validation is the last), validation
starts at 95 % at least, and a failed run keeps the figure it reached (the state says it
failed; the seed's -1 read as a regression on every chart).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from paramedic.core.clock import Clock, Instant, TimerHandle
from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event
from paramedic.core.incident_events import EscalationTriggered, RecoveryProgress
from paramedic.core.text import duration
from paramedic.recovery.states import IncidentState

__all__ = ["EtaSource", "ProgressTracker", "RtoWatch"]

EtaSource = Literal["history", "expected", "naive"]

_VALIDATING_PCT = 95  # the seed's figure: validation is the last 5 %


class ProgressTracker:
    """Progress of one recovery run; every update returns the event to record and logs a line.

    `log_lines` keeps the seed's 3.5 lines (`[RECOVERY] [60%] Completed: Restore orders`)
    without timestamps: the logger adds those.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        incident: str,
        service: str | None,
        steps: Sequence[str],
        expected: Mapping[str, float] | None = None,
        history: Mapping[str, Sequence[float]] | None = None,
        detected_at: Instant | None = None,
        validation: float | None = 0.0,
    ) -> None:
        """`validation`: seconds the validation is expected to take (past runs' median, or
        0 with no checks); None when unknown (then the naive per-step time stands in)."""
        if not steps:
            msg = f"incident {incident}: a recovery run needs at least one step"
            raise RecoveryError(msg)
        if len(set(steps)) != len(steps):
            msg = f"incident {incident}: step names must be unique, got {list(steps)}"
            raise RecoveryError(msg)
        self._clock = clock
        self._incident = incident
        self._service = service
        self._steps = tuple(steps)
        self._expected = dict(expected or {})
        self._history = {k: statistics.median(v) for k, v in (history or {}).items() if v}
        now = clock.now()
        self._detected = detected_at or now
        self._started: Instant | None = None
        self._step_started: Instant = now
        self._completed: list[str] = []
        self._validation = validation
        self._validating: Instant | None = None
        self.state = IncidentState.FAILURE_DETECTED
        self.percentage = 0
        self.current_step = "Failure detected"
        self.status_message = "Initiating recovery"
        self.last_update = now
        self.finished: Instant | None = None
        self.log_lines: list[str] = []

    @property
    def completed_steps(self) -> tuple[str, ...]:
        return tuple(self._completed)

    @property
    def remaining_steps(self) -> tuple[str, ...]:
        return self._steps[len(self._completed) :]

    def report_failure(self, reason: str) -> RecoveryProgress:
        """The failure instant: the total recovery time is counted from here (seed 3.5)."""
        self._detected = self._clock.now()
        self._log(0, f"Failure detected: {reason}")
        return self._update(IncidentState.FAILURE_DETECTED, 0, "Failure detected", reason)

    def start(self) -> RecoveryProgress:
        """The run begins; the first step is now the running one."""
        self._started = self._step_started = self._clock.now()
        n = len(self._steps)
        self._log(0, f"Starting recovery: {n} steps to complete")
        return self._update(
            IncidentState.RECOVERY_IN_PROGRESS,
            0,
            self._steps[0],
            f"Recovery started, {n} steps to complete",
        )

    def complete_step(self, step: str) -> RecoveryProgress:
        """Steps run in order, so completing any but the running one is a runner bug."""
        remaining = self.remaining_steps
        if self._started is None or not remaining or remaining[0] != step:
            running = remaining[0] if remaining and self._started else "none"
            msg = f"incident {self._incident}: cannot complete {step!r}; running step: {running}"
            raise RecoveryError(msg)
        self._completed.append(step)
        self._step_started = self._clock.now()
        total = len(self._steps)
        pct = 100 * len(self._completed) // (total + 1)
        self._log(pct, f"Completed: {step}")
        nxt = self.remaining_steps[0] if self.remaining_steps else "All steps complete"
        return self._update(
            IncidentState.RECOVERY_IN_PROGRESS,
            pct,
            nxt,
            f"{len(self._completed)}/{total} steps complete",
        )

    def start_validation(self) -> RecoveryProgress:
        pct = max(self.percentage, _VALIDATING_PCT)
        self._validating = self._clock.now()
        self._log(pct, "Validating recovered state")
        return self._update(
            IncidentState.VALIDATING,
            pct,
            "Validating recovered state",
            "Running validation checks",
        )

    def complete(self) -> RecoveryProgress:
        """Recovered: logs the seed's closing line with the time since the failure."""
        self._log(100, "Recovery complete: System fully recovered")
        event = self._update(
            IncidentState.RECOVERED,
            100,
            "Recovery complete",
            "System fully recovered and operational",
        )
        self.finished = self.last_update
        self.log_lines.append(f"Total recovery time: {self.total_seconds():.3f} seconds")
        return event

    def fail(self, reason: str) -> RecoveryProgress:
        """Failed: the figure reached stays (progress never goes down); the state says so."""
        pct = self.percentage
        self._log(pct, f"Recovery failed: {reason}")
        event = self._update(IncidentState.RECOVERY_FAILED, pct, "Recovery failed", reason)
        self.finished = self.last_update
        return event

    def total_seconds(self) -> float:
        """From the failure to the end (or now), monotonic."""
        end = self.finished.mono if self.finished else self._clock.monotonic()
        return end - self._detected.mono

    def estimate(self) -> tuple[float, EtaSource] | None:
        """(wall time of completion, weakest evidence used), or None when nothing is known.

        Completion is the end of validation, not of the last step."""
        remaining = self.remaining_steps
        if self._started is None or self.finished is not None:
            return None
        now = self._clock.now()
        naive: float | None = None
        if self._completed:
            naive = (self._step_started.mono - self._started.mono) / len(self._completed)
        total = 0.0
        weakest: EtaSource = "history"
        rank: dict[EtaSource, int] = {"history": 0, "expected": 1, "naive": 2}
        shares: list[float] = []
        for i, step in enumerate(remaining):
            source: EtaSource
            if step in self._history:
                share, source = self._history[step], "history"
            elif step in self._expected:
                share, source = self._expected[step], "expected"
            elif naive is not None:
                share, source = naive, "naive"
            else:
                return None
            shares.append(share)
            if i == 0:
                share = max(0.0, share - (now.mono - self._step_started.mono))
            total += share
            weakest = source if rank[source] > rank[weakest] else weakest
        validation = self._validation
        if validation is None:  # checks with no past run: as long as a step, like the seed's
            known = shares or list(self._history.values()) or list(self._expected.values())
            validation = (
                naive if naive is not None else (sum(known) / len(known) if known else None)
            )
            if validation is None:
                return None
            weakest = "naive"
        if self._validating is not None:
            validation = max(0.0, validation - (now.mono - self._validating.mono))
        return now.wall + total + validation, weakest

    def status_json(self) -> dict[str, Any]:
        """The seed's 3.4 body: times in Unix milliseconds; no ETA key when none is known."""
        body: dict[str, Any] = {
            "state": self.state.value,
            "progress_percentage": self.percentage,
            "current_step": self.current_step,
            "status_message": self.status_message,
            "last_update": _millis(self.last_update.wall),
            "completed_steps": list(self._completed),
            "remaining_steps": list(self.remaining_steps),
        }
        eta = self.estimate()
        if eta is not None:
            body["estimated_completion"] = _millis(eta[0])
        return body

    def _log(self, pct: int, headline: str) -> None:
        self.log_lines.append(f"[RECOVERY] [{pct}%] {headline}")

    def _update(self, state: IncidentState, pct: int, step: str, message: str) -> RecoveryProgress:
        now = self._clock.now()
        self.state, self.percentage = state, pct
        self.current_step, self.status_message, self.last_update = step, message, now
        eta = self.estimate()
        return RecoveryProgress(
            at=now,
            service=self._service,
            incident=self._incident,
            state=state.value,
            percentage=pct,
            current_step=step,
            status_message=message,
            completed_steps=self.completed_steps,
            remaining_steps=self.remaining_steps,
            eta_wall=eta[0] if eta else None,
            eta_source=eta[1] if eta else None,
        )


def _millis(wall: float) -> int:
    return round(wall * 1000)


class RtoWatch:
    """Seed 7.1 trigger 1: escalate once when a recovery runs 50 % past its target RTO.

    One monotonic timer, set at start: a wall-clock step can neither fire nor cancel it.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        incident: str,
        service: str | None,
        target_rto_s: float,
        emit: Callable[[Event], None],
        factor: float = 1.5,
    ) -> None:
        if target_rto_s <= 0 or factor <= 0:
            msg = f"target RTO and factor must be positive, got {target_rto_s} and {factor}"
            raise RecoveryError(msg)
        self._clock = clock
        self._incident, self._service = incident, service
        self._target, self._factor = target_rto_s, factor
        self._emit = emit
        self._timer: TimerHandle | None = None
        self._started = 0.0
        self.fired = False

    def start(self, started_mono: float | None = None) -> None:
        """Arm the watch; `started_mono` lets the RTO count from the failure, not the run."""
        if self._timer is not None or self.fired:
            msg = f"incident {self._incident}: RTO watch already started"
            raise RecoveryError(msg)
        now = self._clock.monotonic()
        self._started = now if started_mono is None else started_mono
        due = self._started + self._target * self._factor - now
        self._timer = self._clock.call_later(due, self._fire)

    def stop(self) -> None:
        """The recovery ended (either way): no escalation for lateness any more."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        if self.fired:
            return
        self.fired = True
        now = self._clock.now()
        elapsed = now.mono - self._started
        self._emit(
            EscalationTriggered(
                at=now,
                service=self._service,
                incident=self._incident,
                trigger="rto_exceeded",
                rto_target_s=self._target,
                reason=(
                    f"recovery running {duration(elapsed)}, over {self._factor:g} x the target"
                    f" RTO of {duration(self._target)}"
                ),
            )
        )
