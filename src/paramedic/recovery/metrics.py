"""The recovery room's metrics: the gauges a Grafana recovery dashboard queries.

Their names are the ones the original dashboard specification queries
(`recovery_progress_pct`, `recovery_system_state`, `recovery_rto_seconds`), so they carry no
`paramedic_` prefix: a dashboard built from that specification works unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["STATE_CODES", "RecoveryCollector", "RecoveryReadings"]

# The incident states as numbers for a Grafana state timeline (recovery_system_state).
STATE_CODES = {
    "HEALTHY": 0,
    "FAILURE_DETECTED": 1,
    "AWAITING_APPROVAL": 2,
    "RECOVERY_IN_PROGRESS": 3,
    "VALIDATING": 4,
    "RECOVERED": 5,
    "RECOVERY_FAILED": 6,
    "MANUAL_RECOVERY": 7,
}


class RecoveryReadings(Protocol):
    """What the collector reads of one service's recovery."""

    def status(self) -> Mapping[str, Any]: ...

    def last_rto(self) -> float | None: ...


class RecoveryCollector(Collector):
    """Progress, state and last RTO of every service with a recovery plan.

    `recoveries` is read at each scrape, so services added to it after registration (the
    plans are built when paramedic starts) are reported from then on.
    """

    def __init__(self, recoveries: Mapping[str, RecoveryReadings]) -> None:
        self._recoveries = recoveries

    def collect(self) -> Iterator[Metric]:
        if not self._recoveries:
            return
        progress = GaugeMetricFamily(
            "recovery_progress_pct",
            "Progress of the current recovery; never goes down, a failure keeps its figure.",
            labels=["service"],
        )
        state = GaugeMetricFamily(
            "recovery_system_state",
            "Recovery state: " + ", ".join(f"{v}={k}" for k, v in STATE_CODES.items()) + ".",
            labels=["service"],
        )
        rto = GaugeMetricFamily(
            "recovery_rto_seconds",
            "Duration of the last finished recovery of the service.",
            labels=["service"],
        )
        for name, recovery in sorted(self._recoveries.items()):
            status = recovery.status()
            progress.add_metric([name], float(status.get("progress_percentage", 0)))
            state.add_metric([name], float(STATE_CODES.get(str(status.get("state")), 0)))
            last = recovery.last_rto()
            if last is not None:
                rto.add_metric([name], last)
        yield progress
        yield state
        yield rto
