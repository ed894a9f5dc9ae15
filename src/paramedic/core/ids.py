"""Identifiers that sort by creation time, so a timeline read by id is also read in order."""

from __future__ import annotations

import os
import time

__all__ = ["new_id", "short_id"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str = "") -> str:
    """A ULID-like id: 48 bits of milliseconds then 80 random bits, base32, optional prefix.

    `prefix` names the kind of thing (`inc_`, `evt_`...) so an id read in a log says what it is.
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}{_b32(millis, 10)}{_b32(rand, 16)}"


def short_id(full: str) -> str:
    """The last 6 characters: enough to tell apart the handful of things on one screen."""
    return full[-6:]
