"""paramedic's own metrics, read from live state at scrape time (nothing global)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from paramedic.alerting.stats import HELD_REASONS

if TYPE_CHECKING:
    from paramedic.alerting.service import AlertingService
    from paramedic.runtime.build import Parts

__all__ = ["RuntimeCollector"]

SEVERITIES = ("P0", "P1", "P2", "P3")


class RuntimeCollector(Collector):
    """Uptime, loop lag, events published and supervised processes."""

    def __init__(self, paramedic: Parts, monotonic: Callable[[], float]) -> None:
        self._p = paramedic
        self._monotonic = monotonic

    def collect(self) -> Iterator[Metric]:
        p = self._p
        yield GaugeMetricFamily(
            "paramedic_uptime_seconds",
            "Seconds since paramedic started.",
            value=self._monotonic() - p.started_mono,
        )
        yield GaugeMetricFamily(
            "paramedic_event_loop_lag_seconds",
            "How late paramedic's own loop last woke.",
            value=p.loop_monitor.lag,
        )
        yield CounterMetricFamily(
            "paramedic_events_published",
            "Events recorded on the timeline by this run.",
            value=p.bus.published,
        )
        yield GaugeMetricFamily(
            "paramedic_store_degraded",
            "1 while the store refuses writes (events held in memory, written late).",
            value=1.0 if p.trouble.degraded else 0.0,
        )
        yield CounterMetricFamily(
            "paramedic_store_write_failures",
            "Store writes refused (timeline events and other rows).",
            value=p.trouble.write_failures,
        )
        yield CounterMetricFamily(
            "paramedic_store_events_not_recorded",
            "Timeline events that could not be written when they happened.",
            value=p.trouble.events_not_recorded,
        )
        yield CounterMetricFamily(
            "paramedic_store_events_dropped",
            "Events lost because the degraded-mode backlog was full.",
            value=p.trouble.dropped,
        )
        yield GaugeMetricFamily(
            "paramedic_store_backlog_events",
            "Events held in memory for a late write.",
            value=p.recorder.backlog,
        )
        running = GaugeMetricFamily(
            "paramedic_process_running",
            "1 while a supervised process is running.",
            labels=["service"],
        )
        for name, proc in p.processes.items():
            running.add_metric([name], 1.0 if proc.running else 0.0)
        yield running
        state = GaugeMetricFamily(
            "paramedic_service_up",
            "1 while ServiceHealth says the service is up, 0 when down (absent while unknown).",
            labels=["service"],
        )
        for name, service in p.services.items():
            if service.health.state != "unknown":
                state.add_metric([name], 1.0 if service.health.state == "up" else 0.0)
        yield state
        refused = CounterMetricFamily(
            "paramedic_api_refused",
            "API calls refused for want of a token (401) or of a strong enough role (403).",
            labels=["status"],
        )
        for code, count in sorted(p.api_auth.refused.items()):
            refused.add_metric([code], count)
        yield refused
        if p.alerting is not None:
            yield from _alerting_metrics(p.alerting)
        if p.recovery:
            yield from _recovery_metrics(p)
        if p.heartbeats is not None:
            receiver = p.heartbeats.receiver
            yield CounterMetricFamily(
                "heartbeats_accepted",
                "Heartbeats decoded, authenticated and recorded.",
                value=receiver.accepted,
            )
            rejected = CounterMetricFamily(
                "heartbeats_rejected", "Heartbeat datagrams dropped, by reason.", labels=["reason"]
            )
            for reason, count in receiver.rejections.items():
                rejected.add_metric([reason], count)
            yield rejected
            yield GaugeMetricFamily(
                "heartbeat_instances_tracked",
                "Sender instances the replay guard remembers (live and retired); bounded.",
                value=receiver.replay.size,
            )
            gaps = CounterMetricFamily(
                "heartbeat_sequence_gaps",
                "Heartbeat sequence numbers that never arrived, per service.",
                labels=["service"],
            )
            for name, count in sorted(p.heartbeats.monitor.gaps().items()):
                gaps.add_metric([name], count)
            yield gaps
            held = CounterMetricFamily(
                "detection_held",
                "Ticks on which paramedic convicted no one because it was itself stalled.",
                value=p.heartbeats.monitor.held,
            )
            yield held


def _alerting_metrics(alerting: AlertingService) -> Iterator[Metric]:
    """Labels only from bounded sets (severity, channel, level, held reason): never an id."""
    alerts = CounterMetricFamily(
        "paramedic_alerts_raised", "Alerts raised, by severity.", labels=["severity"]
    )
    for severity in SEVERITIES:
        alerts.add_metric([severity], alerting.alerts_total.get(severity, 0))
    yield alerts
    open_alerts = GaugeMetricFamily(
        "paramedic_alerts_open",
        "Open alerts by severity and state (firing, acknowledged).",
        labels=["severity", "state"],
    )
    counts: Counter[tuple[str, str]] = Counter(
        (a.severity, a.state) for a in alerting.alerts.values() if a.state != "resolved"
    )
    for severity in SEVERITIES:
        for state in ("firing", "acknowledged"):
            open_alerts.add_metric([severity, state], counts.get((severity, state), 0))
    yield open_alerts
    sent = CounterMetricFamily(
        "paramedic_notifications",
        "Notification attempts, by channel and outcome.",
        labels=["channel", "outcome"],
    )
    for (channel, outcome), count in sorted(alerting.notifications_total.items()):
        sent.add_metric([channel, outcome], count)
    yield sent
    latency = HistogramMetricFamily(
        "paramedic_notification_latency_seconds",
        "From the notification's commit to the outbox to its delivery, by channel.",
        labels=["channel"],
    )
    for channel, histogram in sorted(alerting.stats.latency.items()):
        latency.add_metric([channel], histogram.cumulative(), sum_value=histogram.total)
    yield latency
    escalations = CounterMetricFamily(
        "paramedic_escalations",
        "Escalation rungs that paged someone, by level.",
        labels=["level"],
    )
    for level, count in sorted(alerting.stats.escalations.items()):
        escalations.add_metric([str(level)], count)
    yield escalations
    at_level = GaugeMetricFamily(
        "paramedic_alerts_escalation_level",
        "Open alerts by the highest escalation level notified so far (0: none yet).",
        labels=["level"],
    )
    for level, count in sorted(Counter(alerting.escalation.levels().values()).items()):
        at_level.add_metric([str(level)], count)
    yield at_level
    held = CounterMetricFamily(
        "paramedic_alerts_held",
        "Notifications held back, by reason (" + ", ".join(HELD_REASONS) + ").",
        labels=["reason"],
    )
    for reason in HELD_REASONS:
        held.add_metric([reason], alerting.stats.held.get(reason, 0))
    yield held
    yield GaugeMetricFamily(
        "paramedic_alert_outbox_pending",
        "Notifications committed and not yet delivered or given up.",
        value=alerting.outbox.pending,
    )


# The seed's 3.2 states as numbers for a Grafana state timeline (recovery_system_state).
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


def _recovery_metrics(p: Parts) -> Iterator[Metric]:
    progress = GaugeMetricFamily(
        "recovery_progress_pct",
        "Progress of the current recovery (seed 3.3); never goes down, a failure keeps its figure.",
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
    for name, orchestrator in sorted(p.recovery.items()):
        status = orchestrator.status()
        progress.add_metric([name], float(status.get("progress_percentage", 0)))
        state.add_metric([name], float(STATE_CODES.get(str(status.get("state")), 0)))
        last = orchestrator.last_rto()
        if last is not None:
            rto.add_metric([name], last)
    yield progress
    yield state
    yield rto
