"""Which incidents a recovery plan still owns: the alerting side of "resolve only what is
recovered".

A service with a recovery plan recovers through its orchestrator: the detectors turn green
(`failure.cleared`) long before the post-recovery validation, the gradual resumption and the
watch period are over, and the validation may still fail. So while such an incident is open,
its failure's alert keeps firing; it resolves when the incident is HEALTHY, when a human
resolves the incident (a move out of MANUAL_RECOVERY to RECOVERED or HEALTHY), or when a new
incident of the same service supersedes it (a relapse: the new incident's alert carries it).
A service without a plan (its incidents are the plain ones) resolves at the clear, as before.

Plain data folded from the incident events, live from the bus and, after a restart, from
the stored timeline: whether an alert is kept open is always derivable from what is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from paramedic.core.events import Event
from paramedic.core.incident_events import IncidentOpened, IncidentTransitioned

__all__ = ["Planned", "Recoveries"]

Planned = Callable[[str], bool]
"""Whether a service has a recovery plan (its incidents are the orchestrator's)."""

_HEALTHY = "HEALTHY"
_MANUAL = "MANUAL_RECOVERY"
_RESOLVED_BY_HAND = frozenset({"RECOVERED", "HEALTHY"})
_KEEP = 10_000  # open incidents remembered; the oldest are let go first (see `opened`)


@dataclass(slots=True)
class Recoveries:
    """The open incidents of services with a plan: incident id -> (service, state)."""

    planned: Planned
    open: dict[str, tuple[str, str]] = field(default_factory=dict)

    def state(self, incident: str) -> str | None:
        """The state of `incident` if a plan still owns it (open), else None."""
        found = self.open.get(incident)
        return found[1] if found is not None else None

    def opened(self, event: IncidentOpened) -> list[tuple[str, str]]:
        """A planned service's incident opened. The orchestrator runs one recovery per
        service and opens a new incident only when no other is in its hands, so any older
        one still open was superseded by a relapse: returned as (incident, why) to resolve."""
        service = event.service or ""
        if not self.planned(service):
            return []
        ended = [
            (
                old,
                f"incident {old} superseded by incident {event.incident} ({event.failure_kind}:"
                f" {event.reason}); that incident's alert carries the outage on",
            )
            for old, (svc, _state) in self.open.items()
            if svc == service and old != event.incident
        ]
        for old, _why in ended:
            del self.open[old]
        self.open[event.incident] = (service, "FAILURE_DETECTED")
        while len(self.open) > _KEEP:  # incidents never closed (abandoned by hand) age out
            del self.open[next(iter(self.open))]
        return ended

    def moved(self, event: IncidentTransitioned) -> str | None:
        """One move of a planned incident; the sentence its alert resolves with when the move
        ends it (recovered, or resolved by a human), else None."""
        found = self.open.get(event.incident)
        if found is None:
            return None
        service, _ = found
        if event.to_state == _HEALTHY and event.from_state != _MANUAL:
            del self.open[event.incident]
            return f"incident {event.incident} recovered: {event.reason}"
        if event.from_state == _MANUAL and event.to_state in _RESOLVED_BY_HAND:
            del self.open[event.incident]
            return f"incident {event.incident} resolved by hand: {event.reason}"
        self.open[event.incident] = (service, event.to_state)
        return None

    def fold(self, events: Iterable[Event]) -> dict[str, str]:
        """Rebuild from the stored incident events (oldest first). What the events name
        is replaced; an incident they do not name (opened live after they were read, while
        the store was catching up) is kept. Returns the incidents whose alert should have
        been resolved by a move: incident -> why (a restart resolves those a crash left open)."""
        live = dict(self.open)
        self.open.clear()
        named: set[str] = set()
        ended: dict[str, str] = {}
        for event in events:
            if isinstance(event, IncidentOpened):
                named.add(event.incident)
                ended.update(self.opened(event))
            elif isinstance(event, IncidentTransitioned):
                named.add(event.incident)
                why = self.moved(event)
                if why is not None:
                    ended[event.incident] = why
        for incident, found in live.items():
            if incident not in named:
                self.open[incident] = found
        return ended
