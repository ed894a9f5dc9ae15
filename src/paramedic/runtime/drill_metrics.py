"""Metrics of proving it before you need it: the last successful drill per service and the
last preflight's verdict per checklist item, read at scrape time so Grafana can show both."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ProofCollector"]


class ProofCollector(Collector):
    """`paramedic_drill_last_success_timestamp_seconds{service}` and
    `paramedic_preflight_ok{item}` (1 passed, 0 failed; absent before the first run)."""

    def __init__(
        self, last_success: Mapping[str, float], preflight: Callable[[], Mapping[str, bool]]
    ) -> None:
        self._last_success = last_success
        self._preflight = preflight

    def collect(self) -> Iterator[Metric]:
        drills = GaugeMetricFamily(
            "paramedic_drill_last_success_timestamp_seconds",
            "When the service's last successful drill finished (Unix time).",
            labels=["service"],
        )
        for service, wall in sorted(self._last_success.items()):
            drills.add_metric([service], wall)
        yield drills
        items = GaugeMetricFamily(
            "paramedic_preflight_ok",
            "The last preflight's verdict per checklist item: 1 passed, 0 failed.",
            labels=["item"],
        )
        for item, ok in self._preflight().items():
            items.add_metric([item], 1.0 if ok else 0.0)
        yield items
