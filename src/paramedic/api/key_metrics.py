"""A service's key metrics for an overview screen: its last `/health` reading beside its limits.

The values are the ones the runtime already keeps for the `paramedic_service_health_metric`
gauges (`detect/health_readings.py`: at most 32 names per service, each at most 64
characters), so a service that invents names cannot grow this answer. The limits are the
ones the service's config states (`resources.metrics`: the detectors that convict a metric
held beyond its bound); a metric without one is shown with its value only. A component of
the body is red when it reports false.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from paramedic.config.resources import MetricThreshold
from paramedic.detect.health_readings import HealthReading

__all__ = ["key_metrics", "unit_of"]

# Units spelled in a metric's name, as Prometheus names carry them (`_seconds`, `_bytes`).
_UNITS = (
    ("_us", "µs"),
    ("_ms", "ms"),
    ("_seconds", "s"),
    ("_s", "s"),
    ("_pct", "%"),
    ("_percent", "%"),
    ("_bytes", "B"),
)


def unit_of(name: str) -> str | None:
    """The unit a metric's name ends with (`market_data_lag_us` is in µs), else None."""
    return next((unit for suffix, unit in _UNITS if name.endswith(suffix)), None)


def _number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: a value that is not a finite number is shown as none."""
    return value if value is not None and math.isfinite(value) else None


def _threshold(limit: MetricThreshold) -> dict[str, Any]:
    above = limit.above is not None
    return {
        "op": ">" if above else "<",
        "bound": limit.above if above else limit.below,
        "for_s": limit.for_,
        "kind": limit.kind,
    }


def _breached(value: float | None, limit: MetricThreshold | None) -> bool:
    if value is None or limit is None:
        return False
    if limit.above is not None:
        return value > limit.above
    return limit.below is not None and value < limit.below


def key_metrics(
    reading: HealthReading | None, limits: Sequence[MetricThreshold] = ()
) -> dict[str, Any] | None:
    """`reported` (wall time of the reading, None before the first or after the process
    died), `healthy`, `metrics` (name, value, unit, threshold, breached: the value is now
    beyond the bound; the detector convicts once it stays there `for_s`), `components`
    (name, ok) and `dropped` (names past the bound). None when there is nothing to show."""
    by_name: Mapping[str, MetricThreshold] = {m.name: m for m in limits}
    values: Mapping[str, float] = reading.metrics if reading is not None else {}
    if reading is None and not limits:
        return None
    metrics = []
    for name in [*values, *(n for n in by_name if n not in values)]:
        value = _number(values.get(name))
        limit = by_name.get(name)
        metrics.append(
            {
                "name": name,
                "value": value,
                "unit": unit_of(name),
                "threshold": _threshold(limit) if limit is not None else None,
                "breached": _breached(value, limit),
            }
        )
    components = reading.components if reading is not None else {}
    return {
        "reported": reading.reported_wall if reading is not None else None,
        "healthy": reading.healthy if reading is not None else None,
        "metrics": metrics,
        "components": [{"name": n, "ok": v >= 1.0} for n, v in components.items()],
        "dropped": reading.dropped if reading is not None else 0,
    }
