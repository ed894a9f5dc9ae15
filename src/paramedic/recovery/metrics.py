"""The recovery room's metrics: the gauges a Grafana recovery dashboard queries.

Their names are the ones the original dashboard specification queries (`recovery_state`,
`recovery_progress_pct`, `recovery_system_state`, `recovery_rto_seconds`), so they carry no
`paramedic_` prefix: a dashboard built from that specification works unchanged. The
timeline's instants and the recovery history are `paramedic_recovery_*`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from paramedic.recovery.history import RtoHistory

__all__ = ["COARSE_STATES", "STATE_CODES", "RecoveryCollector", "RecoveryReadings"]

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
# The three-colour gauge (recovery_state): 0 healthy, 1 recovering, 2 failed. A human
# took over or the recovery gave up: red until someone resolves it.
COARSE_STATES = {
    "HEALTHY": 0,
    "RECOVERED": 0,
    "FAILURE_DETECTED": 1,
    "AWAITING_APPROVAL": 1,
    "RECOVERY_IN_PROGRESS": 1,
    "VALIDATING": 1,
    "RECOVERY_FAILED": 2,
    "MANUAL_RECOVERY": 2,
}


class RecoveryReadings(Protocol):
    """What the collector reads of one service's recovery."""

    def status(self) -> Mapping[str, Any]: ...

    def last_rto(self) -> float | None: ...

    def failure_detected_wall(self) -> float | None: ...

    def rto_history(self) -> RtoHistory: ...


class RecoveryCollector(Collector):
    """State, progress, timeline instants, last RTO and the RTO history of every service
    with a recovery plan.

    `recoveries` is read at each scrape, so services added to it after registration (the
    plans are built when paramedic starts) are reported from then on.
    """

    def __init__(self, recoveries: Mapping[str, RecoveryReadings]) -> None:
        self._recoveries = recoveries

    def collect(self) -> Iterator[Metric]:
        if not self._recoveries:
            return
        coarse = GaugeMetricFamily(
            "recovery_state",
            "Recovery state for a three-colour gauge: 0 healthy, 1 recovering, 2 failed.",
            labels=["service"],
        )
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
        detected = GaugeMetricFamily(
            "paramedic_recovery_failure_detected_timestamp_seconds",
            "When the open incident's failure was detected (Unix time); absent without one.",
            labels=["service"],
        )
        eta = GaugeMetricFamily(
            "paramedic_recovery_eta_timestamp_seconds",
            "Estimated completion of the recovery in progress (Unix time); absent unknown.",
            labels=["service"],
        )
        history = HistogramMetricFamily(
            "paramedic_recovery_duration_seconds",
            "RTO of every recovery finished since paramedic started, by method, failure"
            " kind and outcome (recovered, failed).",
            labels=["service", "method", "failure_kind", "outcome"],
        )
        for name, recovery in sorted(self._recoveries.items()):
            status = recovery.status()
            code = str(status.get("state"))
            coarse.add_metric([name], float(COARSE_STATES.get(code, 0)))
            progress.add_metric([name], float(status.get("progress_percentage", 0)))
            state.add_metric([name], float(STATE_CODES.get(code, 0)))
            last = recovery.last_rto()
            if last is not None:
                rto.add_metric([name], last)
            opened = recovery.failure_detected_wall()
            if opened is not None:
                detected.add_metric([name], opened)
            completion = status.get("estimated_completion")
            if isinstance(completion, int | float) and 0 < STATE_CODES.get(code, 0) < 5:
                eta.add_metric([name], completion / 1000)
            for (method, kind, outcome), buckets in sorted(recovery.rto_history().series.items()):
                history.add_metric(
                    [name, method, kind, outcome], buckets.cumulative(), sum_value=buckets.total
                )
        yield from (coarse, progress, state, rto, detected, eta, history)
