"""The detection room's metrics: each service's verdict and the heartbeat path's counters.

Read at scrape time from the objects that already count (ServiceHealth, the receiver, the
monitor): the heartbeat hot path pays nothing for being measured.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from paramedic.detect.health_readings import HealthReading
from paramedic.detect.heartbeat import HeartbeatReceiver
from paramedic.detect.heartbeat_monitor import HeartbeatMonitor
from paramedic.detect.service_health import ServiceHealth

__all__ = ["DetectCollector"]


class DetectCollector(Collector):
    """`paramedic_service_up` per service, the key metrics each service's `/health` reports
    and, when heartbeats are received, their counts."""

    def __init__(
        self,
        health: Mapping[str, ServiceHealth],
        heartbeats: tuple[HeartbeatReceiver, HeartbeatMonitor] | None = None,
        readings: Mapping[str, HealthReading] | None = None,
    ) -> None:
        self._health = health
        self._heartbeats = heartbeats
        self._readings = readings or {}

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "paramedic_service_up",
            "1 while ServiceHealth says the service is up, 0 when down (absent while unknown).",
            labels=["service"],
        )
        for name, health in self._health.items():
            if health.state != "unknown":
                state.add_metric([name], 1.0 if health.state == "up" else 0.0)
        yield state
        yield from _reported_health(self._readings)
        if self._heartbeats is not None:
            yield from _heartbeat_metrics(*self._heartbeats)


def _heartbeat_metrics(receiver: HeartbeatReceiver, monitor: HeartbeatMonitor) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "paramedic_heartbeats_accepted",
        "Heartbeats decoded and authenticated (then handed to the monitor).",
        value=receiver.accepted,
    )
    rejected = CounterMetricFamily(
        "paramedic_heartbeats_rejected",
        "Heartbeat datagrams dropped, by reason.",
        labels=["reason"],
    )
    for reason, count in receiver.rejections.items():
        rejected.add_metric([reason], count)
    yield rejected
    yield GaugeMetricFamily(
        "paramedic_heartbeat_instances_tracked",
        "Sender instances the replay guard remembers (live and retired); bounded.",
        value=receiver.replay.size,
    )
    gaps = CounterMetricFamily(
        "paramedic_heartbeat_sequence_gaps",
        "Heartbeat sequence numbers that never arrived, per service.",
        labels=["service"],
    )
    for name, count in sorted(monitor.gaps().items()):
        gaps.add_metric([name], count)
    yield gaps
    yield CounterMetricFamily(
        "paramedic_detection_held",
        "Ticks on which paramedic convicted no one because it was itself stalled.",
        value=monitor.held,
    )


def _reported_health(readings: Mapping[str, HealthReading]) -> Iterator[Metric]:
    """The service's own `/health` values, re-exported: the dashboard's key metrics
    (positions, open orders, exchange connections, market data lag, order latency)."""
    healthy = GaugeMetricFamily(
        "paramedic_service_reported_healthy",
        "The `healthy` field of the service's last /health body (1 true, 0 false).",
        labels=["service"],
    )
    reported = GaugeMetricFamily(
        "paramedic_service_health_reported_timestamp_seconds",
        "When the service's last /health body was read (Unix time).",
        labels=["service"],
    )
    components = GaugeMetricFamily(
        "paramedic_service_health_component",
        "A component of the service's last /health body: 1 true, 0 false.",
        labels=["service", "component"],
    )
    metrics = GaugeMetricFamily(
        "paramedic_service_health_metric",
        "A number of the service's last /health body's metrics, as reported.",
        labels=["service", "metric"],
    )
    dropped = CounterMetricFamily(
        "paramedic_service_health_names_dropped",
        "/health names not exported: past the per-service bound or too long.",
        labels=["service"],
    )
    for name, reading in sorted(readings.items()):
        dropped.add_metric([name], reading.dropped)
        if reading.healthy is None or reading.reported_wall is None:
            continue
        healthy.add_metric([name], 1.0 if reading.healthy else 0.0)
        reported.add_metric([name], reading.reported_wall)
        for component, value in sorted(reading.components.items()):
            components.add_metric([name, component], value)
        for metric, value in sorted(reading.metrics.items()):
            metrics.add_metric([name, metric], value)
    yield from (healthy, reported, components, metrics, dropped)
