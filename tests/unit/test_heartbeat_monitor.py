"""HeartbeatMonitor: one timer per service, one verdict per silence, flags told apart."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from paramedic.core.clock import TimerHandle
from paramedic.core.errors import DetectionError
from paramedic.detect.failure_detector import PhiAccrualDetector, TimeoutDetector
from paramedic.detect.heartbeat_monitor import HeartbeatMonitor
from paramedic.detect.self_pause import SelfPauseGuard
from paramedic.detect.signals import Signal
from paramedic.testing import FakeClock
from paramedic.wire import EXTRA_BEAT_AGE_MS, FLAG_SHUTTING_DOWN, FLAG_STALLED, Heartbeat

OLD = bytes.fromhex("7f3a") + bytes(14)
NEW = bytes.fromhex("b20c") + bytes(14)


def hb(
    seq: int,
    *,
    service: str = "engine",
    instance: bytes = OLD,
    flags: int = 0,
    age_ms: int | None = None,
) -> Heartbeat:
    """A heartbeat as the receiver would hand it over."""
    extras = () if age_ms is None else ((EXTRA_BEAT_AGE_MS, struct.pack(">I", age_ms)),)
    return Heartbeat(service, instance, seq, 0, flags, 0, 0, 0, 1, extras)


class Rig:
    """A monitor on a FakeClock with every signal, hold and restart it reports recorded."""

    def __init__(self, guard: SelfPauseGuard | None = None) -> None:
        self.clock = FakeClock()
        self.signals: list[Signal] = []
        self.held: list[str] = []
        self.restarts: list[tuple[str, str, str, int]] = []
        self.monitor = HeartbeatMonitor(
            self.clock,
            self.signals.append,
            guard,
            self.held.append,
            on_restart=lambda *args: self.restarts.append(args),
        )
        self.seq = 0

    def beats(
        self,
        count: int,
        *,
        service: str = "engine",
        instance: bytes = OLD,
        flags: int = 0,
        age_ms: int | None = None,
    ) -> None:
        """Advance the clock 100 ms and deliver one heartbeat, ``count`` times."""
        for _ in range(count):
            self.clock.advance(0.1)
            beat = hb(self.seq, service=service, instance=instance, flags=flags, age_ms=age_ms)
            self.monitor.on_beat(beat, self.clock.monotonic())
            self.seq += 1

    def reasons(self, *, ok: bool | None = None, source: str = "heartbeat") -> list[str]:
        """Reasons of recorded signals from ``source``, optionally only ok or only bad."""
        return [s.reason for s in self.signals if s.source == source and (ok is None or s.ok is ok)]


def test_one_conviction_per_silence_and_one_recovery() -> None:
    """A long silence convicts once, the next beat recovers once, a new silence convicts again."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    rig.beats(10)
    rig.clock.advance(5.0)
    assert 1 == len(rig.reasons(ok=False))
    assert rig.monitor.convicted("engine")
    rig.beats(3)
    assert ["heartbeat resumed after 5.1 s silence: seq 10 from instance 7f3a"] == [
        r for r in rig.reasons(ok=True) if "resumed" in r
    ]
    rig.clock.advance(1.0)
    assert 2 == len(rig.reasons(ok=False))
    bad = [s for s in rig.signals if not s.ok]
    assert [("heartbeat", "hang")] * 2 == [(s.source, s.kind) for s in bad]


def test_timeout_conviction_sentence_is_exact_and_on_the_deadline() -> None:
    """The sentence names the silence, the rule, the last sequence and the instance."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    rig.seq = 18222
    rig.beats(10)
    last = rig.clock.monotonic()
    rig.clock.advance(0.312)
    bad = [s for s in rig.signals if not s.ok]
    expected = "heartbeat silent 300 ms (timeout 300 ms), last seq 18231 from instance 7f3a"
    assert [expected] == [s.reason for s in bad]
    assert last + 0.3 == pytest.approx(bad[0].at, abs=1e-9)


def test_phi_conviction_sentence() -> None:
    """With phi the rule part reads (phi x >= threshold) at the exact crossing."""
    rig = Rig()
    detector = PhiAccrualDetector()
    rig.monitor.add_service("engine", detector, 0.1)
    rig.beats(50)
    deadline = detector.deadline()
    assert deadline is not None
    rig.clock.advance(1.0)
    expected = "heartbeat silent 231 ms (phi 8.0 >= 8.0), last seq 49 from instance 7f3a"
    assert [expected] == rig.reasons(ok=False)
    assert deadline == next(s.at for s in rig.signals if not s.ok)


def test_first_beat_then_startup_silence() -> None:
    """First contact is reported ok; a service never heard is convicted after its grace."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    rig.monitor.add_service("feed", TimeoutDetector(0.3), 0.1, startup_grace=2.5)
    rig.beats(1)
    assert ["first heartbeat: seq 0 from instance 7f3a"] == rig.reasons(ok=True)
    rig.clock.advance(0.05)
    rig.clock.advance(0.9)
    assert ["heartbeat silent 300 ms (timeout 300 ms), last seq 0 from instance 7f3a"] == (
        rig.reasons(ok=False)
    )
    rig.clock.advance(2.0)
    feed = [s.reason for s in rig.signals if s.service == "feed"]
    assert ["no heartbeat received within 2.5 s of start"] == feed
    rig.clock.advance(0.5)
    rig.monitor.on_beat(hb(0, service="feed"), rig.clock.monotonic())
    feed = [s.reason for s in rig.signals if s.service == "feed"]
    assert "first heartbeat 3.55 s after start: seq 0 from instance 7f3a" == feed[-1]


