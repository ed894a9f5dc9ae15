"""ServiceHealth: the per-service verdict built from every detector's signals (seed 1.3).

Each detector reports its latest verdict as a `Signal`. The service is down while any
incident on it is active. Incidents are per failure *kind*: one `FailureDetected` per real
failure, however many detectors then agree, and a second, different failure while the first
is still open is announced on its own (a full disk during a database outage is two problems
and two pages). What one kind *explains* is folded into it as evidence instead (`_EXPLAINS`:
a dead process explains a silent heartbeat and a failing liveness probe; any failure
explains a failing readiness probe).

Hysteresis works on *evaluations*: one happens at each signal and at each periodic `tick`;
`down_after` consecutive evaluations with a failure nothing open accounts for open its
incident (1 by default, because detectors debounce already: a heartbeat timeout, a probe's
failure_threshold), and an incident clears (`FailureCleared`, naming its kind) after
`up_after` consecutive clean *periodic* evaluations: no failing signal of its kind and every
expected detector has reported on the current process. A good signal arriving is not itself
proof of health (a crash-looping child reports "running" every time it is restarted), so only
ticks count towards clearing.

Flap damping is per kind too: when one kind opens and clears `flap_changes` times within
`flap_window`, its incident is held open (repeats of that failure fold into it) until the
kind has been stable for the whole window. It never swallows a different kind.

Pure and synchronous: it returns the events to record; the caller records them in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from paramedic.core.clock import Instant
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureCleared, FailureDetected, ServiceUp
from paramedic.core.ids import new_id
from paramedic.core.text import duration
from paramedic.detect.events import ServiceFlapping, SignalChanged
from paramedic.detect.signals import FAILURE_KINDS, FailureKind, Signal

__all__ = ["HealthPolicy", "HealthState", "OpenIncident", "ServiceHealth"]

HealthState = Literal["unknown", "up", "down"]

# When several kinds fail at once, the most specific opens first, so that what it explains
# becomes its evidence: a dead process explains a silent heartbeat, not the other way round.
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

# The symptoms each open failure accounts for. A process that died or hung cannot answer its
# heartbeat or its probes; a service with any failure is not ready to trade. Nothing explains
# a different cause: a leak or a full disk during a database outage is announced on its own.
_EXPLAINS: dict[str, frozenset[str]] = {
    "crash": frozenset({"hang", "degradation"}),
    "hang": frozenset({"degradation"}),
    "db_connection_loss": frozenset({"degradation"}),
    "network_partition": frozenset({"degradation"}),
    "disk_full": frozenset({"degradation"}),
    "memory_leak": frozenset({"degradation"}),
    "degradation": frozenset(),
}
assert set(_EXPLAINS) == set(FAILURE_KINDS)


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """Hysteresis and flap detection settings for one service."""

    down_after: int = 1
    up_after: int = 3
    flap_window: float = 120.0
    flap_changes: int = 6  # three down/up cycles of one kind


@dataclass(slots=True)
class OpenIncident:
    """One failure kind's incident. `active` while failing; a flapping kind's incident stays
    open but inactive (held) between its relapses."""

    id: str
    kind: FailureKind
    since: float
    active: bool = True
    good: int = 0


def _kind(signal: Signal) -> FailureKind:
    return signal.kind or "degradation"


class ServiceHealth:
    """The verdict on one service, and the incidents it has open (at most one per kind)."""

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
        self.incidents: dict[FailureKind, OpenIncident] = {}
        self._expected: set[str] = set()
        self._reported: set[str] = set()
        self._bad = 0
        self._good = 0
        self._changes: dict[FailureKind, deque[float]] = {}
        self._flapping: set[FailureKind] = set()

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
        (up, nothing failing or open, not flapping) needs none, so a large fleet costs nothing."""
        return self.state != "up" or bool(self.failing or self.incidents or self._flapping)

    @property
    def expected(self) -> frozenset[str]:
        return frozenset(self._expected)

    @property
    def pending(self) -> list[str]:
        """Expected detectors that have not reported yet."""
        return sorted(self._expected - self._reported)

    @property
    def flapping(self) -> bool:
        """Whether some failure kind of this service is flapping (see `flapping_kinds`)."""
        return bool(self._flapping)

    @property
    def flapping_kinds(self) -> frozenset[FailureKind]:
        return frozenset(self._flapping)

    @property
    def incident(self) -> str | None:
        """The most specific active incident (None when nothing is failing)."""
        active = [o for o in self.incidents.values() if o.active]
        if not active:
            return None
        return min(active, key=lambda o: (_PRIORITY[o.kind], o.since)).id

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
        self,
        incidents: Sequence[tuple[str, FailureKind, float]],
        failing: Sequence[Signal],
        now: Instant,
    ) -> None:
        """After a restart of paramedic, take up what the timeline left: the incidents still
        open, as (id, kind, seconds down), so that healing clears *them* and their alerts, and
        the bad verdicts of sources that do not report again by themselves (an Alertmanager
        rule speaks only on a change). Live detectors (process, heartbeat, probes) report
        afresh on their own."""
        for signal in failing:
            self.failing[signal.source] = signal
            self._reported.add(signal.source)
        for incident_id, kind, down_for in incidents:
            self.incidents[kind] = OpenIncident(incident_id, kind, now.mono - max(0.0, down_for))
        if incidents:
            self.state = "down"

    def needs_human(self, reason: str, now: Instant) -> list[Event]:
        """The watchdog gave up: make sure a crash incident is open and says a human is needed."""
        existing = self.incidents.get("crash")
        if existing is not None:
            existing.active, existing.good = True, 0
            self.state = "down"
            return []
        opened = OpenIncident(self._new_incident_id(), "crash", now.mono)
        self.incidents["crash"] = opened
        self.state = "down"
        return [
            FailureDetected(
                at=now,
                service=self.service,
                incident=opened.id,
                failure_kind="crash",
                reason=reason,
                source="watchdog",
                needs_human=True,
                upstream_down=tuple(self._upstream_down()),
            )
        ]

    # -- the verdict -------------------------------------------------------------------------

    def _accounted(self, kind: FailureKind) -> bool:
        """Whether an active incident already stands for a failure of this kind."""
        return any(
            o.active and (o.kind == kind or kind in _EXPLAINS[o.kind])
            for o in self.incidents.values()
        )

    def _evaluate(self, now: Instant, *, periodic: bool) -> list[Event]:
        events: list[Event] = []
        failing = {_kind(s) for s in self.failing.values()}
        for incident in self.incidents.values():
            if incident.kind in failing:  # a relapse restarts the count of clean checks
                incident.good = 0
        if periodic:
            events += self._heal(failing, now)
        fresh = sorted((k for k in failing if not self._accounted(k)), key=_PRIORITY.__getitem__)
        if fresh:
            self._bad += 1
            self._good = 0
            if self._bad >= self.policy.down_after:
                for kind in fresh:
                    if not self._accounted(kind):  # an earlier one of this batch explains it
                        events += self._go_down(kind, now)
        else:
            self._bad = 0
        if self.incidents and any(o.active for o in self.incidents.values()):
            self.state = "down"
        elif self.state == "down":
            self.state = "up"  # the last active incident healed on this tick
        elif periodic and not self.failing and not self.pending:
            self._good += 1
            if self.state == "unknown" and self._good >= self.policy.up_after:
                self.state = "up"
                events.append(
                    ServiceUp(
                        at=now,
                        service=self.service,
                        reason=f"all detectors ok for {self.policy.up_after} checks",
                    )
                )
        return events

    def _go_down(self, kind: FailureKind, now: Instant) -> list[Event]:
        """Open the kind's incident, or wake its held one (a flapping kind's relapse)."""
        held = self.incidents.get(kind)
        if held is not None:
            held.active, held.good = True, 0
            return self._note_change(kind, now)
        opened = OpenIncident(self._new_incident_id(), kind, now.mono)
        self.incidents[kind] = opened
        mine = sorted(
            (s for s in self.failing.values() if _kind(s) == kind or _kind(s) in _EXPLAINS[kind]),
            key=lambda s: (_kind(s) != kind, s.at),
        )
        primary = mine[0]
        events: list[Event] = [
            FailureDetected(
                at=now,
                service=self.service,
                incident=opened.id,
                failure_kind=kind,
                reason=primary.reason,
                source=primary.source,
                evidence=tuple(s.reason for s in sorted(mine[1:], key=lambda s: s.at)),
                upstream_down=tuple(self._upstream_down()),
                severity=primary.severity,
            )
        ]
        return events + self._note_change(kind, now)

    def _heal(self, failing: set[FailureKind], now: Instant) -> list[Event]:
        """Count clean periodic checks per active incident; clear (or hold) the healed."""
        events: list[Event] = []
        pending = bool(self.pending)
        for incident in list(self.incidents.values()):
            if not incident.active:
                continue
            if incident.kind in failing or pending:
                incident.good = 0
                continue
            incident.good += 1
            if incident.good < self.policy.up_after:
                continue
            incident.active = False
            events += self._note_change(incident.kind, now)
            if incident.kind not in self._flapping:  # else held until it is stable
                reason = f"{incident.kind} ok for {self.policy.up_after} checks"
                events.append(self._cleared(incident, now, reason))
        return events

    def _cleared(self, incident: OpenIncident, now: Instant, reason: str) -> FailureCleared:
        del self.incidents[incident.kind]
        return FailureCleared(
            at=now,
            service=self.service,
            incident=incident.id,
            failure_kind=incident.kind,
            downtime_s=round(now.mono - incident.since, 6),
            reason=reason,
        )

    # -- flapping ----------------------------------------------------------------------------

    def _note_change(self, kind: FailureKind, now: Instant) -> list[Event]:
        changes = self._changes.setdefault(kind, deque())
        changes.append(now.mono)
        self._trim(changes, now.mono)
        if kind in self._flapping or len(changes) < self.policy.flap_changes:
            return []
        self._flapping.add(kind)
        incident = self.incidents.get(kind)
        return [
            ServiceFlapping(
                at=now,
                service=self.service,
                incident=incident.id if incident is not None else "",
                changes=len(changes),
                window_s=self.policy.flap_window,
                flapping=True,
                failure_kind=kind,
            )
        ]

    def _check_flap_end(self, now: Instant) -> list[Event]:
        events: list[Event] = []
        for kind in sorted(self._flapping, key=_PRIORITY.__getitem__):
            changes = self._changes[kind]
            self._trim(changes, now.mono)
            if changes:
                continue
            self._flapping.discard(kind)
            incident = self.incidents.get(kind)
            events.append(
                ServiceFlapping(
                    at=now,
                    service=self.service,
                    incident=incident.id if incident is not None else "",
                    changes=0,
                    window_s=self.policy.flap_window,
                    flapping=False,
                    failure_kind=kind,
                )
            )
            if incident is not None and not incident.active:
                reason = f"{kind} stable for {duration(self.policy.flap_window)}"
                events.append(self._cleared(incident, now, reason))
        return events

    def _trim(self, changes: deque[float], now: float) -> None:
        while changes and now - changes[0] > self.policy.flap_window:
            changes.popleft()

    def _signal_event(self, signal: Signal, now: Instant) -> SignalChanged:
        return SignalChanged(
            at=now,
            service=self.service,
            source=signal.source,
            ok=signal.ok,
            failure_kind=signal.kind,
            reason=signal.reason,
        )
