"""The pieces every config section shares: names, positive durations, zones, choices."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from paramedic.config.types import (
    PositiveDuration,
    StrictModel,
    TimeZoneName,
    check_name,
    one_of,
    repeated,
)


class Section(StrictModel):
    every: PositiveDuration = 1.0
    zone: TimeZoneName = "UTC"


def test_a_positive_duration_refuses_zero_and_names_the_field() -> None:
    assert 0.25 == Section.model_validate({"every": "250ms"}).every
    with pytest.raises(ValidationError) as info:
        Section.model_validate({"every": "0s"})
    [error] = info.value.errors()
    assert ("every",) == error["loc"]
    assert "must be greater than 0" in error["msg"]


def test_a_time_zone_must_be_known() -> None:
    assert "America/New_York" == Section.model_validate({"zone": "America/New_York"}).zone
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        Section.model_validate({"zone": "Mars/Olympus"})


def test_names_are_short_lower_case_words() -> None:
    assert "engine-1.a_b" == check_name("service", "engine-1.a_b")
    for bad in ("", "-engine", "Engine", "a" * 65, "eng ine"):
        with pytest.raises(ValueError, match=f"service name {bad!r} must be 1-64 characters"):
            check_name("service", bad)


def test_repeated_lists_each_value_given_twice_once_sorted() -> None:
    assert ["a", "c"] == repeated(["c", "a", "b", "c", "a", "c"])
    assert [] == repeated(["x", "y"])


def test_one_of_names_what_was_given_and_what_may_be() -> None:
    keys = ("http", "tcp", "command")
    assert {"tcp": {}} == one_of({"tcp": {}}, keys, "probe action")
    assert "not a mapping" == one_of("not a mapping", keys, "probe action")
    with pytest.raises(ValueError, match=r"of http, tcp or command; got http and tcp$"):
        one_of({"http": {}, "tcp": {}}, keys, "probe action")
    with pytest.raises(ValueError, match=r"give exactly one check of left or right; got none$"):
        one_of({"left": None}, ("left", "right"), "check")
