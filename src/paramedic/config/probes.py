"""Probe configuration, shaped like a Kubernetes probe spec so operators need not learn a new one.

A probe names exactly one action (`http`, `tcp` or `command`, the vocabulary of
`config/checks.py` that recovery steps and validation checks share) and the k8s timing knobs
(`initial_delay`, `period`, `timeout`, `success_threshold`, `failure_threshold`). Two choices
differ from Kubernetes on purpose:

- `timeout` may not exceed `period`. Kubernetes tolerates it by delaying the next probe, which
  silently stretches detection time beyond `failure_threshold x period`; for a trading engine
  that bound is the point of the probe, so a config that breaks it is refused.
- Defaults are sub-second (`period: 1s`, `timeout: 500ms`): a 10 s default period is a
  30 s blind spot at `failure_threshold: 3`.
- Without a startup probe, a liveness or readiness probe that has not passed once since the
  process (re)started is booting, not failing: its failures are held for `startup_grace`
  (default `DEFAULT_STARTUP_GRACE`, 30 s; `0s` turns it off). Kubernetes would convict a slow
  boot after `failure_threshold x period` (3 s by default), the steady-state detection bound,
  which is no measure of how long an engine takes to load its reference data and connect.
  A crash during the boot is still seen at once (the process watchdog), and a startup probe,
  when there is one, is the grace instead (it gates the other probes).

`HealthReading` (one per service) says which failure kind a component of the seed's `/health`
JSON points to when it reports `false`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from paramedic.config.checks import CommandCheck, HttpProbeCheck, TcpCheck
from paramedic.config.types import (
    Duration,
    PositiveDuration,
    StrictModel,
    check_name,
    one_of,
    repeated,
)
from paramedic.core.failures import FailureKind
from paramedic.core.text import duration

__all__ = [
    "ACTION_KEYS",
    "DEFAULT_STARTUP_GRACE",
    "HealthReading",
    "ProbeConfig",
    "ProbeList",
    "ProbeRole",
]

ProbeRole = Literal["liveness", "readiness", "startup"]
DEFAULT_STARTUP_GRACE = 30.0
"""Seconds a liveness/readiness probe may fail after a (re)start before it has passed once."""
ACTION_KEYS: tuple[str, ...] = ("http", "tcp", "command")


class ProbeConfig(StrictModel):
    """One probe of one service, with Kubernetes timing semantics (see the module docstring)."""

    name: str
    role: ProbeRole
    http: HttpProbeCheck | None = None
    tcp: TcpCheck | None = None
    command: CommandCheck | None = None
    initial_delay: Duration = 0.0
    period: PositiveDuration = 1.0
    timeout: PositiveDuration = 0.5
    success_threshold: int = Field(default=1, ge=1)
    failure_threshold: int = Field(default=3, ge=1)
    startup_grace: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_action(cls, data: Any) -> Any:
        """Pick the action by which key is present, and derive a default name from it."""
        data = one_of(data, ACTION_KEYS, "probe action")
        if (
            isinstance(data, dict)
            and data.get("name") is None
            and isinstance(data.get("role"), str)
        ):
            action = next(key for key in ACTION_KEYS if data.get(key) is not None)
            data = {**data, "name": f"{data['role']}-{action}"}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name("probe", value)

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float, info: ValidationInfo) -> float:
        period = info.data.get("period")
        if period is not None and value > period:
            msg = (
                f"must not exceed period ({duration(period)}); got"
                f" {duration(value)}: a probe still running when the next is due"
                " would stretch detection time"
            )
            raise ValueError(msg)
        return value

    @field_validator("success_threshold")
    @classmethod
    def _success_threshold(cls, value: int, info: ValidationInfo) -> int:
        role = info.data.get("role")
        if role in ("liveness", "startup") and value != 1:
            msg = f"must be 1 for a {role} probe (as in Kubernetes); got {value}"
            raise ValueError(msg)
        return value

    @field_validator("startup_grace")
    @classmethod
    def _startup_grace(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("role") == "startup":
            msg = "a startup probe has no startup_grace: its failure_threshold x period is one"
            raise ValueError(msg)
        return value

    @property
    def grace(self) -> float:
        """The startup grace in seconds (`startup_grace`, else the default)."""
        return DEFAULT_STARTUP_GRACE if self.startup_grace is None else self.startup_grace

    @property
    def action(self) -> HttpProbeCheck | TcpCheck | CommandCheck:
        """The one action given; validation guarantees there is exactly one."""
        action = self.http or self.tcp or self.command
        assert action is not None
        return action


def _unique(probes: list[ProbeConfig]) -> list[ProbeConfig]:
    if dupes := repeated(p.name for p in probes):
        msg = (
            f"probe names must be unique per service; repeated: {', '.join(dupes)}"
            " (give each probe a `name:`)"
        )
        raise ValueError(msg)
    startups = [p.name for p in probes if p.role == "startup"]
    if len(startups) > 1:
        msg = f"at most one startup probe per service; got {', '.join(startups)}"
        raise ValueError(msg)
    graced = [p.name for p in probes if p.startup_grace is not None]
    if startups and graced:
        msg = (
            f"startup_grace on {', '.join(graced)} does nothing: the startup probe"
            f" {startups[0]} gates the other probes (drop one or the other)"
        )
        raise ValueError(msg)
    return probes


ProbeList = Annotated[list[ProbeConfig], AfterValidator(_unique)]
"""A service's probes: names unique, at most one startup probe (it gates the others)."""


def _default_components() -> dict[str, FailureKind]:
    return {
        "exchange": "network_partition",
        "market_data": "network_partition",
        "database": "db_connection_loss",
        "orders": "degradation",
        "risk": "degradation",
    }


class HealthReading(StrictModel):
    """How a `/health` body's `components` map to failure kinds, per service."""

    components: dict[str, FailureKind] = Field(default_factory=_default_components)
    default_kind: FailureKind = "degradation"

    def kind_for(self, component: str) -> FailureKind:
        """Unknown components still count: a new component must not fail silently."""
        return self.components.get(component, self.default_kind)
