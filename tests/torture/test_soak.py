"""Soak: jittered heartbeats from many services convict no one, and memory stays flat.

Short in `make test`; `make torture` runs the long ones of docs/reliability.md (1,000
services at 100 ms and 10,000 at 1 s, 10 minutes each).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.torture import long_run
from tests.torture.soak import run_soak, slope_per_minute

pytestmark = pytest.mark.integration

SHORT = [pytest.param(200, 100, 20, 15.0, id="200x100ms-15s")]
LONG = [
    pytest.param(1000, 100, 20, 600.0, id="1000x100ms-10min"),
    pytest.param(10000, 1000, 200, 600.0, id="10000x1s-10min"),
]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    ("services", "interval_ms", "jitter_ms", "seconds"), LONG if long_run() else SHORT
)
def test_jittered_heartbeats_raise_no_false_incident(
    tmp_path: Path, services: int, interval_ms: int, jitter_ms: int, seconds: float
) -> None:
    """Every service beats every interval +- jitter: 0 failure.detected, 0 rejected, all heard."""
    result = run_soak(tmp_path, services, interval_ms, jitter_ms, seconds)
    print(result.line())
    beats_expected = services * (seconds - 1) * 1000 / interval_ms
    assert result.accepted > 0.9 * beats_expected
    assert result.sender_late_max_ms < interval_ms, "the sender itself fell behind: no verdict"
    assert [] == result.sentences
    assert 0 == result.rejected
    if long_run():
        assert result.rss_slope_mib_per_min < 0.5


def test_slope_is_least_squares() -> None:
    """The RSS slope is a least-squares fit, in MiB per minute."""
    assert 0.0 == slope_per_minute([(0.0, 5.0), (30.0, 5.0), (60.0, 5.0)])
    assert 2.0 == pytest.approx(slope_per_minute([(0.0, 1.0), (30.0, 2.0), (60.0, 3.0)]))
