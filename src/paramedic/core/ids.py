"""Identifiers that sort by creation time, so a timeline read by id is also read in order."""

from __future__ import annotations

import random
import time

__all__ = ["new_id", "short_id"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# Two base32 digits per lookup: an id is built from 13 table reads instead of 26 shifts.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def _b32(value: int, length: int) -> str:
    """`value` as `length` base32 digits, most significant first (`length` is even)."""
    pairs = [_PAIRS[(value >> shift) & 1023] for shift in range(5 * (length - 2), -1, -10)]
    return "".join(pairs)


def _b32_16(value: int) -> str:
    """`_b32(value, 16)` unrolled: the random part of every id, one per event on hot paths."""
    p = _PAIRS
    return (
        p[value >> 70 & 1023]
        + p[value >> 60 & 1023]
        + p[value >> 50 & 1023]
        + p[value >> 40 & 1023]
        + p[value >> 30 & 1023]
        + p[value >> 20 & 1023]
        + p[value >> 10 & 1023]
        + p[value & 1023]
    )


# (millisecond, its base32) of the last id: a memo of a pure function, swapped as one tuple so
# a thread reading it never pairs one millisecond with another's text.
_last_millis: list[tuple[int, str]] = [(-1, "")]


def new_id(prefix: str = "") -> str:
    """A ULID-like id: 48 bits of milliseconds then 80 random bits, base32, optional prefix.

    `prefix` names the kind of thing (`inc_`, `evt_`...) so an id read in a log says what it is.
    The random part is for uniqueness, not secrecy: `random` (seeded from the OS, reseeded in
    a forked child) instead of a `getrandom` syscall per id, which releases the GIL and, with
    the store's writer thread busy, waits for it again on the hot alert path.
    """
    millis = time.time_ns() // 1_000_000
    last = _last_millis[0]
    if last[0] != millis:
        last = _last_millis[0] = (millis, _b32(millis, 10))
    return f"{prefix}{last[1]}{_b32_16(random.getrandbits(80))}"


def short_id(full: str) -> str:
    """The last 6 characters: enough to tell apart the handful of things on one screen."""
    return full[-6:]
