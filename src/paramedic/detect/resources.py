"""Slow failures: memory leaks, full disks, CPU held high, metrics held beyond a bound.

A crash is seen in a millisecond; these take minutes to hours (seed 1.4), and the useful
thing to say about them is *how long is left*: "reaches the 2 GiB limit in 4 h 41 min" lets
the recovery side schedule a restart for the quiet end of the session instead of paging
someone now. Each detector keeps one verdict and emits a `Signal` only when it changes, so
the sink sees one line per conviction and one per recovery, never a stream per sample.

The sampling that feeds them lives in `resource_monitor.py`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import partial

from paramedic.config.resources import (
    DiskCheck,
    MemoryConfig,
    format_size,
)
from paramedic.core.errors import DetectionError
from paramedic.core.text import duration
from paramedic.detect.signals import FailureKind, Signal, SignalSink
from paramedic.detect.trends import Fit, SlidingTrend

__all__ = [
    "DiskDetector",
    "MemoryLeakDetector",
    "SustainedThreshold",
    "Verdict",
]

log = logging.getLogger(__name__)


def _num(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


class Verdict:
    """One detector's current verdict; a Signal goes to the sink only when it flips.

    A reason may be given as a callable, formatted only when read or signalled: most samples
    change nothing, and building sentences was most of a sample's cost.
    """

    def __init__(self, service: str, source: str, kind: FailureKind, sink: SignalSink) -> None:
        self.service = service
        self.source = source
        self.kind: FailureKind = kind
        self._sink = sink
        self.failed = False
        self._reason: str | Callable[[], str] = "no verdict yet"

    @property
    def reason(self) -> str:
        """The sentence behind the current verdict."""
        if not isinstance(self._reason, str):
            self._reason = self._reason()
        return self._reason

    def _set(self, failed: bool, reason: str | Callable[[], str], at: float) -> None:
        self._reason = reason
        if failed == self.failed:
            return
        self.failed = failed
        self._sink(
            Signal(
                service=self.service,
                source=self.source,
                ok=not failed,
                reason=self.reason,
                at=at,
                kind=self.kind if failed else None,
            )
        )

    def clear(self, reason: str, at: float) -> None:
        """Back to ok because what was watched is gone (new process): no evidence left."""
        self._set(False, reason, at)


class MemoryLeakDetector(Verdict):
    """RSS trend of one process; convicts a steady climb that reaches `limit` too soon.

    Once convicted it stays so until growth drops below half of `min_slope` or the limit
    moves beyond twice `warn_within`: a leak whose fitted slope wobbles around the threshold
    must not flap the verdict every sample.
    """

    hysteresis = 2.0

    def __init__(self, service: str, config: MemoryConfig, sink: SignalSink) -> None:
        super().__init__(service, "resource:memory", "memory_leak", sink)
        self.config = config
        self.trend = SlidingTrend(config.window)
        self.last_fit: Fit | None = None

    def observe(self, rss: float, at: float) -> None:
        """One RSS reading (bytes) at monotonic time `at`."""
        if rss < 0:
            msg = f"RSS cannot be negative ({rss})"
            raise DetectionError(msg)
        self.trend.add(at, rss)
        fit = self.trend.fit()
        self.last_fit = fit
        if fit is None or fit.n < self.config.min_samples or fit.span < self.config.window / 2:
            if not self.failed:  # not enough evidence yet: keep the verdict we have
                self._reason = f"collecting samples ({len(self.trend)} so far)"
            return
        failed, case = self._judge(fit, rss)
        self._set(failed, partial(self._sentence, case, fit, rss), at)

    def reset(self, reason: str, at: float) -> None:
        """A new (or no) process: its memory says nothing about the old one's trend."""
        self.trend.reset()
        self.last_fit = None
        self.clear(reason, at)

    def _judge(self, fit: Fit, rss: float) -> tuple[bool, str]:
        cfg = self.config
        min_slope, warn = cfg.min_slope, cfg.warn_within
        if self.failed:
            min_slope, warn = min_slope / self.hysteresis, warn * self.hysteresis
        if rss >= cfg.limit:
            return True, "over"
        if fit.slope <= 0 or fit.slope < min_slope:
            return False, "steady"
        if not self.failed and fit.r2 < cfg.min_r2:
            return False, "noisy"
        eta = fit.projected_time_to(cfg.limit)
        if eta is None or eta > warn:
            return False, "far"
        return True, "leak"

    def _sentence(self, case: str, fit: Fit, rss: float) -> str:
        cfg = self.config
        rate = f"{format_size(fit.slope * 60)}/min"
        limit = format_size(cfg.limit)
        if case == "over":
            growth = f", growing {rate} (R² {fit.r2:.2f})" if fit.slope > 0 else ""
            return f"RSS {format_size(rss)} is over the limit {limit}{growth}"
        if case == "steady":
            return (
                f"RSS {format_size(rss)} steady ({rate} over {duration(fit.span)},"
                f" under the {format_size(cfg.min_slope * 60)}/min worth watching)"
            )
        if case == "noisy":
            return (
                f"RSS {format_size(rss)} noisy without a clear trend"
                f" ({rate}, R² {fit.r2:.2f} < {cfg.min_r2:g})"
            )
        eta = fit.projected_time_to(cfg.limit)
        when = "never" if eta is None else f"in {duration(eta)}"
        trend = f"RSS {format_size(rss)} growing {rate} (R² {fit.r2:.2f});"
        if case == "far":
            return (
                f"{trend} reaches limit {limit} {when},"
                f" beyond the {duration(cfg.warn_within)} warning"
            )
        return f"{trend} reaches limit {limit} {when}"


