"""The supervised processes' metric: which are running right now."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["SupervisedProcessCollector"]


class _Running(Protocol):
    @property
    def running(self) -> bool: ...


class SupervisedProcessCollector(Collector):
    """`paramedic_process_running{service}`: 1 while the process paramedic supervises runs.

    Not prometheus_client's `ProcessCollector`, which reports paramedic's own process.
    """

    def __init__(self, processes: Mapping[str, _Running]) -> None:
        self._processes = processes

    def collect(self) -> Iterator[Metric]:
        running = GaugeMetricFamily(
            "paramedic_process_running",
            "1 while a supervised process is running.",
            labels=["service"],
        )
        for name, proc in self._processes.items():
            running.add_metric([name], 1.0 if proc.running else 0.0)
        yield running
