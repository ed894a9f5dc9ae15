"""ServiceHealth: one incident per real failure, hysteresis both ways, flapping held."""

from __future__ import annotations

import itertools

from paramedic.core.clock import Instant
from paramedic.core.events import Event
from paramedic.core.failure_events import FailureCleared, FailureDetected
from paramedic.detect.events import ServiceFlapping, SignalChanged
from paramedic.detect.service_health import HealthPolicy, ServiceHealth
from paramedic.detect.signals import Signal

_ids = itertools.count(1)


def health(**policy: int | float) -> ServiceHealth:
    counter = itertools.count(1)
    return ServiceHealth(
        "engine",
        HealthPolicy(**policy),  # type: ignore[arg-type]
        new_incident_id=lambda: f"inc_{next(counter)}",
    )


def at(t: float) -> Instant:
    return Instant(mono=t, wall=1_700_000_000.0 + t)


def bad(source: str, kind: str, reason: str, t: float) -> Signal:
    return Signal("engine", source, False, reason, t, kind)  # type: ignore[arg-type]


def good(source: str, t: float) -> Signal:
    return Signal("engine", source, True, "ok", t)


def opened(events: list[Event]) -> list[FailureDetected]:
    return [e for e in events if isinstance(e, FailureDetected)]


def bring_up(h: ServiceHealth, t: float = 0.0) -> float:
    for i in range(h.policy.up_after):
        h.tick(at(t + i))
    assert "up" == h.state
    return t + h.policy.up_after


def test_crash_opens_one_incident_even_when_every_detector_agrees() -> None:
    """A crash, then the heartbeat and probe failing too, is still exactly one incident."""
    h = health()
    t = bring_up(h)
    events = h.observe(bad("process", "crash", "pid 41 killed by SIGKILL", t), at(t))
    events += h.observe(bad("heartbeat", "hang", "heartbeat silent 312 ms", t + 0.3), at(t + 0.3))
    events += h.observe(bad("probe:liveness", "hang", "GET /health refused", t + 1), at(t + 1))
    [incident] = opened(events)
    assert ("crash", "pid 41 killed by SIGKILL", "process") == (
        incident.failure_kind,
        incident.reason,
        incident.source,
    )
    assert 3 == sum(isinstance(e, SignalChanged) for e in events)


def test_most_specific_cause_names_the_incident() -> None:
    """When signals arrive together, a crash outranks the hang it causes."""
    h = health(down_after=2)
    t = bring_up(h)
    h.observe(bad("heartbeat", "hang", "heartbeat silent 305 ms", t), at(t))
    events = h.observe(bad("process", "crash", "pid 7 exited with code 1", t + 0.01), at(t + 0.01))
    [incident] = opened(events)
    assert ("crash", ("heartbeat silent 305 ms",)) == (incident.failure_kind, incident.evidence)


def test_down_after_needs_consecutive_failing_evaluations() -> None:
    """With down_after=3 one failing signal is not enough; the third failing check is."""
    h = health(down_after=3)
    t = bring_up(h)
    assert [] == opened(h.observe(bad("probe:readiness", "degradation", "503", t), at(t)))
    assert [] == opened(h.tick(at(t + 1)))
    assert 1 == len(opened(h.tick(at(t + 2))))


def test_up_after_needs_consecutive_clean_ticks_then_clears_once() -> None:
    """Coming back needs up_after clean periodic checks in a row; a relapse resets the count."""
    h = health(up_after=3)
    t = bring_up(h)
    h.observe(bad("heartbeat", "hang", "silent", t), at(t))
    assert [] == h.observe(good("heartbeat", t + 1), at(t + 1))[1:]  # only the SignalChanged
    h.tick(at(t + 2))
    h.tick(at(t + 3))
    h.observe(bad("heartbeat", "hang", "silent again", t + 3.5), at(t + 3.5))  # relapse
    assert "down" == h.state
    h.observe(good("heartbeat", t + 4), at(t + 4))
    h.tick(at(t + 5))
    h.tick(at(t + 6))
    cleared = [e for e in h.tick(at(t + 7)) if isinstance(e, FailureCleared)]
    assert 1 == len(cleared)
    assert ("inc_1", 7.0) == (cleared[0].incident, cleared[0].downtime_s)
    assert [] == h.tick(at(t + 8))


