"""A second heartbeat decoder, written from docs/heartbeat-protocol.md alone (sections 2-6).

The real `decode` never raises: any exception inside it becomes `malformed`, which would hide
a crash from a fuzzer that only watches for exceptions. The fuzzer therefore compares every
verdict with this one, which is slow and plain (no struct, no prepared HMAC states) and
checks in the order section 3 lists. Skew is checked; replay is not (the stateful test does).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable

_CHARSET = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def reference_decode(
    data: bytes, key_for: Callable[[str, int], bytes | None], now_ns: int, max_skew_ns: int
) -> str | dict[str, object]:
    """The rejection reason, or the decoded fields as a dict."""
    if len(data) > 1024:
        return "oversized"
    if len(data) < 91 or data[:4] != b"PMHB":
        if len(data) >= 5 and data[:4] == b"PMHB" and data[4] != 1:
            return "bad_version"
        return "malformed"
    if data[4] != 1:
        return "bad_version"
    n = data[7]
    e = int.from_bytes(data[56:58], "big")
    if not 1 <= n <= 64 or 58 + n + e + 32 != len(data):
        return "malformed"
    raw_service = data[58 : 58 + n]
    if _CHARSET.fullmatch(raw_service) is None:
        return "malformed"
    service = raw_service.decode("ascii")
    key = key_for(service, data[6])
    if key is None:
        return "unknown_service"
    body = data[: 58 + n + e]
    if not hmac.compare_digest(hmac.new(key, body, "sha256").digest(), data[58 + n + e :]):
        return "bad_signature"
    if data[5] & 0xFC:
        return "bad_flags"
    extras = []
    at, end = 58 + n, 58 + n + e
    while at < end:
        if at + 4 > end:
            return "malformed"
        kind, length = (
            int.from_bytes(data[at : at + 2], "big"),
            int.from_bytes(data[at + 2 : at + 4], "big"),
        )
        at += 4
        if at + length > end:
            return "malformed"
        extras.append((kind, data[at : at + length]))
        at += length
    sent_ns = int.from_bytes(data[32:40], "big", signed=True)
    if abs(now_ns - sent_ns) > max_skew_ns:
        return "stale"
    return {
        "service": service,
        "instance": data[8:24],
        "seq": int.from_bytes(data[24:32], "big"),
        "sent_ns": sent_ns,
        "flags": data[5],
        "key_id": data[6],
        "load_avg_milli": int.from_bytes(data[40:44], "big"),
        "rss_bytes": int.from_bytes(data[44:52], "big"),
        "threads": int.from_bytes(data[52:56], "big"),
        "extras": tuple(extras),
    }
