"""Where each room's metrics collector is registered: one collector per room, each reading
its room's live state at scrape time (prometheus_client's custom-collector style), all on
the registry passed in. Nothing is registered globally at import.

Every name is prefixed `paramedic_` except the recovery dashboard's gauges (`recovery_state`,
`recovery_progress_pct`, `recovery_system_state`, `recovery_rto_seconds`), whose names
Grafana dashboards already query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from paramedic.alerting.metrics import AlertingCollector
from paramedic.api.metrics import ApiCollector
from paramedic.detect.metrics import DetectCollector
from paramedic.process.metrics import SupervisedProcessCollector
from paramedic.recovery.metrics import RecoveryCollector
from paramedic.runtime.drill_metrics import ProofCollector
from paramedic.runtime.self_metrics import SupervisorCollector
from paramedic.store.metrics import StoreCollector

if TYPE_CHECKING:
    from paramedic.runtime.build import Parts

__all__ = ["register_collectors"]


def register_collectors(
    registry: CollectorRegistry, paramedic: Parts, monotonic: Callable[[], float]
) -> None:
    """Register every room's collector for `paramedic` on `registry`."""
    p = paramedic
    uptime = lambda: monotonic() - p.started_mono  # noqa: E731 (stamped again at start)
    registry.register(SupervisorCollector(uptime, p.loop_monitor, p.bus))
    registry.register(StoreCollector(p.trouble, lambda: p.recorder.backlog))
    registry.register(SupervisedProcessCollector(p.processes))
    heartbeats = p.heartbeats
    registry.register(
        DetectCollector(
            {name: service.health for name, service in p.services.items()},
            None if heartbeats is None else (heartbeats.receiver, heartbeats.monitor),
            {name: service.reading for name, service in p.services.items()},
        )
    )
    registry.register(ApiCollector(p.api_auth.refused))
    # Alerting and the recovery plans are built when paramedic starts: read at each scrape.
    registry.register(AlertingCollector(lambda: p.alerting))
    registry.register(RecoveryCollector(p.recovery))
    registry.register(ProofCollector(p.drills.last_success, lambda: p.preflight.ok))
