"""What a monitored service imports to be supervised by paramedic."""

from __future__ import annotations

from paramedic.client.heartbeat import HeartbeatSender

__all__ = ["HeartbeatSender"]
