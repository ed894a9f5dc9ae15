"""Short forms for sentences people read: one line of output, one way to say how long."""

from __future__ import annotations

import math

__all__ = ["duration", "one_line"]


def one_line(text: str, limit: int = 200) -> str:
    """Squash output or a provider's answer into one bounded line for a sentence or a log."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def duration(seconds: float) -> str:
    """How long, the way a person reads it: `0.35 ms`, `312 ms`, `4.5 s`, `2 min 30 s`,
    `12 min`, `4 h 41 min`, `3 d 2 h`.

    Every sentence, log line, CLI table and error message spells durations through this one
    function, so the same span reads the same everywhere. Three significant digits below a
    minute (a probe answered in `0.35 ms`, a step took `12.3 s`); whole units above, where
    the seconds of an hour are noise, and the seconds of ten minutes or more too.
    """
    if not math.isfinite(seconds):
        return f"{seconds} s"
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds == 0:
        return "0 s"
    if seconds < 1:
        text = f"{seconds * 1000:.3g}"
        if float(text) < 1000:  # 0.9996 s rounds up to the next unit
            return f"{text} ms"
    if seconds < 60:
        text = f"{seconds:.3g}"
        if float(text) < 60:
            return f"{text} s"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs} s" if minutes < 10 and secs else f"{minutes} min"