class DiskDetector(Verdict):
    """Free space on one filesystem against `min_free` (a percentage or a size)."""

    def __init__(self, service: str, check: DiskCheck, sink: SignalSink) -> None:
        super().__init__(service, f"resource:disk:{check.path}", "disk_full", sink)
        self.check = check

    def observe(self, total: int, free: int, at: float) -> None:
        """One reading of the filesystem: sizes in bytes, `free` as available to the service."""
        if total <= 0 or free < 0:
            msg = f"disk {self.check.path}: impossible usage total={total} free={free}"
            raise DetectionError(msg)
        percent = 100.0 * free / total
        need_pct, need_bytes = self.check.min_free_percent, self.check.min_free_bytes
        path = self.check.path
        if need_pct is not None:
            failed = percent < need_pct
            reason = (
                f"disk {path} {percent:.1f}% free, {format_size(free)}"
                f" of {format_size(total)} (min {self.check.min_free})"
            )
        else:
            assert need_bytes is not None
            failed = free < need_bytes
            reason = (
                f"disk {path} {format_size(free)} free, {percent:.1f}%"
                f" of {format_size(total)} (min {format_size(need_bytes)})"
            )
        self._set(failed, reason, at)


class SustainedThreshold(Verdict):
    """A value beyond a bound at every sample for `hold` seconds; back within clears it.

    "Continuously" is judged on the samples we get: one sample back within the bound
    restarts the count, so a latency spike that comes and goes is never convicted.
    """

    def __init__(
        self,
        service: str,
        source: str,
        *,
        label: str,
        bound: float,
        above: bool,
        hold: float,
        kind: FailureKind,
        sink: SignalSink,
        unit: str = "",
    ) -> None:
        if hold < 0 or not math.isfinite(bound):
            msg = f"{label}: bound must be finite and hold >= 0, got {bound!r} / {hold!r}"
            raise DetectionError(msg)
        super().__init__(service, source, kind, sink)
        self.label, self.bound, self.above, self.hold, self.unit = label, bound, above, hold, unit
        self.since: float | None = None

    def observe(self, value: float, at: float) -> None:
        """One reading of the watched value at monotonic time `at`."""
        beyond = value > self.bound if self.above else value < self.bound
        if not beyond:
            self.since = None
            self._set(False, partial(self._sentence, value, None), at)
            return
        if self.since is None:
            self.since = at
        held = at - self.since
        if held >= self.hold:
            self._set(True, partial(self._sentence, value, held), at)
        elif not self.failed:
            self._reason = partial(self._sentence, value, held)

    def _sentence(self, value: float, held: float | None) -> str:
        shown, bound = f"{_num(value)}{self.unit}", f"{_num(self.bound)}{self.unit}"
        if held is None:
            return f"{self.label} {shown} back {'under' if self.above else 'over'} {bound}"
        op = ">" if self.above else "<"
        text = f"{self.label} {shown} {op} {bound} for {duration(held)}"
        return text if held >= self.hold else f"{text}, not yet {duration(self.hold)}"

    def reset(self, reason: str, at: float) -> None:
        self.since = None
        self.clear(reason, at)
