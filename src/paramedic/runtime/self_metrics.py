"""paramedic's own vital signs as metrics: uptime, event loop lag, events published."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from paramedic.core.bus import EventBus
from paramedic.runtime.loop_monitor import LoopMonitor

__all__ = ["SupervisorCollector"]


class SupervisorCollector(Collector):
    """How long this run has been up, how late its loop woke, how much it recorded.

    `uptime` is a function: the run's start is stamped when paramedic starts, after
    registration.
    """

    def __init__(
        self,
        uptime: Callable[[], float],
        loop_monitor: LoopMonitor,
        bus: EventBus,
    ) -> None:
        self._uptime = uptime
        self._loop = loop_monitor
        self._bus = bus

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "paramedic_uptime_seconds",
            "Seconds since paramedic started.",
            value=self._uptime(),
        )
        yield GaugeMetricFamily(
            "paramedic_event_loop_lag_seconds",
            "How late paramedic's own loop last woke.",
            value=self._loop.lag,
        )
        yield CounterMetricFamily(
            "paramedic_events_published",
            "Events recorded on the timeline by this run.",
            value=self._bus.published,
        )
