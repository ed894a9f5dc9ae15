"""How loud an alert is: P0 (wake everyone) to P3 (read it in the morning).

Config (severity rules, ladders per severity, channel priority maps), alerting and the API
all speak it, so it lives in core: config imports nothing but core.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["SEVERITIES", "Severity", "severity_rank"]

Severity = Literal["P0", "P1", "P2", "P3"]
SEVERITIES: tuple[Severity, ...] = ("P0", "P1", "P2", "P3")


def severity_rank(severity: Severity) -> int:
    """0 for P0 (loudest) to 3 for P3, so `min` picks the more urgent of two."""
    return SEVERITIES.index(severity)
