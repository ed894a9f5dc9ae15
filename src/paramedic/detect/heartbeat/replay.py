"""Replay protection for authenticated heartbeats.

HMAC proves who sent a datagram, not that it is fresh: a captured datagram replayed later
would otherwise prove a dead service alive. Two checks close that gap. The send time must be
within a skew bound of the receiver's wall clock (an old capture is useless), and each
sequence number of a live instance is accepted at most once, with an IPsec-style 64-entry
sliding window (RFC 4303 section 3.4.3) so that UDP reordering inside the window is tolerated.

This module is pure: the caller passes the current wall time in; nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from typing import Final, Literal

from paramedic.wire import DEFAULT_MAX_SKEW_NS

__all__ = [
    "DEFAULT_MAX_SERVICES",
    "WINDOW_SIZE",
    "ReplayGuard",
    "ReplayVerdict",
    "SequenceWindow",
    "within_skew",
]

WINDOW_SIZE: Final = 64
_MASK: Final = (1 << WINDOW_SIZE) - 1

ReplayVerdict = Literal["replayed", "retired_instance"]


def within_skew(sent_ns: int, now_ns: int, max_skew_ns: int = DEFAULT_MAX_SKEW_NS) -> bool:
    """True when a send time is close enough to now, in either direction.

    A sender clock ahead of ours is as suspicious as one behind: both bound how long a
    captured datagram stays replayable.
    """
    return -max_skew_ns <= now_ns - sent_ns <= max_skew_ns


class SequenceWindow:
    """The highest sequence seen plus a bitmap of the 63 below it.

    Bit ``i`` of ``bitmap`` is set when ``top - i`` has been accepted. Anything older than the
    window is refused: it cannot be told apart from a replay.
    """

    __slots__ = ("bitmap", "top")

    def __init__(self) -> None:
        self.top = -1
        self.bitmap = 0

    def admit(self, seq: int) -> bool:
        """Accept ``seq`` once; False for a duplicate or a sequence too old to judge."""
        top = self.top
        if seq > top:
            shift = seq - top
            # A huge jump must not build a huge int: past the window nothing survives anyway.
            self.bitmap = ((self.bitmap << shift) | 1) & _MASK if shift < WINDOW_SIZE else 1
            self.top = seq
            return True
        bit = top - seq
        if bit >= WINDOW_SIZE:
            return False
        mask = 1 << bit
        if self.bitmap & mask:
            return False
        self.bitmap |= mask
        return True


class _Current:
    __slots__ = ("instance", "window")

    def __init__(self, instance: bytes) -> None:
        self.instance = instance
        self.window = SequenceWindow()


DEFAULT_MAX_SERVICES: Final = 65_536


class ReplayGuard:
    """Sequence windows per (service, instance), keeping only the live instance's window.

    A service restarts with a fresh random instance id and its sequence back at 0, so a new
    instance gets a new window. The instances it replaced are remembered (the
    ``retired_per_service`` most recently replaced, oldest forgotten first) and refused as
    ``retired_instance``: a dead process cannot send, so its datagrams are either late
    stragglers or replays, and accepting them would flip the table back to a corpse. Two live
    senders sharing one service id show up as a steady count of this reason.

    State is bounded: per service one window plus ``retired_per_service`` instance ids, and
    at most ``max_services`` services (the key lookup already refuses ids nobody monitors;
    this cap is the backstop for a lookup that does not, and evicts the service heard first).
    """

    __slots__ = ("_current", "_max_services", "_retired", "_retired_per_service")

    def __init__(
        self, *, retired_per_service: int = 8, max_services: int = DEFAULT_MAX_SERVICES
    ) -> None:
        self._current: dict[str, _Current] = {}
        self._retired: dict[str, deque[bytes]] = {}
        self._retired_per_service = retired_per_service
        self._max_services = max_services

    def admit(self, service: str, instance: bytes, seq: int) -> ReplayVerdict | None:
        """None when the datagram is fresh, else why it is refused. Updates state on accept."""
        current = self._current.get(service)
        if current is not None and current.instance == instance:
            return None if current.window.admit(seq) else "replayed"
        retired = self._retired.get(service)
        if retired is not None and instance in retired:
            return "retired_instance"
        if current is not None:
            if retired is None:
                retired = self._retired[service] = deque(maxlen=self._retired_per_service)
            retired.append(current.instance)
        elif len(self._current) >= self._max_services:
            self.forget(next(iter(self._current)))
        fresh = _Current(instance)
        fresh.window.admit(seq)
        self._current[service] = fresh
        return None

    def current_instance(self, service: str) -> bytes | None:
        """The instance whose sequence window is live, if any."""
        current = self._current.get(service)
        return None if current is None else current.instance

    @property
    def size(self) -> int:
        """Instance ids remembered, live and retired: what a sender can make this hold."""
        return len(self._current) + sum(len(r) for r in self._retired.values())

    def forget(self, service: str) -> None:
        """Drop all state of a service (removed from config)."""
        self._current.pop(service, None)
        self._retired.pop(service, None)
