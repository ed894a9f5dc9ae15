"""Durations as people write them in config: `100ms`, `5s`, `2m`, `1h`, `1h30m`."""

from __future__ import annotations

import re

__all__ = ["MAX_DURATION_S", "parse_duration"]

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h|d)")
MAX_DURATION_S = 3650 * 86400.0
"""Ten years: longer is a typo (a 400-digit number was read as infinity, and timers in the
event loop overflow long before that)."""


def parse_duration(text: str) -> float:
    """Seconds from a duration string; raises ValueError with a hint on anything else.

    A bare number is refused on purpose: `timeout: 300` could mean ms or s, and guessing
    wrong by 1000x is the kind of mistake a supervisor must not make silently.
    """
    value = text.strip()
    if not value:
        msg = "empty duration; write it with a unit, e.g. 100ms, 5s, 2m, 1h"
        raise ValueError(msg)
    pos = 0
    total = 0.0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match[1]) * _UNITS[match[2]]
        pos = match.end()
    if pos != len(value) or pos == 0:
        msg = f"{text!r} is not a duration; write it with a unit, e.g. 100ms, 5s, 2m, 1h"
        raise ValueError(msg)
    if not total <= MAX_DURATION_S:  # also catches an infinity
        msg = f"{text[:40]!r} is longer than the longest duration, 3650d"
        raise ValueError(msg)
    return total
