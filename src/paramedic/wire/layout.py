"""Heartbeat wire format v1: the byte layout, its limits, and what a decoded datagram is.

docs/heartbeat-protocol.md is the normative text; this module spells its section 2 as
constants and ``struct`` layouts. All fixed-size fields sit at fixed offsets in the first 58
bytes so that one ``Struct.unpack_from`` reads them; the variable parts (service id, extras)
follow, then the HMAC-SHA256 tag over every preceding byte.

The wire package imports nothing else of paramedic: it ships with the client, into trading
processes that must not load the supervisor. Its own ``WireError`` is therefore outside
paramedic's ``ParamedicError`` tree.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Final, Literal, get_args

__all__ = [
    "DEFAULT_MAX_SKEW_NS",
    "EXTRA_BEAT_AGE_MS",
    "FLAG_SHUTTING_DOWN",
    "FLAG_STALLED",
    "HEAD",
    "HEADER_SIZE",
    "INSTANCE_SIZE",
    "KNOWN_FLAGS",
    "MAGIC",
    "MAX_DATAGRAM",
    "MIN_DATAGRAM",
    "REJECT_REASONS",
    "SERVICE_ID_MAX",
    "SERVICE_RE",
    "TAG_SIZE",
    "TLV",
    "U32",
    "VERSION",
    "Heartbeat",
    "RejectReason",
    "Rejection",
    "WireError",
    "validate_service_id",
]

MAGIC: Final = b"PMHB"
VERSION: Final = 1
MAX_DATAGRAM: Final = 1024
TAG_SIZE: Final = 32
INSTANCE_SIZE: Final = 16
SERVICE_ID_MAX: Final = 64

FLAG_STALLED: Final = 0x01
FLAG_SHUTTING_DOWN: Final = 0x02
KNOWN_FLAGS: Final = FLAG_STALLED | FLAG_SHUTTING_DOWN

EXTRA_BEAT_AGE_MS: Final = 0x0001

# The protocol's default skew bound (section 7): how long a captured datagram stays usable.
DEFAULT_MAX_SKEW_NS: Final = 2_000_000_000

# magic, version, flags, key_id, service_len, instance, seq, sent_ns, load_milli, rss,
# threads, extras_len
HEAD: Final = struct.Struct(">4sBBBB16sQqIQIH")
TLV: Final = struct.Struct(">HH")
U32: Final = struct.Struct(">I")
HEADER_SIZE: Final = HEAD.size
MIN_DATAGRAM: Final = HEADER_SIZE + 1 + TAG_SIZE

SERVICE_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")

RejectReason = Literal[
    "oversized",
    "malformed",
    "bad_version",
    "unknown_service",
    "bad_signature",
    "bad_flags",
    "stale",
    "replayed",
    "retired_instance",
]
REJECT_REASONS: Final[tuple[RejectReason, ...]] = get_args(RejectReason)


class WireError(ValueError):
    """A value that cannot go on the wire (bad service id, key, field out of range).

    Raised when a datagram or key ring is built, never while decoding: the receiver's hot
    path answers with a ``Rejection`` instead.
    """


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One authenticated, fresh heartbeat; field meanings are in the protocol document."""

    service: str
    instance: bytes
    seq: int
    sent_ns: int
    flags: int
    key_id: int
    load_avg_milli: int
    rss_bytes: int
    threads: int
    extras: tuple[tuple[int, bytes], ...] = ()

    @property
    def stalled(self) -> bool:
        """The process is alive but its trading loop stopped calling beat()."""
        return bool(self.flags & FLAG_STALLED)

    @property
    def shutting_down(self) -> bool:
        """The silence that follows is planned, not a crash."""
        return bool(self.flags & FLAG_SHUTTING_DOWN)

    @property
    def load_avg(self) -> float:
        """1-minute load average; carried as thousandths to keep the wire free of floats."""
        return self.load_avg_milli / 1000.0

    @property
    def beat_age_ms(self) -> int | None:
        """Milliseconds since the trading loop last called beat(), when the sender knows."""
        for kind, value in self.extras:
            if kind == EXTRA_BEAT_AGE_MS:  # the first one wins, usable or not
                if len(value) != U32.size:
                    return None
                age: int = U32.unpack(value)[0]
                return age
        return None


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a datagram was refused; one shared instance per reason."""

    reason: RejectReason


def validate_service_id(service: str) -> bytes:
    """The wire bytes of a service id, or WireError saying what is wrong with it."""
    if SERVICE_RE.fullmatch(service) is None:
        msg = (
            f"service id {service!r} is invalid: use 1..{SERVICE_ID_MAX} characters "
            "from A-Z a-z 0-9 . _ -"
        )
        raise WireError(msg)
    return service.encode("ascii")
