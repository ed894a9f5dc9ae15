"""The API's metric: calls refused at the door, by status."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ApiCollector"]


class ApiCollector(Collector):
    """`paramedic_api_refused_total{status}` from `TokenAuth.refused` (401 and 403 only)."""

    def __init__(self, refused: Mapping[str, int]) -> None:
        self._refused = refused

    def collect(self) -> Iterator[Metric]:
        refused = CounterMetricFamily(
            "paramedic_api_refused",
            "API calls refused for want of a token (401) or of a strong enough role (403).",
            labels=["status"],
        )
        for code, count in sorted(self._refused.items()):
            refused.add_metric([code], count)
        yield refused
