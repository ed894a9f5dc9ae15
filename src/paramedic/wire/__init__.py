"""The heartbeat wire format v1, shared by the client that sends and the receiver that reads.

docs/heartbeat-protocol.md is the normative text. This package imports nothing else of
paramedic (only the standard library): it ships inside every monitored process with
``paramedic.client``.
"""

from __future__ import annotations

from paramedic.wire.codec import ReplayCheck, decode, encode
from paramedic.wire.keys import HmacKey, KeyLookup, KeyRing
from paramedic.wire.layout import (
    DEFAULT_MAX_SKEW_NS,
    EXTRA_BEAT_AGE_MS,
    FLAG_SHUTTING_DOWN,
    FLAG_STALLED,
    HEADER_SIZE,
    INSTANCE_SIZE,
    MAGIC,
    MAX_DATAGRAM,
    MIN_DATAGRAM,
    REJECT_REASONS,
    TAG_SIZE,
    VERSION,
    Heartbeat,
    Rejection,
    RejectReason,
    WireError,
    validate_service_id,
)

__all__ = [
    "DEFAULT_MAX_SKEW_NS",
    "EXTRA_BEAT_AGE_MS",
    "FLAG_SHUTTING_DOWN",
    "FLAG_STALLED",
    "HEADER_SIZE",
    "INSTANCE_SIZE",
    "MAGIC",
    "MAX_DATAGRAM",
    "MIN_DATAGRAM",
    "REJECT_REASONS",
    "TAG_SIZE",
    "VERSION",
    "Heartbeat",
    "HmacKey",
    "KeyLookup",
    "KeyRing",
    "RejectReason",
    "Rejection",
    "ReplayCheck",
    "WireError",
    "decode",
    "encode",
    "validate_service_id",
]
