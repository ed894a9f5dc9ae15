"""The key-metrics and recovery-history families: bounded labels, the right numbers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from paramedic.detect.health_readings import MAX_NAMES, HealthReading
from paramedic.detect.metrics import DetectCollector
from paramedic.recovery.history import RtoHistory
from paramedic.recovery.metrics import COARSE_STATES, STATE_CODES


def _samples(reading: HealthReading) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(DetectCollector({}, None, {"engine": reading}))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_health_reading_is_exported_as_labelled_gauges() -> None:
    """healthy, each component as 1/0 and each metric by name, with the reading's time."""
    reading = HealthReading()
    reading.record(False, {"positions": True, "exchange": False}, {"open_orders": 25.0}, 1e9)
    samples = _samples(reading)
    engine = (("service", "engine"),)
    assert 0.0 == samples[("paramedic_service_reported_healthy", engine)]
    assert 1e9 == samples[("paramedic_service_health_reported_timestamp_seconds", engine)]
    component = "paramedic_service_health_component"
    assert 1.0 == samples[(component, (("component", "positions"), *engine))]
    assert 0.0 == samples[(component, (("component", "exchange"), *engine))]
    metric = "paramedic_service_health_metric"
    assert 25.0 == samples[(metric, (("metric", "open_orders"), *engine))]


def _gauges(reading: HealthReading) -> list[str]:
    return [k[0] for k in _samples(reading) if "health" in k[0] and "dropped" not in k[0]]


def test_no_series_before_the_first_reading_nor_after_the_process_exits() -> None:
    """A service whose /health was never read reports nothing (not zeros that look real);
    once its process exits, its last reading goes too, until it answers again."""
    assert [] == _gauges(HealthReading())
    reading = HealthReading()
    reading.record(True, {"positions": True}, {"open_orders": 25.0}, 1e9)
    assert _gauges(reading)
    reading.clear()
    assert [] == _gauges(reading)
    reading.record(True, {}, {"open_orders": 3.0}, 1e9 + 5)
    assert (
        3.0
        == _samples(reading)[
            ("paramedic_service_health_metric", (("metric", "open_orders"), ("service", "engine")))
        ]
    )


def test_names_a_service_invents_are_bounded_and_counted() -> None:
    """A service that reports a new metric name on every reading gets MAX_NAMES series; the
    rest, and over-long names, are counted as dropped; known names keep updating."""
    reading = HealthReading()
    for n in range(100):
        reading.record(True, {}, {f"m{n}": float(n), "x" * 65: 1.0}, float(n))
    assert MAX_NAMES == len(reading.metrics)
    assert (100 - MAX_NAMES) + 100 == reading.dropped
    reading.record(True, {}, {"m0": 7.0}, 101.0)
    assert 7.0 == reading.metrics["m0"]
    samples = _samples(reading)
    engine = (("service", "engine"),)
    dropped = "paramedic_service_health_names_dropped_total"
    assert 100 - MAX_NAMES + 100 == samples[(dropped, engine)]
    assert MAX_NAMES == len([k for k in samples if k[0] == "paramedic_service_health_metric"])


def test_rto_history_keys_are_bounded() -> None:
    """Method, failure kind and outcome come from fixed sets: an unknown one is "other"."""
    history = RtoHistory()
    history.observe("cold", "crash", True, 3.2)
    history.observe("cold", "crash", True, 40.0)
    history.observe("teleport", "alien", False, 1.0)
    assert {("cold", "crash", "recovered"), ("other", "other", "failed")} == set(history.series)
    cold = history.series[("cold", "crash", "recovered")]
    assert 43.2 == cold.total
    cumulative = dict(cold.cumulative())
    assert (1.0, 1.0, 2.0) == (cumulative["5.0"], cumulative["30.0"], cumulative["+Inf"])


def test_the_three_colour_state_covers_every_state() -> None:
    """recovery_state maps each incident state: healthy 0, recovering 1, failed 2."""
    assert set(STATE_CODES) == set(COARSE_STATES)
    assert {0, 1, 2} == set(COARSE_STATES.values())
    assert 2 == COARSE_STATES["MANUAL_RECOVERY"] == COARSE_STATES["RECOVERY_FAILED"]
    assert 0 == COARSE_STATES["RECOVERED"]
