"""Notification channels: one small adapter per provider behind the `Channel` protocol."""

from paramedic.alerting.channels.base import Channel, DeliveryResult, Notification
from paramedic.alerting.channels.registry import build_channel, build_channels

__all__ = ["Channel", "DeliveryResult", "Notification", "build_channel", "build_channels"]
