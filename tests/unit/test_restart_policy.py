"""Restart planning: policies, capped exponential backoff with jitter, reset, burst limit."""

from __future__ import annotations

import random

import pytest

from paramedic.core.errors import DetectionError
from paramedic.detect.restart_policy import Backoff, RestartPlanner
from paramedic.process.managed import ExitStatus


def crash(
    runtime: float = 1.0,
    *,
    code: int | None = None,
    sig: str | None = "SIGKILL",
    expected: bool = False,
) -> ExitStatus:
    return ExitStatus(
        pid=1, returncode=code, signal=sig, started_mono=0.0, ended_mono=runtime, expected=expected
    )


def test_first_restart_is_immediate_then_backoff_doubles_to_the_cap() -> None:
    """Restart 1 has no delay; then 0.1, 0.2, 0.4 ... capped at max (no jitter here)."""
    planner = RestartPlanner(
        "always", Backoff(initial=0.1, max=0.5, factor=2, jitter=0), burst=100, window=1e9
    )
    delays = [planner.decide(crash(), float(i)).delay for i in range(6)]
    assert [0.0, 0.1, 0.2, 0.4, 0.5, 0.5] == delays


def test_jitter_stays_within_its_band() -> None:
    """With 20% jitter each delay lies within +/-20% of the base and below the cap."""
    planner = RestartPlanner(
        "always",
        Backoff(initial=1.0, max=8.0, jitter=0.2),
        burst=1000,
        window=1e9,
        rng=random.Random(7),
    )
    planner.decide(crash(), 0.0)
    for i in range(1, 200):
        base = min(8.0, 1.0 * 2 ** min(i - 1, 10))
        delay = planner.decide(crash(), float(i)).delay
        assert base * 0.8 <= delay <= min(8.0, base * 1.2)


def test_stable_run_resets_the_backoff() -> None:
    """A process that ran longer than stable_after restarts immediately again."""
    planner = RestartPlanner(
        "always", Backoff(initial=1.0, jitter=0, stable_after=60), burst=100, window=1e9
    )
    assert [0.0, 1.0, 2.0] == [planner.decide(crash(), float(i)).delay for i in range(3)]
    assert 0.0 == planner.decide(crash(runtime=61.0), 10.0).delay


def test_burst_limit_gives_up_on_the_sixth_crash_in_the_window() -> None:
    """The seed's rule: 5 restarts in 300 s, then give up and call a human."""
    planner = RestartPlanner("always", burst=5, window=300.0)
    actions = [planner.decide(crash(), 10.0 * i).action for i in range(6)]
    assert ["restart"] * 5 + ["give_up"] == actions
    later = planner.decide(crash(), 10.0 + 301.0)
    assert "restart" == later.action  # the oldest restarts have left the window


@pytest.mark.parametrize(
    ("policy", "status", "forced", "action"),
    [
        ("on-failure", crash(code=0, sig=None), False, "leave"),
        ("on-failure", crash(code=3, sig=None), False, "restart"),
        ("always", crash(code=0, sig=None), False, "restart"),
        ("never", crash(), False, "leave"),
        ("always", crash(expected=True), False, "leave"),
        ("on-failure", crash(expected=True, sig="SIGKILL"), True, "restart"),
    ],
)
def test_policies(policy: str, status: ExitStatus, forced: bool, action: str) -> None:
    """always / on-failure / never, a stop asked by paramedic, and a hung process it killed."""
    planner = RestartPlanner(policy)  # type: ignore[arg-type]
    assert action == planner.decide(status, 0.0, forced=forced).action


def test_bad_parameters_name_themselves() -> None:
    """Nonsense settings are refused with the parameter named."""
    with pytest.raises(DetectionError, match="jitter"):
        Backoff(jitter=1.5)
    with pytest.raises(DetectionError, match="burst"):
        RestartPlanner(burst=0)
