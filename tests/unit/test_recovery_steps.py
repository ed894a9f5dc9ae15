"""The `recovery:` config: exactly one action per step, clear errors, the seed's defaults."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from paramedic.config.recovery_plan import RecoveryPlan
from paramedic.core.errors import RecoveryError
from paramedic.recovery.runner import build_step


def error(raw: dict[str, Any]) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(ValidationError) as info:
        RecoveryPlan.model_validate(raw)
    first = info.value.errors()[0]
    return first["loc"], first["msg"]


def test_step_with_two_actions_is_refused_naming_them() -> None:
    """A step giving command and http is refused, with the location and both names."""
    raw = {
        "methods": {
            "hot": {
                "steps": [{"name": "x", "command": {"argv": ["true"]}, "http": {"url": "http://a"}}]
            }
        }
    }
    loc, msg = error(raw)
    assert ("methods", "hot", "steps", 0) == loc
    assert msg.endswith("; got command and http")


def test_step_without_action_and_bad_duration() -> None:
    """No action says 'got none'; a bare number for a timeout asks for a unit."""
    assert error({"methods": {"warm": {"steps": [{"name": "x"}]}}})[1].endswith("got none")
    loc, msg = error(
        {"methods": {"warm": {"steps": [{"name": "x", "timeout": 30, "restart_process": {}}]}}}
    )
    assert (
        ("methods", "warm", "steps", 0, "timeout"),
        "Value error, 30 has no unit; write e.g. 30ms or 30s",
    ) == (loc, msg)


def test_defaults_are_the_seeds_phases_and_windows() -> None:
    """Without config: 2 min at 0x, 5 min at 0.1x, then 1x; windows 60 s / 5 min / 30 min."""
    plan = RecoveryPlan()
    assert [("monitoring_only", 0.0, 120.0), ("reduced", 0.1, 300.0), ("normal", 1.0, None)] == [
        (p.name, p.size_multiplier, p.duration) for p in plan.resumption.phases
    ]
    v = plan.validation
    assert (60.0, 300.0, 1800.0) == (v.immediate_window, v.short_window, v.medium_window)


def test_full_plan_parses() -> None:
    """A plan using every section parses, and each check names its kind."""
    plan = RecoveryPlan.model_validate(
        {
            "methods": {
                "hot": {
                    "steps": [
                        {
                            "name": "restart",
                            "timeout": "10s",
                            "expected": "2s",
                            "restart_process": {},
                        },
                        {"name": "hb", "wait_heartbeat": {}},
                    ]
                },
                "cold": {
                    "steps": [
                        {
                            "name": "promote",
                            "promote_standby": {"command": {"argv": ["promote", "--now"]}},
                        }
                    ]
                },
                "manual": {"runbook": "https://wiki/manual-recovery"},
            },
            "checkpoint": {"path": "/var/lib/trading/checkpoint"},
            "standby": {"check": {"http": {"url": "http://127.0.0.1:1/standby", "method": "GET"}}},
            "volatility": {"check": {"command": {"argv": ["vol"]}}},
            "corruption": {"check": {"command": {"argv": ["fsck-state"]}}},
            "preserve": {"paths": ["/var/log/trading"], "gcore": True},
            "validation": {
                "immediate": [{"name": "proc", "process": {}}],
                "short": [
                    {
                        "name": "lat",
                        "metric": {"url": "http://h/health", "path": "metrics.p99", "below": 10},
                    }
                ],
            },
            "resumption": {
                "phases": [
                    {
                        "name": "watch",
                        "size_multiplier": 0,
                        "duration": "1m",
                        "gate": [{"name": "t", "tcp": {"host": "h", "port": 1}}],
                    },
                    {"name": "full", "size_multiplier": 1},
                ]
            },
        }
    )
    assert plan.methods.hot is not None
    assert ["restart_process", "wait_heartbeat"] == [s.action_kind for s in plan.methods.hot.steps]
    assert "metric" == plan.validation.short[0].kind
    assert "https://wiki/manual-recovery" == plan.methods.manual.runbook


def test_only_last_phase_may_be_endless_and_entry_point_must_import() -> None:
    """A middle phase without duration is refused; a python step that cannot import fails early."""
    _loc, msg = error(
        {
            "resumption": {
                "phases": [{"name": "a", "size_multiplier": 0}, {"name": "b", "size_multiplier": 1}]
            }
        }
    )
    assert "phase a: every phase but the last needs a duration" in msg
    plan = RecoveryPlan.model_validate(
        {
            "methods": {
                "hot": {
                    "steps": [{"name": "custom", "python": {"entry_point": "no_such_pkg.mod:fn"}}]
                }
            }
        }
    )
    assert plan.methods.hot is not None
    with pytest.raises(RecoveryError, match=r"cannot import no_such_pkg\.mod"):
        build_step(plan.methods.hot.steps[0])
