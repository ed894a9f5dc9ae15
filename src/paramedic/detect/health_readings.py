"""The last `/health` reading of one service, kept for the key-metrics gauges.

The metric and component names come from the service's own body, so they are bounded here:
the first `MAX_NAMES` of each are remembered, later new names and over-long names are
counted as dropped, never stored. A service that invents a name per request costs one
counter, not a series per request.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MAX_NAMES", "MAX_NAME_LENGTH", "HealthReading"]

MAX_NAMES = 32
MAX_NAME_LENGTH = 64


class HealthReading:
    """Values of the last `/health` body: healthy, components (1/0) and metrics."""

    def __init__(self) -> None:
        self.healthy: bool | None = None
        self.reported_wall: float | None = None
        self.components: dict[str, float] = {}
        self.metrics: dict[str, float] = {}
        self.dropped = 0

    def record(
        self,
        healthy: bool,
        components: Mapping[str, bool],
        metrics: Mapping[str, float],
        wall: float,
    ) -> None:
        """Keep this reading's values; a name seen before whose value is now missing keeps
        its series and last value (Prometheus's staleness is the timestamp's job)."""
        self.healthy, self.reported_wall = healthy, wall
        self._keep(self.components, {k: 1.0 if v else 0.0 for k, v in components.items()})
        self._keep(self.metrics, metrics)

    def clear(self) -> None:
        """The process is gone: its last body no longer describes it (the series vanish
        until the next reading; the dropped count stays a counter)."""
        self.healthy = self.reported_wall = None
        self.components.clear()
        self.metrics.clear()

    def _keep(self, table: dict[str, float], values: Mapping[str, float]) -> None:
        for name, value in values.items():
            known = name in table
            if known or (len(table) < MAX_NAMES and 0 < len(name) <= MAX_NAME_LENGTH):
                table[name] = value
            else:
                self.dropped += 1
