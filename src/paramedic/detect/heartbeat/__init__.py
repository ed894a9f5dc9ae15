"""Heartbeat detection: replay protection, UDP receiver and live table.

The wire format they read is `paramedic.wire`, shared with the client.
"""

from __future__ import annotations

from paramedic.detect.heartbeat.receiver import (
    HeartbeatReceiver,
    HeartbeatTable,
    Observation,
    ObservationKind,
    ServiceState,
)
from paramedic.detect.heartbeat.replay import ReplayGuard, SequenceWindow, within_skew

__all__ = [
    "HeartbeatReceiver",
    "HeartbeatTable",
    "Observation",
    "ObservationKind",
    "ReplayGuard",
    "SequenceWindow",
    "ServiceState",
    "within_skew",
]