def test_a_good_signal_alone_never_brings_a_service_up() -> None:
    """A crash loop reports "running" at every restart; without clean ticks it stays down."""
    h = health(up_after=2)
    t = bring_up(h)
    events = []
    for i in range(5):
        events += h.observe(bad("process", "crash", f"exit {i}", t + i), at(t + i))
        events += h.observe(good("process", t + i + 0.1), at(t + i + 0.1))
    assert 1 == len(opened(events))
    assert "down" == h.state


def test_never_seen_service_can_fail_from_unknown() -> None:
    """A service that never came up can still open an incident (e.g. no first heartbeat)."""
    h = health()
    [incident] = opened(
        h.observe(bad("heartbeat", "hang", "no heartbeat within 1 s", 1.0), at(1.0))
    )
    assert "hang" == incident.failure_kind


def test_flapping_is_held_in_one_incident() -> None:
    """Rapid down/up cycles mark the service flapping; further cycles open no new incident."""
    h = health(up_after=1, flap_changes=4, flap_window=60.0)
    t = bring_up(h)
    all_events: list[Event] = []
    for i in range(6):
        all_events += h.observe(bad("process", "crash", f"exit {i}", t + 2 * i), at(t + 2 * i))
        all_events += h.observe(good("process", t + 2 * i + 1), at(t + 2 * i + 1))
        all_events += h.tick(at(t + 2 * i + 1))
    incidents = {e.incident for e in opened(all_events)}
    flaps = [e for e in all_events if isinstance(e, ServiceFlapping)]
    assert 2 == len(incidents)
    assert [True] == [f.flapping for f in flaps]
    assert h.flapping
    # Quiet for the whole window: flapping ends and the held incident is cleared once.
    end = h.tick(at(t + 12 + 62))
    assert [False] == [e.flapping for e in end if isinstance(e, ServiceFlapping)]
    assert 1 == sum(isinstance(e, FailureCleared) for e in end)


def test_watchdog_giving_up_opens_a_human_incident_once() -> None:
    """needs_human opens an incident flagged for a human unless one is already open."""
    h = health()
    t = bring_up(h)
    [incident] = opened(h.needs_human("5 restarts in 300 s", at(t)))
    assert (True, "crash") == (incident.needs_human, incident.failure_kind)
    assert [] == h.needs_human("again", at(t + 1))


def test_first_up_waits_for_every_expected_detector() -> None:
    """A detector that has not reported yet (startup probe pending) keeps the service unknown."""
    h = health(up_after=2)
    h.expect("process", "probe:live")
    h.observe(good("process", 0.0), at(0.0))
    for i in range(5):
        assert [] == h.tick(at(1.0 + i))
    assert ("unknown", ["probe:live"]) == (h.state, h.pending)
    h.observe(good("probe:live", 6.0), at(6.0))
    h.tick(at(7.0))
    assert ["service.up"] == [e.kind for e in h.tick(at(8.0))]


def test_a_restarted_process_must_be_vouched_for_again() -> None:
    """After a restart the service stays down until its detectors report on the new process,
    however many clean ticks pass (the heartbeat of the new instance has not come yet)."""
    h = health(up_after=2)
    h.expect("process", "heartbeat")
    h.observe(good("process", 0.0), at(0.0))
    h.observe(good("heartbeat", 0.0), at(0.0))
    t = bring_up(h, 1.0)
    h.observe(bad("process", "crash", "pid 1 killed by SIGKILL", t), at(t))
    h.reverify(*h.expected)
    h.observe(good("process", t + 0.01), at(t + 0.01))
    for i in range(5):
        assert [] == h.tick(at(t + 1 + i))
    assert ("down", ["heartbeat"]) == (h.state, h.pending)
    h.observe(good("heartbeat", t + 6), at(t + 6))
    h.tick(at(t + 7))
    assert ["failure.cleared"] == [e.kind for e in h.tick(at(t + 8))]


def cleared(events: list[Event]) -> list[FailureCleared]:
    return [e for e in events if isinstance(e, FailureCleared)]


def heal(h: ServiceHealth, t: float, *sources: str) -> tuple[list[Event], float]:
    """The sources report ok, then up_after clean ticks pass."""
    events: list[Event] = []
    for source in sources:
        events += h.observe(good(source, t), at(t))
    for i in range(1, h.policy.up_after + 1):
        events += h.tick(at(t + i))
    return events, t + h.policy.up_after + 1


