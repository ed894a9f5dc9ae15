"""The one duration formatter and the one-line squash every sentence uses."""

from __future__ import annotations

import pytest

from paramedic.config.durations import parse_duration
from paramedic.core.text import duration, one_line


@pytest.mark.parametrize(
    ("seconds", "spelled"),
    [
        (0.0, "0 s"),
        (0.00025, "0.25 ms"),
        (0.0123, "12.3 ms"),
        (0.3124, "312 ms"),
        (0.9996, "1 s"),  # rounds up into the next unit, never "1e+03 ms"
        (1.0, "1 s"),
        (1.234, "1.23 s"),
        (4.5, "4.5 s"),
        (45.0, "45 s"),
        (90.0, "1 min 30 s"),
        (150.0, "2 min 30 s"),
        (720.0, "12 min"),
        (4 * 3600 + 41 * 60, "4 h 41 min"),
        (3 * 86400 + 7200, "3 d 2 h"),
        (-0.05, "-50 ms"),
    ],
)
def test_duration_reads_at_a_glance(seconds: float, spelled: str) -> None:
    """Three significant digits below a minute, whole units above it."""
    assert spelled == duration(seconds)


@pytest.mark.parametrize(
    ("written", "spelled"),
    [
        ("100ms", "100 ms"),
        ("5s", "5 s"),
        ("2m", "2 min"),
        ("1h", "1 h"),
        ("1h30m", "1 h 30 min"),
        ("250us", "0.25 ms"),
    ],
)
def test_config_durations_are_spelled_back_exactly(written: str, spelled: str) -> None:
    """A value from the config appears in a message with nothing rounded away."""
    assert spelled == duration(parse_duration(written))


def test_one_line_squashes_and_bounds() -> None:
    """Whitespace runs become one space; a long text ends in an ellipsis at the limit."""
    assert "a b c" == one_line(" a\n  b\tc ")
    assert "x" * 7 + "..." == one_line("x" * 20, limit=10)
