"""ServiceHealth: the per-service verdict built from every detector's signals (seed 1.3).

Each detector reports its latest verdict as a `Signal`. The service is failing while any
source fails. Hysteresis works on *evaluations*: one happens at each signal and at each
periodic `tick`; `down_after` consecutive failing evaluations take the service down (1 by
default, because detectors debounce already: a heartbeat timeout, a probe's
failure_threshold), and `up_after` consecutive clean *periodic* ones bring it back up. A
good signal arriving is not itself proof of health (a crash-looping child reports "running"
every time it is restarted), so only ticks count towards coming up. Going down yields
exactly one `FailureDetected`, however many detectors then agree; coming up yields
`FailureCleared`. Too many up/down changes in a window mark the service flapping: its
changes are then held inside one incident instead of opening new ones.

Pure and synchronous: it returns the events to record; the caller records them in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from paramedic.core.clock import Instant
from paramedic.core.events import Event
from paramedic.core.ids import new_id
from paramedic.detect.events import (
    FailureCleared,
    FailureDetected,
    ServiceFlapping,
    ServiceUp,
    SignalChanged,
)
from paramedic.detect.signals import FAILURE_KINDS, FailureKind, Signal

__all__ = ["HealthPolicy", "HealthState", "ServiceHealth"]

HealthState = Literal["unknown", "up", "down"]

# When several detectors fail at once, the incident is named after the most specific cause:
# a dead process explains a silent heartbeat, not the other way round.
_PRIORITY: dict[str, int] = {
    kind: rank
    for rank, kind in enumerate(
        (
            "crash",
            "hang",
            "db_connection_loss",
            "network_partition",
            "disk_full",
            "memory_leak",
            "degradation",
        )
    )
}
assert set(_PRIORITY) == set(FAILURE_KINDS)


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """Hysteresis and flap detection settings for one service."""

    down_after: int = 1
    up_after: int = 3
    flap_window: float = 120.0
    flap_changes: int = 6  # three down/up cycles; two unrelated failures are not flapping


class ServiceHealth:
    """The verdict on one service, and the incident it has open."""

    def __init__(
        self,
        service: str,
        policy: HealthPolicy | None = None,
        *,
        depends_on: Sequence[str] = (),
        upstream_down: Callable[[], Sequence[str]] = tuple,
        new_incident_id: Callable[[], str] = lambda: new_id("inc_"),
    ) -> None:
        self.service = service
        self.policy = policy or HealthPolicy()
        self.depends_on = tuple(depends_on)
        self._upstream_down = upstream_down
        self._new_incident_id = new_incident_id
        self.state: HealthState = "unknown"
        self.failing: dict[str, Signal] = {}
        self.incident: str | None = None
        self.down_since: float | None = None
        self.flapping = False
        self._expected: set[str] = set()
        self._reported: set[str] = set()
        self._bad = 0
        self._good = 0
        self._changes: deque[float] = deque()

    # -- inputs ------------------------------------------------------------------------------

    def expect(self, *sources: str) -> None:
        """Detectors that must report before "up": silence from a detector that has not
        started (a startup probe still waiting) is not health."""
        self._expected.update(sources)

    def reverify(self, *sources: str) -> None:
        """A new process was started: these detectors must report on it before "up"."""
        self._reported.difference_update(sources)

    @property
    def needs_ticks(self) -> bool:
        """Whether a periodic evaluation could change anything: a steady healthy service
        (up, nothing failing, not flapping) needs none, so a large fleet costs nothing."""
        return self.state != "up" or bool(self.failing) or self.flapping

    @property
    def expected(self) -> frozenset[str]:
        return frozenset(self._expected)

    @property
    def pending(self) -> list[str]:
        """Expected detectors that have not reported yet."""
        return sorted(self._expected - self._reported)

    def observe(self, signal: Signal, now: Instant) -> list[Event]:
        """Take one detector verdict; return the events to record, in order."""
        self._reported.add(signal.source)
        events: list[Event] = []
        previous = self.failing.get(signal.source)
        if signal.ok:
            if previous is not None:
                del self.failing[signal.source]
                events.append(self._signal_event(signal, now))
        else:
            if previous is None or previous.reason != signal.reason or previous.kind != signal.kind:
                events.append(self._signal_event(signal, now))
            self.failing[signal.source] = signal
        events += self._evaluate(now, periodic=False)
        return events

    def tick(self, now: Instant) -> list[Event]:
        """A periodic evaluation: the only kind that counts towards `up_after`."""
        events = self._evaluate(now, periodic=True)
        events += self._check_flap_end(now)
        return events

    def resume(
        self, incident: str | None, down_for: float, failing: Sequence[Signal], now: Instant
    ) -> None:
        """After a restart of paramedic, take up what the timeline left: the incident still
        open (so that coming up clears *it*, and its alert with it) and the bad verdicts of
        sources that do not report again by themselves (an Alertmanager rule speaks only on
        a change). Live detectors (process, heartbeat, probes) report afresh on their own."""
        for signal in failing:
            self.failing[signal.source] = signal
            self._reported.add(signal.source)
        if incident is not None:
            self.incident = incident
            self.state = "down"
            self.down_since = now.mono - max(0.0, down_for)

    def needs_human(self, reason: str, now: Instant) -> list[Event]:
        """The watchdog gave up: make sure an incident is open and says a human is needed."""
        if self.incident is not None and self.state == "down":
            return []
        self.incident = self._new_incident_id()
        self.state = "down"
        self.down_since = now.mono
        return [
            FailureDetected(
                at=now,
                service=self.service,
                incident=self.incident,
                failure_kind="crash",
                reason=reason,
                source="watchdog",
                needs_human=True,
                upstream_down=tuple(self._upstream_down()),
            )
        ]

    # -- the verdict -------------------------------------------------------------------------

    @property
    def primary(self) -> Signal | None:
        """The failing signal that names the incident (see `_PRIORITY`)."""
        if not self.failing:
            return None
        return min(
            self.failing.values(),
            key=lambda s: (_PRIORITY.get(s.kind or "degradation", 99), s.at),
        )

    @property
    def failure_kind(self) -> FailureKind | None:
        primary = self.primary
        return None if primary is None else (primary.kind or "degradation")

    def _evaluate(self, now: Instant, *, periodic: bool) -> list[Event]:
        if self.failing:
            self._bad += 1
            self._good = 0
            if self.state != "down" and self._bad >= self.policy.down_after:
                return self._go_down(now)
        else:
            self._bad = 0
            if not periodic or self.pending:
                return []
            self._good += 1
            if self.state != "up" and self._good >= self.policy.up_after:
                return self._go_up(now)
        return []

    def _go_down(self, now: Instant) -> list[Event]:
        was_up = self.state == "up"
        self.state = "down"
        self.down_since = now.mono
        events: list[Event] = []
        if not (self.flapping and self.incident is not None):  # else held in the flap incident
            primary = self.primary
            assert primary is not None
            self.incident = self._new_incident_id()
            evidence = tuple(
                s.reason
                for s in sorted(self.failing.values(), key=lambda s: s.at)
                if s is not primary
            )
            events.append(
                FailureDetected(
                    at=now,
                    service=self.service,
                    incident=self.incident,
                    failure_kind=primary.kind or "degradation",
                    reason=primary.reason,
                    source=primary.source,
                    evidence=evidence,
                    upstream_down=tuple(self._upstream_down()),
                    severity=primary.severity,
                )
            )
        if was_up:
            events += self._note_change(now)
        return events

    def _go_up(self, now: Instant) -> list[Event]:
        was_down = self.state == "down"
        self.state = "up"
        if not was_down:  # unknown -> up: the first verdict; nothing was open
            return [
                ServiceUp(
                    at=now,
                    service=self.service,
                    reason=f"all detectors ok for {self.policy.up_after} checks",
                )
            ]
        events = self._note_change(now)
        if self.flapping:
            return events  # the incident stays open until the flapping stops
        events.append(self._cleared(now, f"all detectors ok for {self.policy.up_after} checks"))
        return events

    def _cleared(self, now: Instant, reason: str) -> FailureCleared:
        assert self.incident is not None
        downtime = now.mono - (self.down_since if self.down_since is not None else now.mono)
        event = FailureCleared(
            at=now,
            service=self.service,
            incident=self.incident,
            downtime_s=round(downtime, 6),
            reason=reason,
        )
        self.incident = None
        self.down_since = None
        return event

    # -- flapping ----------------------------------------------------------------------------

    def _note_change(self, now: Instant) -> list[Event]:
        self._changes.append(now.mono)
        self._trim(now.mono)
        if not self.flapping and len(self._changes) >= self.policy.flap_changes:
            self.flapping = True
            return [
                ServiceFlapping(
                    at=now,
                    service=self.service,
                    incident=self.incident or "",
                    changes=len(self._changes),
                    window_s=self.policy.flap_window,
                    flapping=True,
                )
            ]
        return []

    def _check_flap_end(self, now: Instant) -> list[Event]:
        if not self.flapping:
            return []
        self._trim(now.mono)
        if self._changes:
            return []
        self.flapping = False
        events: list[Event] = [
            ServiceFlapping(
                at=now,
                service=self.service,
                incident=self.incident or "",
                changes=0,
                window_s=self.policy.flap_window,
                flapping=False,
            )
        ]
        if self.state == "up" and self.incident is not None:
            events.append(self._cleared(now, f"stable for {self.policy.flap_window:g} s"))
        return events

    def _trim(self, now: float) -> None:
        while self._changes and now - self._changes[0] > self.policy.flap_window:
            self._changes.popleft()

    def _signal_event(self, signal: Signal, now: Instant) -> SignalChanged:
        return SignalChanged(
            at=now,
            service=self.service,
            source=signal.source,
            ok=signal.ok,
            failure_kind=signal.kind,
            reason=signal.reason,
        )