def test_default_startup_grace_is_ten_intervals() -> None:
    """Without a startup_grace, ten heartbeat intervals pass before the first verdict."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    rig.clock.advance(0.999)
    assert [] == rig.signals
    rig.clock.advance(0.001)
    assert ["no heartbeat received within 1 s of start"] == rig.reasons(ok=False)


def test_stall_flag_is_its_own_signal() -> None:
    """A stalled loop is a hang from heartbeat:stall, while the heartbeat source stays quiet."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    rig.beats(3)
    rig.beats(5, flags=FLAG_STALLED, age_ms=1200)
    rig.beats(2)
    stall = [(s.ok, s.kind, s.reason) for s in rig.signals if s.source == "heartbeat:stall"]
    assert [
        (False, "hang", "trading loop stalled: sender alive but no beat() for 1.2 s"),
        (True, None, "trading loop calls beat() again"),
    ] == stall
    assert [] == rig.reasons(ok=False)


def test_shutdown_flag_makes_the_silence_planned_until_a_new_instance() -> None:
    """After an announced shutdown silence is not a hang; a new instance is watched again."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    rig.beats(5)
    rig.beats(1, flags=FLAG_SHUTTING_DOWN)
    rig.clock.advance(10.0)
    assert [] == rig.reasons(ok=False)
    assert "heartbeat stopped: service announced shutdown" == rig.reasons(ok=True)[-1]
    assert 0 == rig.clock.pending
    rig.beats(1, instance=NEW)
    assert "heartbeat back after shutdown: new instance b20c, seq 6" == rig.reasons(ok=True)[-1]
    rig.clock.advance(1.0)
    assert ["heartbeat silent 300 ms (timeout 300 ms), last seq 6 from instance b20c"] == (
        rig.reasons(ok=False)
    )


def test_fast_restart_is_reported_through_on_restart() -> None:
    """A restart with no gap in arrivals is only visible as a new instance id."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    rig.beats(4)
    rig.seq = 0
    rig.beats(2, instance=NEW)
    assert [("engine", OLD.hex(), NEW.hex(), 3)] == rig.restarts
    assert [] == rig.reasons(ok=False)


def test_a_restarted_process_gets_its_startup_grace_not_the_old_silence() -> None:
    """After paramedic restarts the process, the old instance's silence convicts no one: the
    replacement has the startup grace to send its first beat (it was once killed as hung)."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1, startup_grace=1.0)
    rig.beats(5)
    rig.clock.advance(0.05)  # the process crashes; the watchdog restarts it at once
    rig.monitor.process_started("engine", TimeoutDetector(0.3))
    rig.clock.advance(0.7)  # far past the old 300 ms deadline, still within the grace
    assert [] == rig.reasons(ok=False)
    rig.seq = 0
    rig.beats(3, instance=NEW)
    assert [("engine", OLD.hex(), NEW.hex(), 4)] == rig.restarts
    assert [] == rig.reasons(ok=False)
    assert "first heartbeat: seq 0 from instance b20c" == rig.reasons(ok=True)[-1]
    rig.clock.advance(0.35)  # and the new instance is held to the normal timeout again
    assert ["heartbeat silent 300 ms (timeout 300 ms), last seq 2 from instance b20c"] == (
        rig.reasons(ok=False)
    )


def test_a_restarted_process_that_never_beats_is_convicted_after_the_grace() -> None:
    """A replacement that stays silent past the startup grace is a hang, said as such."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1, startup_grace=1.0)
    rig.beats(5)
    rig.monitor.process_started("engine", TimeoutDetector(0.3))
    rig.clock.advance(0.99)
    assert [] == rig.reasons(ok=False)
    rig.clock.advance(0.02)
    assert ["no heartbeat received within 1 s of start"] == rig.reasons(ok=False)


