"""Heartbeat detection: wire format v1, replay protection, UDP receiver and live table."""

from __future__ import annotations

from paramedic.detect.heartbeat.receiver import (
    HeartbeatReceiver,
    HeartbeatTable,
    Observation,
    ObservationKind,
    ServiceState,
)
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
    "HeartbeatTable",
    "KeyLookup",
    "KeyRing",
    "Observation",
    "ObservationKind",
    "RejectReason",
    "Rejection",
    "ReplayGuard",
    "SequenceWindow",
    "ServiceState",
    "decode",
    "encode",
    "within_skew",
]
