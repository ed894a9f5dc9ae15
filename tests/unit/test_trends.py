"""The sliding least-squares fit: exact on lines, honest about noise, equal to a direct fit."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paramedic.core.errors import DetectionError
from paramedic.detect.trends import SlidingTrend, fit_points


def test_exact_slope_and_level_on_linear_data() -> None:
    """Samples on a line give back its slope, its value at the last sample and R² 1."""
    trend = SlidingTrend(window=60.0)
    for i in range(31):
        trend.add(1000.0 + i, 5_000_000.0 + 2048.0 * i)
    fit = trend.fit()
    assert fit is not None
    assert 31 == fit.n
    assert math.isclose(2048.0, fit.slope, rel_tol=1e-12)
    assert math.isclose(5_000_000.0 + 2048.0 * 30, fit.level, rel_tol=1e-12)
    assert 1.0 == pytest.approx(fit.r2)
    assert 30.0 == fit.span


def test_old_samples_are_evicted_and_the_fit_follows_the_window() -> None:
    """After the slope changes, once the window has slid past the bend only the new slope counts."""
    trend = SlidingTrend(window=10.0)
    for i in range(50):
        trend.add(float(i), 100.0 * i)  # +100/s
    for i in range(50, 100):
        trend.add(float(i), 5000.0 - 10.0 * (i - 50))  # then -10/s
    fit = trend.fit()
    assert fit is not None
    assert 11 == len(trend)  # t in [89, 99]: a sample exactly window old is kept
    assert (89.0, 99.0) == (fit.t_first, fit.t_last)
    assert -10.0 == pytest.approx(fit.slope)


def test_noisy_flat_series_has_low_r2() -> None:
    """Random noise around a flat level has a small slope and an R² far below a leak's."""
    rng = random.Random(7)
    trend = SlidingTrend(window=300.0)
    for i in range(300):
        trend.add(float(i), 800e6 + rng.gauss(0, 5e6))
    fit = trend.fit()
    assert fit is not None
    assert fit.r2 < 0.1


def test_steady_climb_under_noise_keeps_a_high_r2() -> None:
    """A real leak (1 MiB/s) with 1 MiB of jitter still fits the line well."""
    rng = random.Random(3)
    trend = SlidingTrend(window=300.0)
    for i in range(300):
        trend.add(float(i), 800e6 + 2**20 * i + rng.gauss(0, 2**20))
    fit = trend.fit()
    assert fit is not None
    assert fit.r2 > 0.99
    assert 2**20 == pytest.approx(fit.slope, rel=0.01)


def test_projection_to_a_limit() -> None:
    """Time to the limit is the gap over the slope; none when flat or falling; 0 when past it."""
    trend = SlidingTrend(window=100.0)
    for i in range(11):
        trend.add(float(i), 1000.0 + 10.0 * i)  # level 1100 at t=10, +10/s
    fit = trend.fit()
    assert fit is not None
    assert 90.0 == pytest.approx(fit.projected_time_to(2000.0))
    assert 0.0 == fit.projected_time_to(1000.0)
    falling = SlidingTrend(window=100.0)
    for i in range(11):
        falling.add(float(i), 1000.0 - i)
    fit = falling.fit()
    assert fit is not None
    assert fit.projected_time_to(2000.0) is None


def test_too_few_samples_give_no_fit() -> None:
    """One sample, or samples all at one instant, define no line."""
    trend = SlidingTrend(window=10.0)
    assert trend.fit() is None
    trend.add(1.0, 5.0)
    assert trend.fit() is None
    trend.add(1.0, 6.0)
    assert trend.fit() is None


def test_reset_forgets_everything() -> None:
    """After reset the trend starts over: the old samples play no part."""
    trend = SlidingTrend(window=10.0)
    for i in range(5):
        trend.add(float(i), 1e9 * i)
    trend.reset()
    trend.add(10.0, 7.0)
    trend.add(11.0, 9.0)
    fit = trend.fit()
    assert fit is not None
    assert 2 == fit.n
    assert 2.0 == pytest.approx(fit.slope)


def test_stable_after_days_of_uptime_with_large_values() -> None:
    """Monotonic times near 1e7 s and RSS near 64 GiB still give the exact small slope."""
    trend = SlidingTrend(window=300.0)
    t0, y0 = 9_876_543.0, 64.0 * 2**30
    for i in range(20_000):  # many evictions and rebases
        trend.add(t0 + i * 0.5, y0 + 3.0 * i * 0.5)
    fit = trend.fit()
    assert fit is not None
    assert 3.0 == pytest.approx(fit.slope, rel=1e-9)


@pytest.mark.parametrize(
    ("window", "t", "y"),
    [(0.0, 1.0, 1.0), (-1.0, 1.0, 1.0), (math.inf, 1.0, 1.0)],
)
def test_bad_window_is_refused(window: float, t: float, y: float) -> None:
    """A window that is not a positive finite duration is a DetectionError naming it."""
    with pytest.raises(DetectionError, match="trend window"):
        SlidingTrend(window=window)


def test_time_going_backwards_is_refused() -> None:
    """Samples come from a monotonic clock: an older one is a caller bug, said loudly."""
    trend = SlidingTrend(window=10.0)
    trend.add(5.0, 1.0)
    with pytest.raises(DetectionError, match="older than the previous"):
        trend.add(4.0, 1.0)
    with pytest.raises(DetectionError, match="finite"):
        trend.add(6.0, math.nan)


@settings(max_examples=300, deadline=None)
@given(
    window=st.floats(min_value=0.5, max_value=50.0),
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=5.0),
            st.floats(min_value=-1e9, max_value=1e10),
        ),
        min_size=2,
        max_size=200,
    ),
)
def test_running_fit_equals_direct_fit(window: float, steps: list[tuple[float, float]]) -> None:
    """The O(1) running sums give the same line as a two-pass fit over the window's points.

    Times start near 1e6 (days of monotonic uptime) and values range over 19 orders of
    magnitude. Accuracy is relative to the largest value the running sums have held, which an
    evicted spike leaves behind until the next rebuild (see the module docstring).
    """
    trend = SlidingTrend(window=window)
    t = 1e6
    largest = 1.0
    for dt, y in steps:
        t += dt
        trend.add(t, y)
        largest = max(largest, abs(y))
        expected = fit_points([p for p in trend.points if p[0] >= t - window])
        actual = trend.fit()
        if expected is None or expected.span <= 1e-3 * window:
            continue  # no line, or one through points a rounding error apart: nothing to compare
        assert actual is not None
        assert expected.n == actual.n
        assert expected.slope == pytest.approx(
            actual.slope, rel=1e-6, abs=1e-6 * largest / expected.span
        )
        assert expected.level == pytest.approx(actual.level, rel=1e-6, abs=1e-6 * largest)
        # R² divides by the spread of the values: compare it where that spread is not lost in
        # the rounding of the largest value.
        ys = [p[1] for p in trend.points]
        if max(ys) - min(ys) > 1e-3 * largest:
            assert expected.r2 == pytest.approx(actual.r2, abs=1e-4)
