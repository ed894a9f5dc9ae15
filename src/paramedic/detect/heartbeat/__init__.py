"""Heartbeat detection: wire format v1, replay protection and the UDP receiver."""

from __future__ import annotations

from paramedic.detect.heartbeat.receiver import HeartbeatReceiver
from paramedic.detect.heartbeat.replay import ReplayGuard, SequenceWindow, within_skew
from paramedic.detect.heartbeat.wire import (
    FLAG_SHUTTING_DOWN,
    FLAG_STALLED,
    MAX_DATAGRAM,
    REJECT_REASONS,
    Heartbeat,
    KeyLookup,
    KeyRing,
    Rejection,
    RejectReason,
    decode,
    encode,
)

__all__ = [
    "FLAG_SHUTTING_DOWN",
    "FLAG_STALLED",
    "MAX_DATAGRAM",
    "REJECT_REASONS",
    "Heartbeat",
    "HeartbeatReceiver",
    "KeyLookup",
    "KeyRing",
    "RejectReason",
    "Rejection",
    "ReplayGuard",
    "SequenceWindow",
    "decode",
    "encode",
    "within_skew",
]
