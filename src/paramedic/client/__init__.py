"""What a monitored service imports to be supervised by paramedic."""

from __future__ import annotations

from paramedic.client.heartbeat import ClientError, HeartbeatSender
from paramedic.client.resumption import ResumptionGate

__all__ = ["ClientError", "HeartbeatSender", "ResumptionGate"]
