"""The human in the loop (seed 6.3): who must approve what, and what happens if nobody does.

The seed's loop polls for five minutes and then returns "no". Here a request is a recorded
event with one monotonic timer: an answer cancels the timer, silence fires it. A timeout
escalates (approval.timed_out, then escalation.triggered(approval_timeout)) and takes no
action: the incident stays in AWAITING_APPROVAL, because the only move nobody approved that is
always safe is none. The request stays open, though: a timeout that closed it would leave the
incident with no way forward but a restart of paramedic. So a late "yes" or "no" is accepted
(and recorded as late), and while nobody answers the escalation goes on, once per timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from paramedic.config.recovery_policy import ApprovalRequire, Method
from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.errors import RecoveryError
from paramedic.core.events import Event
from paramedic.core.incident_events import (
    ApprovalGranted,
    ApprovalRejected,
    ApprovalRequested,
    ApprovalTimedOut,
    EscalationTriggered,
)
from paramedic.core.text import duration

__all__ = ["ApprovalGate", "Outcome", "PendingApproval", "needs_approval"]

Outcome = Literal["granted", "rejected", "withdrawn"]


def needs_approval(method: Method, market_open: bool, require: ApprovalRequire) -> bool:
    """Manual always; otherwise what config lists for the market's state (seed 6.3's default:
    while open, anything but a hot restart)."""
    listed = require.market_open if market_open else require.market_closed
    return method == "manual" or method in listed


@dataclass(slots=True)
class PendingApproval:
    """One open request: what is proposed, since when, and until when (monotonic)."""

    incident: str
    service: str | None
    method: str
    sentence: str
    requested_mono: float
    deadline_mono: float
    timer: TimerHandle
    timeouts: int = 0


class ApprovalGate:
    """Tracks approval requests; every answer or silence becomes an event for the record.

    `request`, `approve` and `reject` return their event for the caller to record before
    acting on it. Timeouts happen on the clock's own schedule, so they are handed to `emit`
    (which records them in order, like every other event).
    """

    def __init__(self, clock: Clock, *, timeout_s: float, emit: Callable[[Event], None]) -> None:
        if timeout_s <= 0:
            msg = f"approval timeout must be positive, got {timeout_s}"
            raise RecoveryError(msg)
        self._clock = clock
        self._timeout = timeout_s
        self._emit = emit
        self._pending: dict[str, PendingApproval] = {}
        self._done: dict[str, Outcome] = {}

    def pending(self, incident: str) -> PendingApproval | None:
        """The open request for `incident`, if any."""
        return self._pending.get(incident)

    def outcome(self, incident: str) -> Outcome | None:
        """How the last request for `incident` ended, if it has."""
        return self._done.get(incident)

    def request(
        self,
        incident: str,
        *,
        service: str | None,
        method: Method,
        sentence: str,
        market_open: bool,
        first_timeout: float | None = None,
        waited: float = 0.0,
        timeouts: int = 0,
    ) -> ApprovalRequested:
        """Open a request with its deadline; a second open request for one incident is a bug.

        `first_timeout`, `waited` and `timeouts` restore a request a previous paramedic made:
        the time left to its next escalation, how long it has waited, how often it expired.
        """
        if incident in self._pending:
            msg = f"incident {incident} already awaits approval of {self._pending[incident].method}"
            raise RecoveryError(msg)
        now = self._clock.now()
        due = self._timeout if first_timeout is None else first_timeout
        timer = self._clock.call_later(due, lambda: self._expire(incident))
        self._pending[incident] = PendingApproval(
            incident, service, method, sentence, now.mono - waited, now.mono + due, timer, timeouts
        )
        self._done.pop(incident, None)  # a re-request after a timeout starts afresh
        return ApprovalRequested(
            at=now,
            service=service,
            incident=incident,
            method=method,
            sentence=sentence,
            timeout_s=self._timeout,
            market_open=market_open,
        )

    def approve(self, incident: str, *, by: str, why: str) -> ApprovalGranted:
        """An operator's yes, with their name and reason on the record."""
        req = self._resolve(incident, by, "granted")
        return ApprovalGranted(
            at=self._clock.now(),
            service=req.service,
            incident=incident,
            method=req.method,
            by=by,
            why=why,
            late=req.timeouts > 0,
        )

    def reject(self, incident: str, *, by: str, why: str) -> ApprovalRejected:
        """An operator's no: the incident goes to manual recovery, audited like a yes."""
        req = self._resolve(incident, by, "rejected")
        return ApprovalRejected(
            at=self._clock.now(),
            service=req.service,
            incident=incident,
            method=req.method,
            by=by,
            why=why,
            late=req.timeouts > 0,
        )

    def withdraw(self, incident: str) -> None:
        """Drop an open request whose question went away (the failure cleared on its own)."""
        req = self._pending.pop(incident, None)
        if req is not None:
            req.timer.cancel()
            self._done[incident] = "withdrawn"

    def forget(self, incident: str) -> None:
        """Drop everything about a closed incident, so the gate's memory stays bounded."""
        self.withdraw(incident)
        self._done.pop(incident, None)

    def _resolve(self, incident: str, by: str, outcome: Outcome) -> PendingApproval:
        if not by.strip():
            msg = f"incident {incident}: an approval or rejection needs the operator's name"
            raise RecoveryError(msg)
        req = self._pending.get(incident)
        if req is None:
            raise RecoveryError(self._why_not_pending(incident))
        del self._pending[incident]
        req.timer.cancel()
        self._done[incident] = outcome
        return req

    def _why_not_pending(self, incident: str) -> str:
        done = self._done.get(incident)
        if done == "withdrawn":
            return f"incident {incident}: the approval request was withdrawn (failure cleared)"
        if done is not None:
            return f"incident {incident}: the approval request was already {done}"
        return f"incident {incident}: no approval request is pending (unknown incident)"

    def _expire(self, incident: str) -> None:
        req = self._pending.get(incident)
        if req is None:
            return  # answered in the same instant; the answer won
        req.timeouts += 1
        now = self._clock.now()
        waited = now.mono - req.requested_mono
        # Still open: a late answer is taken, and silence escalates again a timeout later.
        req.deadline_mono = now.mono + self._timeout
        req.timer = self._clock.call_later(self._timeout, lambda: self._expire(incident))
        self._emit(
            ApprovalTimedOut(
                at=now, service=req.service, incident=incident, method=req.method, waited_s=waited
            )
        )
        again = "" if req.timeouts == 1 else f" (reminder {req.timeouts})"
        self._emit(
            EscalationTriggered(
                at=now,
                service=req.service,
                incident=incident,
                trigger="approval_timeout",
                reason=(
                    f"no one approved {req.method} within {duration(waited)}{again};"
                    " no action taken; approve or reject it, or take the incident to manual"
                ),
            )
        )
