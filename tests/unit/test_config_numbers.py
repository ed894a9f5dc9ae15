"""Durations and sizes past what a float holds, or written with non-ASCII digits, are located
config errors: a 400-digit `interval` made `paramedic config check` print an OverflowError
traceback, a 400-digit `stop_timeout` passed as infinity, a 400-digit memory limit raised
OverflowError (found while writing the config fuzzer, tests/torture/test_fuzz_parsers.py,
whose duration and size values now include these)."""

from __future__ import annotations

import pytest

from paramedic.config import InvalidConfig, parse_config, parse_duration
from paramedic.config.durations import MAX_DURATION_S
from paramedic.config.resources import parse_size

HUGE = "9" * 400
ENV = {"K": "heartbeat-key-0123456789"}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "heartbeat: {listen: 127.0.0.1:0, key_env: K}\nservices:\n  e:\n"
            f"    process: {{argv: [x]}}\n    heartbeat: {{interval: {HUGE}s, timeout: 1s}}\n",
            ":5:17: services.e.heartbeat.interval: ",
        ),
        (
            f"services:\n  e:\n    process: {{argv: [x], stop_timeout: {HUGE}s}}\n",
            ":3:26: services.e.process.stop_timeout: ",
        ),
        (
            "services:\n  e:\n    process: {argv: [x], stop_timeout: 3651d}\n",
            ":3:26: services.e.process.stop_timeout: ",
        ),
        (
            f"services:\n  e:\n    process: {{argv: [x]}}\n"
            f"    resources: {{memory: {{limit: {HUGE}MiB}}}}\n",
            ":4:26: services.e.resources.memory.limit: ",
        ),
    ],
    ids=["interval-inf", "stop-timeout-inf", "stop-timeout-10y", "memory-limit-inf"],
)
def test_numbers_past_their_range_are_located_errors(text: str, where: str) -> None:
    """Each is an InvalidConfig naming the key, never an OverflowError or an infinity."""
    with pytest.raises(InvalidConfig) as caught:
        parse_config(text, env=ENV)
    assert where in str(caught.value), str(caught.value)


def test_duration_bounds() -> None:
    """Up to MAX_DURATION_S (3650 days) is a duration; past it, or not finite, is not."""
    assert MAX_DURATION_S == parse_duration("3650d")
    for text in (f"{HUGE}s", "3650d1us", "\u0661s"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(text)


def test_size_bounds() -> None:
    """A size is finite and fits 63 bits; Arabic-Indic digits are not digits here."""
    assert 2**40 == parse_size("1TiB")
    for text in (f"{HUGE}B", "9000000TiB", "\u0661MiB"):
        with pytest.raises(ValueError, match="size"):
            parse_size(text)
