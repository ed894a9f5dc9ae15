"""Failure detectors: when does silence become a verdict?

Both detectors are pure arithmetic on monotonic times the caller passes in; they read no
clock and set no timer. Instead each one answers ``deadline()``: the moment it will convict
if nothing more arrives. The heartbeat monitor sets one timer there rather than polling, so
conviction lands on the deadline itself, not on the next poll tick.

``TimeoutDetector`` is the fixed bound operators already reason about ("300 ms = three missed
beats"). ``PhiAccrualDetector`` (Hayashibara et al. 2004, in the shape of Akka's
``PhiAccrualFailureDetector``) learns the arrival distribution and convicts once the silence
is improbable enough, so a quiet network convicts sooner and a noisy one is not paged on.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final, Protocol, runtime_checkable

from paramedic.core.errors import DetectionError
from paramedic.core.text import duration

__all__ = [
    "FailureDetector",
    "PhiAccrualDetector",
    "TimeoutDetector",
]

_LN10: Final = math.log(10.0)
# Akka's logistic approximation of the normal CDF: P(X > t) ~ 1 / (1 + exp(z)),
# z = y * (A + B * y^2) with y the standardised delay (Bowling et al. 2009).
_A: Final = 1.5976
_B: Final = 0.070566
# Running sums drift as values are added and removed; re-summing the window this often keeps
# the drift at rounding level for an amortised cost well under one operation per heartbeat.
_RESUM_EVERY: Final = 1 << 16


def _require(name: str, value: float, *, low: float, inclusive: bool, top: str = "inf") -> None:
    ok = value >= low if inclusive else value > low
    if not ok or math.isnan(value) or math.isinf(value):
        bracket = "[" if inclusive else "("
        msg = f"{name} must be in {bracket}{low:g}, {top}), got {value!r}"
        raise DetectionError(msg)


@runtime_checkable
class FailureDetector(Protocol):
    """What the heartbeat monitor needs from a detector; all times are monotonic seconds."""

    def heartbeat(self, now: float) -> None:
        """A heartbeat arrived at ``now``."""
        ...

    def is_available(self, now: float) -> bool:
        """True while the silence at ``now`` is still plausible (always before any beat)."""
        ...

    def deadline(self) -> float | None:
        """When it convicts if nothing arrives; None until the first heartbeat."""
        ...

    def silence(self, now: float) -> float:
        """Seconds since the last heartbeat (0 before the first)."""
        ...

    def describe(self, now: float) -> str:
        """The rule and its figures at ``now``, for a reason sentence: ``timeout 300 ms``."""
        ...


class TimeoutDetector:
    """Convicts when the silence reaches a fixed ``timeout``."""

    __slots__ = ("_last", "timeout")

    def __init__(self, timeout: float) -> None:
        _require("timeout", timeout, low=0.0, inclusive=False)
        self.timeout = timeout
        self._last: float | None = None

    def heartbeat(self, now: float) -> None:
        self._last = now

    def silence(self, now: float) -> float:
        last = self._last
        return 0.0 if last is None else now - last

    def is_available(self, now: float) -> bool:
        last = self._last
        # Compared against the deadline itself, not the silence, so that a timer set at
        # deadline() always convicts despite rounding in (last + timeout) - last.
        return last is None or now < last + self.timeout

    def deadline(self) -> float | None:
        last = self._last
        return None if last is None else last + self.timeout

    def describe(self, now: float) -> str:
        return f"timeout {duration(self.timeout)}"


class PhiAccrualDetector:
    """Convicts when phi = -log10(P(a heartbeat this late)) reaches ``threshold``.

    The arrival model is a normal distribution fitted to a sliding window of the last
    ``max_sample_size`` inter-arrival intervals, kept as running sums so a heartbeat costs
    O(1). Like Akka, an interval is learnt only while the detector still trusts the service:
    the gap that ends a conviction is an outage, not a sample of normal jitter.

    Because phi rises monotonically with silence and the standardised delay at which it
    crosses ``threshold`` depends only on the threshold, ``deadline()`` is closed-form:
    ``last + mean + acceptable_heartbeat_pause + y_threshold * std``.
    """

    __slots__ = (
        "_intervals",
        "_last",
        "_pushes",
        "_sq_sum",
        "_sum",
        "_y_threshold",
        "acceptable_heartbeat_pause",
        "first_heartbeat_estimate",
        "max_sample_size",
        "min_std_deviation",
        "threshold",
    )

    def __init__(
        self,
        interval: float = 0.1,
        *,
        threshold: float = 8.0,
        max_sample_size: int = 1000,
        min_std_deviation: float = 0.025,
        acceptable_heartbeat_pause: float = 0.0,
        first_heartbeat_estimate: float | None = None,
    ) -> None:
        _require("interval", interval, low=0.0, inclusive=False)
        _require("threshold", threshold, low=0.0, inclusive=False)
        if max_sample_size < 2:
            msg = f"max_sample_size must be in [2, inf), got {max_sample_size!r}"
            raise DetectionError(msg)
        _require("min_std_deviation", min_std_deviation, low=0.0, inclusive=False)
        _require("acceptable_heartbeat_pause", acceptable_heartbeat_pause, low=0.0, inclusive=True)
        estimate = interval if first_heartbeat_estimate is None else first_heartbeat_estimate
        _require("first_heartbeat_estimate", estimate, low=0.0, inclusive=False)
        self.threshold = threshold
        self.max_sample_size = max_sample_size
        self.min_std_deviation = min_std_deviation
        self.acceptable_heartbeat_pause = acceptable_heartbeat_pause
        self.first_heartbeat_estimate = estimate
        self._y_threshold = _y_for_phi(threshold)
        self._last: float | None = None
        self._pushes = 0
        self._intervals: deque[float] = deque()
        self._sum = 0.0
        self._sq_sum = 0.0
        # Akka seeds the history with mean +- mean/4 so that the first silence is judged
        # against a plausible spread instead of a single sample with no variance.
        spread = estimate / 4.0
        self._push(estimate - spread)
        self._push(estimate + spread)

    @property
    def samples(self) -> int:
        """Intervals currently in the window (the two seeds count until pushed out)."""
        return len(self._intervals)

    @property
    def mean(self) -> float:
        """Mean learnt inter-arrival interval, in seconds."""
        return self._sum / len(self._intervals)

    @property
    def std_deviation(self) -> float:
        """Learnt standard deviation, floored at ``min_std_deviation``."""
        n = len(self._intervals)
        mean = self._sum / n
        variance = self._sq_sum / n - mean * mean
        std = math.sqrt(variance) if variance > 0.0 else 0.0
        return std if std > self.min_std_deviation else self.min_std_deviation

    def heartbeat(self, now: float) -> None:
        last = self._last
        if last is not None and now < self._crossing(last):
            self._push(now - last)
        self._last = now

    def silence(self, now: float) -> float:
        last = self._last
        return 0.0 if last is None else now - last

    def phi(self, now: float) -> float:
        """Suspicion at ``now``: 1 means a 10% chance the service is fine, 8 means 1e-8."""
        last = self._last
        if last is None:
            return 0.0
        mean = self._sum / len(self._intervals) + self.acceptable_heartbeat_pause
        y = (now - last - mean) / self.std_deviation
        z = y * (_A + _B * y * y)
        # log10(1 + e^z), written so that neither branch overflows or loses the tail.
        if z > 0.0:
            return (z + math.log1p(math.exp(-z))) / _LN10
        return math.log1p(math.exp(z)) / _LN10

    def is_available(self, now: float) -> bool:
        # Equivalent to phi(now) < threshold (phi rises monotonically with silence), but
        # judged against the very float deadline() returns, so a timer set there convicts.
        last = self._last
        return last is None or now < self._crossing(last)

    def deadline(self) -> float | None:
        last = self._last
        return None if last is None else self._crossing(last)

    def describe(self, now: float) -> str:
        phi = self.phi(now)
        shown, bound = f"{phi:.1f}", f"{self.threshold:.1f}"
        # At the deadline itself phi equals the threshold; "8.0 > 8.0" would read as a bug.
        op = "<" if self.is_available(now) else ">" if float(shown) > float(bound) else ">="
        return f"phi {shown} {op} {bound}"

    def _crossing(self, last: float) -> float:
        # Inlined mean and floored deviation: this runs on every heartbeat.
        n = len(self._intervals)
        mean = self._sum / n
        variance = self._sq_sum / n - mean * mean
        std = math.sqrt(variance) if variance > 0.0 else 0.0
        if std < self.min_std_deviation:
            std = self.min_std_deviation
        return last + mean + self.acceptable_heartbeat_pause + self._y_threshold * std

    def _push(self, interval: float) -> None:
        intervals = self._intervals
        if len(intervals) >= self.max_sample_size:
            old = intervals.popleft()
            self._sum -= old
            self._sq_sum -= old * old
        intervals.append(interval)
        self._sum += interval
        self._sq_sum += interval * interval
        self._pushes += 1
        if self._pushes % _RESUM_EVERY == 0:
            self._sum = math.fsum(intervals)
            self._sq_sum = math.fsum(x * x for x in intervals)


def _y_for_phi(phi: float) -> float:
    """The standardised delay y at which phi(y) == ``phi``: invert log10 then the cubic."""
    # phi = log10(1 + e^z)  =>  z = ln(10^phi - 1), computed without overflow for big phi.
    z = phi * _LN10 + math.log(-math.expm1(-phi * _LN10))
    # B y^3 + A y - z = 0 has one real root (the cubic is strictly increasing): Cardano.
    p = _A / _B
    q = -z / _B
    root = math.sqrt(q * q / 4.0 + p**3 / 27.0)
    return math.cbrt(-q / 2.0 + root) + math.cbrt(-q / 2.0 - root)
