"""Ids: a time-ordered, fixed-width base32 string, unique within a millisecond."""

from __future__ import annotations

import random
import re

import pytest

from paramedic.core import ids

_CROCKFORD = re.compile(r"^[0-9a-hjkmnp-tv-z]{26}$")


def test_ids_have_the_prefix_and_26_crockford_digits() -> None:
    made = ids.new_id("ntf_")
    assert made.startswith("ntf_")
    assert _CROCKFORD.match(made.removeprefix("ntf_")), made


def test_ids_sort_by_the_millisecond_they_were_made_in(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_764_000_000_000_000_000]
    monkeypatch.setattr(ids.time, "time_ns", lambda: now[0])
    made = []
    for _ in range(50):
        made.append(ids.new_id())
        now[0] += 1_000_000  # one millisecond
    assert made == sorted(made)
    assert 50 == len({m[:10] for m in made})  # the time part changed every time


def test_ids_made_in_one_millisecond_are_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_764_000_000_000_000_000)
    made = {ids.new_id() for _ in range(10_000)}
    assert 10_000 == len(made)
    assert 1 == len({m[:10] for m in made})


def test_the_unrolled_random_part_matches_the_general_encoder() -> None:
    rng = random.Random(7)
    for value in [0, 1, (1 << 80) - 1, *(rng.getrandbits(80) for _ in range(500))]:
        assert ids._b32(value, 16) == ids._b32_16(value)
