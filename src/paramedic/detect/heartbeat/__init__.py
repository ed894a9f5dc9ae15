"""Heartbeat detection: replay protection and the UDP receiver.

The wire format they read is `paramedic.wire`, shared with the client.
"""

from __future__ import annotations

from paramedic.detect.heartbeat.receiver import HeartbeatReceiver
from paramedic.detect.heartbeat.replay import ReplayGuard, SequenceWindow, within_skew

__all__ = [
    "HeartbeatReceiver",
    "ReplayGuard",
    "SequenceWindow",
    "within_skew",
]
