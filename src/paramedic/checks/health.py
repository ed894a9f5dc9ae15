"""The seed's `/health` JSON (`healthy`, `components`, `metrics`) read into a report.

An HTTP probe with `read_health` hands every reading to the detectors (latency, resources) and
turns each component that reports `false` into a signal; the reading itself is the kit's, since
only the kit sees the body.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from paramedic.core.text import one_line

__all__ = ["HealthReport", "parse_health"]


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One reading of a service's `/health` body (the seed's shape); `at` is monotonic."""

    healthy: bool
    components: Mapping[str, bool]
    metrics: Mapping[str, float]
    at: float


def parse_health(body: bytes, at: float) -> HealthReport | str:
    """The seed's `/health` JSON as a report, or one sentence saying why it is not one.

    Never raises: a service that answers HTML or a truncated body is a fact to report, not a
    reason for the probe loop to die.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return f"/health body is not JSON: {one_line(body[:60].decode('utf-8', 'replace'))!r}"
    if not isinstance(doc, dict):
        return f"/health body is a JSON {type(doc).__name__}, not an object"
    healthy = doc.get("healthy")
    if not isinstance(healthy, bool):
        return f"/health body: healthy is {healthy!r}, not true/false"
    raw_components = doc.get("components", {})
    if not isinstance(raw_components, dict):
        return "/health body: components is not an object"
    components: dict[str, bool] = {}
    for name, value in raw_components.items():
        if not isinstance(value, bool):
            return f"/health body: components.{name} is {value!r}, not true/false"
        components[name] = value
    raw_metrics = doc.get("metrics", {})
    if not isinstance(raw_metrics, dict):
        return "/health body: metrics is not an object"
    metrics: dict[str, float] = {}
    for name, value in raw_metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            return f"/health body: metrics.{name} is {value!r}, not a number"
        metrics[name] = float(value)
    return HealthReport(healthy=healthy, components=components, metrics=metrics, at=at)