def test_flap_damping_never_swallows_a_different_kind() -> None:
    """Issue 10 defect 9, with default settings: a lost exchange, a lost database and high
    latency, each healed in turn, then a memory leak and a full disk: five kinds, five
    incidents, five failure.detected; three clears; no kind flapped."""
    h = health()
    t = bring_up(h)
    events: list[Event] = []
    for component, kind in [
        ("health:exchange", "network_partition"),
        ("health:database", "db_connection_loss"),
        ("metric:order_latency_p99_us", "degradation"),
    ]:
        events += h.observe(bad(component, kind, f"{component} failing", t), at(t))
        events += h.observe(bad("probe:ready", "degradation", "503", t + 0.2), at(t + 0.2))
        healed, t = heal(h, t + 1, component, "probe:ready")
        events += healed
        assert "up" == h.state
    events += h.observe(bad("resource:memory", "memory_leak", "RSS growing", t), at(t))
    events += h.observe(bad("resource:disk", "disk_full", "disk 0% free", t + 1), at(t + 1))
    events += h.observe(bad("probe:ready", "degradation", "503", t + 2), at(t + 2))
    assert [
        "network_partition",
        "db_connection_loss",
        "degradation",
        "memory_leak",
        "disk_full",
    ] == [e.failure_kind for e in opened(events)]
    assert 5 == len({e.incident for e in opened(events)})
    assert ["network_partition", "db_connection_loss", "degradation"] == [
        e.failure_kind for e in cleared(events)
    ]
    assert [] == [e for e in events if isinstance(e, ServiceFlapping)]
    assert not h.flapping


def test_a_second_kind_while_the_first_is_open_is_announced_and_each_clears_on_its_own() -> None:
    """A database outage, then a full disk while it lasts: two incidents. The database heals:
    its incident clears while the service stays down for the disk; the disk heals: up."""
    h = health(up_after=2)
    t = bring_up(h)
    [db] = opened(h.observe(bad("health:database", "db_connection_loss", "db down", t), at(t)))
    # A failing readiness probe is a symptom of the outage: evidence, not a new incident.
    assert [] == opened(h.observe(bad("probe:ready", "degradation", "503", t + 1), at(t + 1)))
    [disk] = opened(h.observe(bad("resource:disk", "disk_full", "0% free", t + 2), at(t + 2)))
    assert ("disk_full", "0% free") == (disk.failure_kind, disk.reason)
    events, t = heal(h, t + 3, "health:database")
    assert [(db.incident, "db_connection_loss")] == [
        (e.incident, e.failure_kind) for e in cleared(events)
    ]
    assert [] == opened(events)  # the readiness failure is the disk's symptom now
    assert "down" == h.state
    events, t = heal(h, t, "resource:disk", "probe:ready")
    assert [disk.incident] == [e.incident for e in cleared(events)]
    assert "up" == h.state


def test_a_symptom_left_failing_when_its_cause_heals_is_a_failure_of_its_own() -> None:
    """Latency folded into an exchange outage as its symptom; the exchange comes back but the
    readiness probe still fails: the outage clears and the degradation is announced."""
    h = health(up_after=2)
    t = bring_up(h)
    h.observe(bad("health:exchange", "network_partition", "exchange down", t), at(t))
    h.observe(bad("probe:ready", "degradation", "p99 5000 us", t + 0.5), at(t + 0.5))
    events, t = heal(h, t + 1, "health:exchange")
    assert ["network_partition"] == [e.failure_kind for e in cleared(events)]
    [degraded] = opened(events)
    assert ("degradation", "p99 5000 us") == (degraded.failure_kind, degraded.reason)


def test_a_flapping_kind_is_held_but_a_new_kind_is_announced() -> None:
    """A crash loop flaps and is held in one incident; a memory leak during it is announced."""
    h = health(up_after=1, flap_changes=4, flap_window=60.0)
    t = bring_up(h)
    events: list[Event] = []
    for i in range(4):
        events += h.observe(bad("process", "crash", f"exit {i}", t + 2 * i), at(t + 2 * i))
        events += h.observe(good("process", t + 2 * i + 1), at(t + 2 * i + 1))
        events += h.tick(at(t + 2 * i + 1))
    assert 2 == len(opened(events))
    assert {"crash"} == h.flapping_kinds
    [flap] = [e for e in events if isinstance(e, ServiceFlapping)]
    assert "crash" == flap.failure_kind
    [leak] = opened(
        h.observe(bad("resource:memory", "memory_leak", "RSS +1 GiB/min", t + 9), at(t + 9))
    )
    assert "memory_leak" == leak.failure_kind
