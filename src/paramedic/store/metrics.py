"""The store's metrics: whether it takes writes, and what waits or was lost meanwhile.

The figures are kept by whoever drives the store through its trouble (the runtime's
store-trouble state and its ordered recorder); this collector only reads them, through
the narrow `StoreTroubleReadings`, so the store room imports nothing above it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["StoreCollector", "StoreTroubleReadings"]


class StoreTroubleReadings(Protocol):
    """The counts of the store-degraded state."""

    @property
    def degraded(self) -> bool: ...

    @property
    def write_failures(self) -> int: ...

    @property
    def events_not_recorded(self) -> int: ...

    @property
    def dropped(self) -> int: ...


class StoreCollector(Collector):
    """Degraded flag, refused writes, events written late or lost, and the backlog."""

    def __init__(self, trouble: StoreTroubleReadings, backlog: Callable[[], int]) -> None:
        self._trouble = trouble
        self._backlog = backlog

    def collect(self) -> Iterator[Metric]:
        trouble = self._trouble
        yield GaugeMetricFamily(
            "paramedic_store_degraded",
            "1 while the store refuses writes (events held in memory, written late).",
            value=1.0 if trouble.degraded else 0.0,
        )
        yield CounterMetricFamily(
            "paramedic_store_write_failures",
            "Store writes refused (timeline events and other rows).",
            value=trouble.write_failures,
        )
        yield CounterMetricFamily(
            "paramedic_store_events_not_recorded",
            "Timeline events that could not be written when they happened.",
            value=trouble.events_not_recorded,
        )
        yield CounterMetricFamily(
            "paramedic_store_events_dropped",
            "Events lost because the degraded-mode backlog was full.",
            value=trouble.dropped,
        )
        yield GaugeMetricFamily(
            "paramedic_store_backlog_events",
            "Events held in memory for a late write.",
            value=self._backlog(),
        )
