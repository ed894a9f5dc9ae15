"""From heartbeats to verdicts: one timer per service, set at its detector's deadline.

The receiver calls ``on_beat`` for every accepted datagram, so that path only updates a few
slots. Timers are re-armed lazily: a beat moves the detector's deadline but leaves the timer
alone; when the timer fires it asks the detector for the deadline again and either convicts
or sets one new timer there. At 10k services x 10 Hz that is one timer per timeout per
service instead of a cancel and a create per heartbeat.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.errors import DetectionError
from paramedic.core.text import duration
from paramedic.detect.failure_detector import FailureDetector
from paramedic.detect.self_pause import SelfPauseGuard
from paramedic.detect.signals import Signal, SignalSink
from paramedic.wire import FLAG_SHUTTING_DOWN, FLAG_STALLED, Heartbeat

__all__ = ["HeartbeatMonitor", "RestartHook"]

RestartHook = Callable[[str, str, str, int], None]
"""(service, old instance hex, new instance hex, last seq of the old instance)."""

SOURCE = "heartbeat"
STALL_SOURCE = "heartbeat:stall"
SHUTDOWN_REASON = "heartbeat stopped: service announced shutdown"
# A detector promises that its deadline convicts; should one not, do not spin on the loop.
_MIN_REARM = 1e-6


class _Watch:
    """Everything the monitor knows about one service; mutated in place on every beat."""

    __slots__ = (
        "added_at",
        "awaiting_first",
        "convicted",
        "detector",
        "due",
        "flags",
        "gaps",
        "instance",
        "interval",
        "last_rx",
        "last_seq",
        "name",
        "shutting_down",
        "startup_grace",
        "timer",
    )

    def __init__(
        self, name: str, detector: FailureDetector, interval: float, grace: float, now: float
    ) -> None:
        self.name = name
        self.detector = detector
        self.interval = interval
        self.startup_grace = grace
        self.added_at = now
        self.instance: bytes | None = None
        self.last_seq = -1
        self.gaps = 0  # sequence numbers never received from the current instances
        self.last_rx = now
        self.flags = 0
        self.convicted = False
        self.awaiting_first = False  # a new process was started; its first beat is due
        self.shutting_down = False
        self.timer: TimerHandle | None = None
        self.due = math.inf


class HeartbeatMonitor:
    """Turns heartbeat arrivals (and their absence) into ``Signal``s for ServiceHealth.

    One conviction per silence, one recovery when beats resume; a stalled trading loop and a
    planned shutdown are told apart from a hang through the heartbeat flags, and a restart
    faster than the timeout is reported through ``on_restart`` because no silence shows it.
    """

    def __init__(
        self,
        clock: Clock,
        sink: SignalSink,
        guard: SelfPauseGuard | None = None,
        on_held: Callable[[str], None] | None = None,
        on_restart: RestartHook | None = None,
    ) -> None:
        self._clock = clock
        self._sink = sink
        self._guard = guard
        self._on_held = on_held
        self._on_restart = on_restart
        self._watches: dict[str, _Watch] = {}
        self._last_held: tuple[int, str] | None = None
        self.convictions = 0
        self.held = 0

    def add_service(
        self,
        name: str,
        detector: FailureDetector,
        interval: float,
        *,
        startup_grace: float | None = None,
    ) -> None:
        """Watch ``name``; silence from now until ``startup_grace`` (10 beats) convicts."""
        if name in self._watches:
            msg = f"service {name!r} is already watched by the heartbeat monitor"
            raise DetectionError(msg)
        if not interval > 0 or math.isinf(interval):
            msg = f"heartbeat interval of {name!r} must be in (0, inf) seconds, got {interval!r}"
            raise DetectionError(msg)
        grace = 10.0 * interval if startup_grace is None else startup_grace
        if not grace > 0 or math.isinf(grace):
            msg = f"startup_grace of {name!r} must be in (0, inf) seconds, got {grace!r}"
            raise DetectionError(msg)
        now = self._clock.monotonic()
        watch = _Watch(name, detector, interval, grace, now)
        self._watches[name] = watch
        self._arm(watch, now + grace, now)

    def process_started(self, name: str, detector: FailureDetector) -> None:
        """paramedic (re)started the service's process: give it the startup grace.

        The old instance's silence must convict no one from here on: its exit is already
        known, and without this a healthy replacement still booting was killed as hung. The
        conviction state and last instance are kept, so a failing verdict stays failing until
        the new instance beats, and that beat is reported as a restart.
        """
        watch = self._watches.get(name)
        if watch is None:
            return
        if watch.timer is not None:
            watch.timer.cancel()
            watch.timer = None
        now = self._clock.monotonic()
        watch.detector = detector
        watch.added_at = now
        watch.last_rx = now
        watch.awaiting_first = True
        self._arm(watch, now + watch.startup_grace, now)

    def remove_service(self, name: str) -> None:
        """Stop watching ``name`` (unknown names are ignored)."""
        watch = self._watches.pop(name, None)
        if watch is not None and watch.timer is not None:
            watch.timer.cancel()
            watch.timer = None

    def close(self) -> None:
        """Cancel every timer; the monitor can be dropped afterwards."""
        for name in list(self._watches):
            self.remove_service(name)

    @property
    def services(self) -> list[str]:
        """Names being watched."""
        return list(self._watches)

    def gaps(self) -> dict[str, int]:
        """Per service, sequence numbers that never arrived (lost or dropped datagrams)."""
        return {name: w.gaps for name, w in self._watches.items()}

    @property
    def heard(self) -> int:
        """How many watched services have sent at least one heartbeat."""
        return sum(1 for w in self._watches.values() if w.instance is not None)

    def convicted(self, name: str) -> bool:
        """True between a hang conviction of ``name`` and its next heartbeat."""
        watch = self._watches.get(name)
        return watch is not None and watch.convicted

    def on_beat(self, beat: Heartbeat, rx: float | None = None) -> None:
        """One accepted heartbeat, received at monotonic ``rx`` (now if not given).

        The receiver's ``on_beat`` hook: no logging, no allocation unless something changed.
        """
        watch = self._watches.get(beat.service)
        if watch is None:
            return
        if rx is None:
            rx = self._clock.monotonic()
        previous_rx = watch.last_rx
        watch.detector.heartbeat(rx)
        watch.last_rx = rx
        if beat.instance != watch.instance:
            self._new_instance(watch, beat, rx)
        elif beat.seq > watch.last_seq:
            watch.gaps += beat.seq - watch.last_seq - 1
            watch.last_seq = beat.seq
            if beat.flags != watch.flags:
                self._flags_changed(watch, beat, rx)
        # else: a late datagram still proves life, but its flags are older than ours.
        if watch.shutting_down:
            return
        if watch.convicted:
            self._resumed(watch, beat, rx, previous_rx)
        elif watch.timer is None:
            self._arm_at_deadline(watch, rx)
        else:
            deadline = watch.detector.deadline()
            # Deadlines normally only move later, which the lazy timer handles; a burst of
            # queued beats can shrink the learnt mean and pull a phi deadline earlier.
            if deadline is not None and deadline < watch.due:
                watch.timer.cancel()
                self._arm(watch, deadline, rx)

    def _new_instance(self, watch: _Watch, beat: Heartbeat, rx: float) -> None:
        old = watch.instance
        if old is not None and self._on_restart is not None:
            self._on_restart(watch.name, old.hex(), beat.instance.hex(), watch.last_seq)
        first = old is None or watch.awaiting_first
        watch.awaiting_first = False
        watch.instance = beat.instance
        watch.last_seq = beat.seq
        was_shut_down = watch.shutting_down
        watch.shutting_down = False
        if beat.flags != watch.flags:
            self._flags_changed(watch, beat, rx)
        if watch.shutting_down:
            return
        hex4 = beat.instance.hex()[:4]
        if first:
            # The startup conviction (if any) ends here, with a sentence saying how late.
            late = f" {duration(rx - watch.added_at)} after start" if watch.convicted else ""
            watch.convicted = False
            self._emit(
                watch, True, f"first heartbeat{late}: seq {beat.seq} from instance {hex4}", rx
            )
        elif was_shut_down:
            reason = f"heartbeat back after shutdown: new instance {hex4}, seq {beat.seq}"
            self._emit(watch, True, reason, rx)

    def _flags_changed(self, watch: _Watch, beat: Heartbeat, rx: float) -> None:
        changed = watch.flags ^ beat.flags
        watch.flags = beat.flags
        if changed & FLAG_STALLED:
            if beat.flags & FLAG_STALLED:
                age = beat.beat_age_ms
                since = "within the stall bound" if age is None else f"for {duration(age / 1000)}"
                reason = f"trading loop stalled: sender alive but no beat() {since}"
                self._sink(Signal(watch.name, STALL_SOURCE, False, reason, rx, "hang"))
            else:
                reason = "trading loop calls beat() again"
                self._sink(Signal(watch.name, STALL_SOURCE, True, reason, rx))
        if changed & beat.flags & FLAG_SHUTTING_DOWN:
            watch.shutting_down = True
            watch.convicted = False
            if watch.timer is not None:
                watch.timer.cancel()
                watch.timer = None
                watch.due = math.inf
            self._emit(watch, True, SHUTDOWN_REASON, rx)

    def _resumed(self, watch: _Watch, beat: Heartbeat, rx: float, previous_rx: float) -> None:
        watch.convicted = False
        hex4 = beat.instance.hex()[:4]
        gap = duration(rx - previous_rx)
        reason = f"heartbeat resumed after {gap} silence: seq {beat.seq} from instance {hex4}"
        self._emit(watch, True, reason, rx)
        self._arm_at_deadline(watch, rx)

    def _arm_at_deadline(self, watch: _Watch, now: float) -> None:
        deadline = watch.detector.deadline()
        if deadline is not None:
            self._arm(watch, deadline, now)

    def _arm(self, watch: _Watch, due: float, now: float) -> None:
        watch.due = due
        delay = due - now
        watch.timer = self._clock.call_later(
            delay if delay > _MIN_REARM else _MIN_REARM, lambda: self._fire(watch)
        )

    def _fire(self, watch: _Watch) -> None:
        now = self._clock.monotonic()
        watch.timer = None
        guard = self._guard
        if guard is not None:
            # Our own timer running late is direct evidence that paramedic was stalled.
            guard.note_lag(now - watch.due, now)
        watch.due = math.inf
        if watch.convicted or watch.shutting_down or self._watches.get(watch.name) is not watch:
            return
        detector = watch.detector
        if watch.instance is None or watch.awaiting_first:
            deadline = watch.added_at + watch.startup_grace
            if now < deadline:
                self._arm(watch, deadline, now)
                return
            reason = f"no heartbeat received within {duration(watch.startup_grace)} of start"
        else:
            if detector.is_available(now):
                self._arm_at_deadline(watch, now)
                return
            reason = (
                f"heartbeat silent {duration(detector.silence(now))} "
                f"({detector.describe(now)}), last seq {watch.last_seq} "
                f"from instance {watch.instance.hex()[:4]}"
            )
        if guard is not None:
            held = guard.hold(now)
            if held is not None:
                self.held += 1
                # One report per stall, not one per service held by it.
                episode = (guard.pauses, held)
                if episode != self._last_held:
                    self._last_held = episode
                    if self._on_held is not None:
                        self._on_held(held)
                self._arm(watch, guard.until, now)
                return
        watch.convicted = True
        self.convictions += 1
        self._sink(Signal(watch.name, SOURCE, False, reason, now, "hang"))

    def _emit(self, watch: _Watch, ok: bool, reason: str, at: float) -> None:
        self._sink(Signal(watch.name, SOURCE, ok, reason, at, None if ok else "hang"))
