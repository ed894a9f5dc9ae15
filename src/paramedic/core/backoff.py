"""Capped exponential backoff with jitter: one formula for restarts and notification retries."""

from __future__ import annotations

import random

__all__ = ["jittered_backoff"]


def jittered_backoff(
    step: int, *, initial: float, factor: float, cap: float, jitter: float, rng: random.Random
) -> float:
    """min(cap, initial * factor^step), moved by up to +/- `jitter` of itself, never below 0.

    The jitter keeps a fleet (or a burst of notifications) that failed together from
    retrying together.
    """
    base = min(cap, initial * factor ** max(0, step))
    spread = base * jitter
    return max(0.0, base + rng.uniform(-spread, spread))
