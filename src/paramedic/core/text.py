"""Short forms for sentences people read: one line of output, a duration in milliseconds."""

from __future__ import annotations

__all__ = ["ms", "one_line"]


def one_line(text: str, limit: int = 200) -> str:
    """Squash output or a provider's answer into one bounded line for a sentence or a log."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
