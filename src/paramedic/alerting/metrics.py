"""The alerting room's metrics, read from the live pipeline at scrape time.

Labels come only from bounded sets (severity, channel, level, held reason; see
`alerting/stats.py`), never an alert id: an alert storm must not become a series storm.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from paramedic.alerting.model import Alert
from paramedic.alerting.stats import HELD_REASONS, AlertStats
from paramedic.core.severity import SEVERITIES

__all__ = ["AlertingCollector", "AlertingReadings"]


class _Levels(Protocol):
    def levels(self) -> Mapping[str, int]: ...


class _Pending(Protocol):
    @property
    def pending(self) -> int: ...


class AlertingReadings(Protocol):
    """What the collector reads of the alerting pipeline; nothing else is touched."""

    @property
    def alerts(self) -> Mapping[str, Alert]: ...

    @property
    def alerts_total(self) -> Mapping[str, int]: ...

    @property
    def notifications_total(self) -> Mapping[tuple[str, str], int]: ...

    @property
    def stats(self) -> AlertStats: ...

    @property
    def escalation(self) -> _Levels: ...

    @property
    def outbox(self) -> _Pending: ...


class AlertingCollector(Collector):
    """Alerts raised and open, notification attempts and their latency, escalations, holds.

    `source` returns the pipeline, or None while alerting is not started (nothing is
    reported then): the pipeline is built when paramedic starts, after registration.
    """

    def __init__(self, source: Callable[[], AlertingReadings | None]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        alerting = self._source()
        if alerting is None:
            return
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
