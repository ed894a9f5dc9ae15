"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.runner import RunningParamedic


@pytest.fixture
def running() -> Iterator[list[RunningParamedic]]:
    """`paramedic run` processes a test started: each ended after the test (SIGTERM first)."""
    started: list[RunningParamedic] = []
    yield started
    for p in started:
        p.ensure_dead()
