"""Least-squares trend over a sliding time window, in O(1) per sample (amortised).

A memory leak is a slope, not a level: a service may legitimately hold 20 GiB of order
book, and one that holds 800 MiB but grows 4 MiB a minute will be killed by the OOM killer
in the middle of the session. The fit keeps running sums so that one sample costs a few
additions however long the window; R² tells a steady climb from a noisy flat line.

Numerics: sums of t² with t in monotonic seconds (~1e6 after days of uptime) and of y² with y
in bytes (~1e9) lose every significant digit when the variance is taken as
`Σx² - (Σx)²/n`. So both axes are measured from a reference sample, and the sums are rebuilt
from the deque (re-centred on the oldest sample) once as many samples have been evicted as
the window holds: amortised O(1), and rounding errors from the add/subtract cycle never
accumulate for long. What remains is an absolute error of about 1e-16 times the square of the
largest deviation seen since the last rebuild (at most two windows back): a spike of 1 GiB
followed by a flat line of bytes is not fitted to the byte, which no RSS series needs.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from dataclasses import dataclass

from paramedic.core.errors import DetectionError

__all__ = ["Fit", "SlidingTrend", "fit_points"]

_EPS = sys.float_info.epsilon


@dataclass(frozen=True, slots=True)
class Fit:
    """The least-squares line through the window's samples.

    `slope` is y units per second; `level` is the line's value at `t_last` (less noisy than
    the last raw sample); `r2` is the share of the variance the line explains (1.0 when all
    samples lie exactly on it, including a perfectly flat series).
    """

    n: int
    slope: float
    level: float
    r2: float
    t_first: float
    t_last: float

    @property
    def span(self) -> float:
        """Seconds between the oldest and the newest sample in the window."""
        return self.t_last - self.t_first

    def projected_time_to(self, limit: float) -> float | None:
        """Seconds after `t_last` at which the line reaches `limit`; None if it never does.

        0.0 when the line is already at or beyond the limit and still heading that way.
        """
        gap = limit - self.level
        if gap <= 0:
            return 0.0 if self.slope >= 0 else None
        if self.slope <= 0:
            return None
        return gap / self.slope


def _fit(
    n: int, sx: float, sy: float, sxx: float, sxy: float, syy: float, x_last: float
) -> tuple[float, float, float] | None:
    """(slope, level at x_last, r2) from centred-about-a-reference sums; None if undefined."""
    if n < 2:
        return None
    cxx = sxx - sx * sx / n
    if cxx <= 1e-12 * sxx:  # all times equal, up to the rounding of evicted samples
        return None
    cxy = sxy - sx * sy / n
    cyy = max(0.0, syy - sy * sy / n)
    slope = cxy / cxx
    level = sy / n + slope * (x_last - sx / n)
    # Cancellation leaves noise of order n * eps * syy in cyy: a flat series must read as a
    # perfect fit rather than as noise divided by noise.
    exact = cyy <= 8 * n * _EPS * syy or cxx * cyy == 0.0  # (or the product underflowed)
    r2 = 1.0 if exact else min(1.0, max(0.0, cxy * cxy / (cxx * cyy)))
    return slope, level, r2


def fit_points(points: list[tuple[float, float]]) -> Fit | None:
    """The same fit computed directly, two passes over the points: the reference for tests."""
    n = len(points)
    if n < 2 or points[0][0] == points[-1][0]:
        return None
    mean_t = math.fsum(t for t, _ in points) / n
    mean_y = math.fsum(y for _, y in points) / n
    cxx = math.fsum((t - mean_t) ** 2 for t, _ in points)
    if cxx <= 0:
        return None
    cxy = math.fsum((t - mean_t) * (y - mean_y) for t, y in points)
    cyy = math.fsum((y - mean_y) ** 2 for _, y in points)
    slope = cxy / cxx
    t_last = points[-1][0]
    level = mean_y + slope * (t_last - mean_t)
    r2 = 1.0 if cxx * cyy == 0 else min(1.0, cxy * cxy / (cxx * cyy))
    return Fit(n, slope, level, r2, points[0][0], t_last)


class SlidingTrend:
    """Samples (t, y) of the last `window` seconds and their least-squares line.

    Times must not go backwards (they come from a monotonic clock); a sample exactly
    `window` seconds older than the newest one is kept. `max_samples` bounds memory if a
    caller samples far faster than expected.
    """

    def __init__(self, window: float, *, max_samples: int = 100_000) -> None:
        if not window > 0 or not math.isfinite(window):
            msg = f"trend window must be a positive number of seconds, not {window!r}"
            raise DetectionError(msg)
        if max_samples < 2:
            msg = f"a trend needs room for at least 2 samples, not {max_samples}"
            raise DetectionError(msg)
        self.window = window
        self.max_samples = max_samples
        self._points: deque[tuple[float, float]] = deque()
        self._t0 = 0.0
        self._y0 = 0.0
        self._sx = self._sy = self._sxx = self._sxy = self._syy = 0.0
        self._evicted = 0

    def __len__(self) -> int:
        return len(self._points)

    @property
    def points(self) -> list[tuple[float, float]]:
        """A copy of the samples in the window, oldest first."""
        return list(self._points)

    def reset(self) -> None:
        """Forget every sample (a new process: its memory says nothing about the old one's)."""
        self._points.clear()
        self._sx = self._sy = self._sxx = self._sxy = self._syy = 0.0
        self._evicted = 0

    def add(self, t: float, y: float) -> None:
        """Record one sample and drop those older than the window."""
        if not (math.isfinite(t) and math.isfinite(y)):
            msg = f"trend sample must be finite, got t={t!r} y={y!r}"
            raise DetectionError(msg)
        if self._points and t < self._points[-1][0]:
            msg = f"trend sample at t={t} is older than the previous one ({self._points[-1][0]})"
            raise DetectionError(msg)
        if not self._points:
            self._t0, self._y0 = t, y
        self._points.append((t, y))
        self._accumulate(t, y, 1.0)
        horizon = t - self.window
        while self._points[0][0] < horizon or len(self._points) > self.max_samples:
            old_t, old_y = self._points.popleft()
            self._accumulate(old_t, old_y, -1.0)
            self._evicted += 1
        if self._evicted >= len(self._points):
            self._rebase()

    def _accumulate(self, t: float, y: float, sign: float) -> None:
        x = t - self._t0
        v = y - self._y0
        self._sx += sign * x
        self._sy += sign * v
        self._sxx += sign * x * x
        self._sxy += sign * x * v
        self._syy += sign * v * v

    def _rebase(self) -> None:
        self._t0 = self._points[0][0]
        self._y0 = math.fsum(y for _, y in self._points) / len(self._points)
        self._sx = self._sy = self._sxx = self._sxy = self._syy = 0.0
        for t, y in self._points:
            self._accumulate(t, y, 1.0)
        self._evicted = 0

    def fit(self) -> Fit | None:
        """The line through the window; None with fewer than two distinct sample times."""
        if len(self._points) < 2:
            return None
        t_last = self._points[-1][0]
        got = _fit(
            len(self._points),
            self._sx,
            self._sy,
            self._sxx,
            self._sxy,
            self._syy,
            t_last - self._t0,
        )
        if got is None:
            return None
        slope, level, r2 = got
        return Fit(len(self._points), slope, level + self._y0, r2, self._points[0][0], t_last)
