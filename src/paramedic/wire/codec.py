"""Build and read heartbeat datagrams (protocol sections 2, 3 and 6).

``decode`` is the receiver's hot path: it never raises, never logs, and returns a shared
``Rejection`` instance per reason so that garbage costs no allocation. ``encode`` is the
sender's: it refuses what it cannot put on the wire instead of truncating it.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Iterable
from dataclasses import fields
from typing import Final, Protocol

from paramedic.wire.keys import HmacKey, KeyLookup, KeyRing, check_key
from paramedic.wire.layout import (
    DEFAULT_MAX_SKEW_NS,
    HEAD,
    HEADER_SIZE,
    INSTANCE_SIZE,
    KNOWN_FLAGS,
    MAGIC,
    MAX_DATAGRAM,
    MIN_DATAGRAM,
    REJECT_REASONS,
    SERVICE_ID_MAX,
    SERVICE_RE,
    TAG_SIZE,
    TLV,
    VERSION,
    Heartbeat,
    Rejection,
    RejectReason,
    WireError,
    validate_service_id,
)

__all__ = ["ReplayCheck", "decode", "encode"]


class ReplayCheck(Protocol):
    """The receiver's replay window (protocol section 7), consulted last by ``decode``.

    Declared here so the wire format does not depend on the receiver that implements it.
    """

    def admit(self, service: str, instance: bytes, seq: int) -> RejectReason | None:
        """None to accept (and remember) the sequence, else why it is refused."""
        ...


# A frozen dataclass routes every field of __init__ through object.__setattr__; writing the
# slot descriptors directly has the same effect for about half the cost, and this is the only
# allocation on the accept path.
_new = object.__new__
(
    _set_service,
    _set_instance,
    _set_seq,
    _set_sent_ns,
    _set_flags,
    _set_key_id,
    _set_load,
    _set_rss,
    _set_threads,
    _set_extras,
) = (getattr(Heartbeat, f.name).__set__ for f in fields(Heartbeat))


_REJECT: Final[dict[RejectReason, Rejection]] = {r: Rejection(r) for r in REJECT_REASONS}
_OVERSIZED: Final = _REJECT["oversized"]
_MALFORMED: Final = _REJECT["malformed"]
_BAD_VERSION: Final = _REJECT["bad_version"]
_UNKNOWN: Final = _REJECT["unknown_service"]
_BAD_SIGNATURE: Final = _REJECT["bad_signature"]
_BAD_FLAGS: Final = _REJECT["bad_flags"]
_STALE: Final = _REJECT["stale"]


def encode(
    *,
    service: str,
    key: bytes,
    key_id: int,
    instance: bytes,
    seq: int,
    sent_ns: int,
    flags: int = 0,
    load_avg_milli: int = 0,
    rss_bytes: int = 0,
    threads: int = 0,
    extras: Iterable[tuple[int, bytes]] = (),
) -> bytes:
    """Build one signed datagram; out-of-range values raise WireError, never truncate."""
    service_bytes = validate_service_id(service)
    check_key(key, key_id)
    if len(instance) != INSTANCE_SIZE:
        msg = f"instance id must be {INSTANCE_SIZE} bytes, got {len(instance)}"
        raise WireError(msg)
    if flags & ~KNOWN_FLAGS:
        msg = f"flags {flags:#04x} set reserved bits; only bits 0 and 1 are defined"
        raise WireError(msg)
    try:
        tlvs = b"".join(TLV.pack(kind, len(value)) + value for kind, value in extras)
        head = HEAD.pack(
            MAGIC,
            VERSION,
            flags,
            key_id,
            len(service_bytes),
            instance,
            seq,
            sent_ns,
            load_avg_milli,
            rss_bytes,
            threads,
            len(tlvs),
        )
    except struct.error as exc:
        msg = f"heartbeat field out of range: {exc}"
        raise WireError(msg) from exc
    body = head + service_bytes + tlvs
    if len(body) + TAG_SIZE > MAX_DATAGRAM:
        msg = f"heartbeat would be {len(body) + TAG_SIZE} bytes, over {MAX_DATAGRAM}"
        raise WireError(msg)
    return body + hmac.digest(key, body, "sha256")


def _parse_extras(data: bytes, start: int, end: int) -> tuple[tuple[int, bytes], ...] | None:
    items: list[tuple[int, bytes]] = []
    offset = start
    while offset < end:
        if offset + TLV.size > end:
            return None
        kind, length = TLV.unpack_from(data, offset)
        offset += TLV.size
        if offset + length > end:
            return None
        items.append((kind, bytes(data[offset : offset + length])))
        offset += length
    return tuple(items)


def decode(
    data: bytes,
    keys: KeyLookup,
    *,
    now_ns: int | None = None,
    max_skew_ns: int = DEFAULT_MAX_SKEW_NS,
    replay: ReplayCheck | None = None,
) -> Heartbeat | Rejection:
    """Parse, authenticate and check one datagram; never raises.

    Before the tag is verified only the framing (magic, version, lengths) and the key lookup
    inputs (service id, key id) are read. Skew is checked only when ``now_ns`` is given, and
    the replay window is updated last, so only a fully valid datagram consumes a sequence.
    """
    try:
        size = len(data)
        if size > MAX_DATAGRAM:
            return _OVERSIZED
        if size < MIN_DATAGRAM:
            # A future version may be shorter; say so rather than "malformed" when we can.
            if size >= 5 and data[:4] == MAGIC and data[4] != VERSION:
                return _BAD_VERSION
            return _MALFORMED
        (
            magic,
            version,
            flags,
            key_id,
            service_len,
            instance,
            seq,
            sent_ns,
            load_milli,
            rss,
            threads,
            extras_len,
        ) = HEAD.unpack_from(data)
        if magic != MAGIC:
            return _MALFORMED
        if version != VERSION:
            return _BAD_VERSION
        service_end = HEADER_SIZE + service_len
        body_end = service_end + extras_len
        if service_len == 0 or service_len > SERVICE_ID_MAX or body_end + TAG_SIZE != size:
            return _MALFORMED
        try:
            service = data[HEADER_SIZE:service_end].decode("ascii")
        except UnicodeDecodeError:
            return _MALFORMED
        key: HmacKey | bytes | None
        if type(keys) is KeyRing:
            # A KeyRing holds validated names only, so a hit proves the charset (step 5)
            # and only a miss needs the regex: none on a good datagram.
            key = keys._keys.get((service, key_id))
            if key is None:
                return _MALFORMED if SERVICE_RE.fullmatch(service) is None else _UNKNOWN
        else:
            # Any other lookup may answer any name: step 5 before it is asked (step 6).
            if SERVICE_RE.fullmatch(service) is None:
                return _MALFORMED
            key = keys(service, key_id)
            if key is None:
                return _UNKNOWN
        if type(key) is HmacKey:
            inner = key.inner.copy()
            inner.update(data[:body_end])
            outer = key.outer.copy()
            outer.update(inner.digest())
            tag = outer.digest()
        else:
            tag = hmac.digest(key, data[:body_end], "sha256")  # type: ignore[arg-type]
        if not hmac.compare_digest(tag, data[body_end:]):
            return _BAD_SIGNATURE
        if flags & ~KNOWN_FLAGS:
            return _BAD_FLAGS
        extras: tuple[tuple[int, bytes], ...] = ()
        if extras_len:
            parsed = _parse_extras(data, service_end, body_end)
            if parsed is None:
                return _MALFORMED
            extras = parsed
        if now_ns is not None and not -max_skew_ns <= now_ns - sent_ns <= max_skew_ns:
            return _STALE
        if replay is not None:
            verdict = replay.admit(service, instance, seq)
            if verdict is not None:
                return _REJECT[verdict]
        beat: Heartbeat = _new(Heartbeat)
        _set_service(beat, service)
        _set_instance(beat, instance)
        _set_seq(beat, seq)
        _set_sent_ns(beat, sent_ns)
        _set_flags(beat, flags)
        _set_key_id(beat, key_id)
        _set_load(beat, load_milli)
        _set_rss(beat, rss)
        _set_threads(beat, threads)
        _set_extras(beat, extras)
        return beat
    except Exception:
        # Only a broken KeyLookup can get here; the caller still gets a verdict, not a crash.
        return _MALFORMED