def test_late_datagram_proves_life_but_not_its_old_flags() -> None:
    """A reordered beat resets the silence, yet its stale stalled flag is not believed."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    rig.beats(5)
    rig.clock.advance(0.25)
    rig.monitor.on_beat(hb(1, flags=FLAG_STALLED), rig.clock.monotonic())
    rig.clock.advance(0.25)
    assert [] == rig.reasons(ok=False)
    assert [] == rig.reasons(source="heartbeat:stall")


def test_unknown_service_is_ignored_and_rx_defaults_to_now() -> None:
    """Beats from services nobody asked to watch change nothing (state stays bounded by the
    configured services); rx falls back to the clock."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    for n in range(100):
        rig.monitor.on_beat(hb(0, service=f"other-{n}"))
    assert (["engine"], 0) == (rig.monitor.services, rig.monitor.heard)
    rig.monitor.on_beat(hb(0, service="other"))
    rig.clock.advance(0.5)
    rig.monitor.on_beat(hb(0))
    rig.clock.advance(0.298)
    assert [] == rig.reasons(ok=False)
    rig.clock.advance(0.002)
    assert 1 == len(rig.reasons(ok=False))


def test_guard_holds_then_convicts_after_the_grace() -> None:
    """When paramedic itself stalled nobody is convicted; after the grace the silent one is."""
    guard = SelfPauseGuard(0.5, grace=0.2)
    rig = Rig(guard)
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    rig.monitor.add_service("feed", TimeoutDetector(0.3), 0.1)
    rig.monitor.add_service("risk", TimeoutDetector(0.3), 0.1)
    rig.monitor.on_beat(hb(0, service="risk"), rig.clock.monotonic() + 0.3)
    rig.beats(3)
    rig.beats(1, service="feed")
    guard.note_lag(1.2, rig.clock.monotonic() + 0.25)
    rig.clock.advance(0.35)
    expected = "paramedic itself was stalled 1.2 s (bound 500 ms); convicting no one this tick"
    assert [expected] == rig.held
    assert [] == rig.reasons(ok=False)
    # feed beats again inside the grace (its buffered datagram); engine stays silent.
    rig.monitor.on_beat(hb(99, service="feed"), rig.clock.monotonic())
    rig.clock.advance(0.2)
    assert ["engine", "risk"] == sorted(s.service for s in rig.signals if not s.ok)
    # Two services were held by one stall: the stall is reported once.
    assert [expected] == rig.held


def test_two_thousand_services_do_not_create_a_timer_per_heartbeat() -> None:
    """Timers are re-armed lazily: one pending per service, not one created per heartbeat.

    A timer set at last + timeout finds the newest beat one interval old when it fires, so
    it is re-armed every (timeout - interval): half the beat rate at 300 ms / 100 ms.
    """
    clock = FakeClock()
    created = 0
    original = clock.call_later

    def counting(delay: float, callback: Callable[[], None]) -> TimerHandle:
        nonlocal created
        created += 1
        return original(delay, callback)

    clock.call_later = counting  # type: ignore[method-assign, assignment]
    signals: list[Signal] = []
    monitor = HeartbeatMonitor(clock, signals.append)
    names = [f"svc-{i}" for i in range(2000)]
    for name in names:
        monitor.add_service(name, TimeoutDetector(0.3), 0.1)
    beats = 0
    for seq in range(30):
        clock.advance(0.1)
        now = clock.monotonic()
        for name in names:
            monitor.on_beat(hb(seq, service=name), now)
            beats += 1
        assert 2000 == clock.pending
    assert 60_000 == beats
    assert created <= beats * 0.55, created
    assert [] == [s for s in signals if not s.ok]
    monitor.close()
    assert 0 == clock.pending


def test_adding_a_service_twice_is_refused() -> None:
    """Two detectors for one name would give two verdicts for one silence."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    with pytest.raises(DetectionError, match="already watched"):
        rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    with pytest.raises(DetectionError, match=r"interval of 'x' must be in \(0, inf\)"):
        rig.monitor.add_service("x", TimeoutDetector(0.3), 0.0)


def test_sequence_gaps_are_counted_per_service() -> None:
    """Sequence numbers skipped by the current instance are counted (lost datagrams), a late
    one is not, and a new instance starting at 0 is a restart, not a gap."""
    rig = Rig()
    rig.monitor.add_service("engine", TimeoutDetector(0.3), 0.1)
    rig.beats(3)  # seq 0, 1, 2
    rig.seq = 6
    rig.beats(1)  # seq 6: 3, 4, 5 never arrived
    rig.monitor.on_beat(hb(4), rig.clock.monotonic())  # late: proves life, fills nothing
    rig.seq = 0
    rig.beats(2, instance=NEW)
    assert ({"engine": 3}, 1) == (rig.monitor.gaps(), rig.monitor.heard)
