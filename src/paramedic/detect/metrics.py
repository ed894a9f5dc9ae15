"""The detection room's metrics: each service's verdict and the heartbeat path's counters.

Read at scrape time from the objects that already count (ServiceHealth, the receiver, the
monitor): the heartbeat hot path pays nothing for being measured.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from paramedic.detect.heartbeat import HeartbeatReceiver
from paramedic.detect.heartbeat_monitor import HeartbeatMonitor
from paramedic.detect.service_health import ServiceHealth

__all__ = ["DetectCollector"]


class DetectCollector(Collector):
    """`paramedic_service_up` per service and, when heartbeats are received, their counts."""

    def __init__(
        self,
        health: Mapping[str, ServiceHealth],
        heartbeats: tuple[HeartbeatReceiver, HeartbeatMonitor] | None = None,
    ) -> None:
        self._health = health
        self._heartbeats = heartbeats

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
