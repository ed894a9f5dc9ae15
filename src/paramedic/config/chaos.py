"""Chaos hooks: how a drill injects a failure that paramedic cannot cause by itself.

A process paramedic supervises can be crashed (SIGKILL) and hung (SIGSTOP) without help. A
leak, added latency, a lost exchange connection, a corrupt checkpoint or a lagging standby
live inside the service: its config names, per kind, the request or program that causes it,
in the check kit's own vocabulary (`http:` is a call, POST by default; `command:` is exec'd
without a shell), so an operator who wrote a recovery step can write a hook.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import model_validator

from paramedic.config.checks import CommandCheck, HttpCall
from paramedic.config.types import PositiveDuration, StrictModel, one_of

__all__ = ["DRILL_KINDS", "ChaosConfig", "ChaosHook", "DrillKind", "hook_key"]

DrillKind = Literal[
    "crash", "hang", "leak", "latency", "disconnect", "corrupt-checkpoint", "standby-lag"
]
DRILL_KINDS: tuple[str, ...] = DrillKind.__args__  # type: ignore[attr-defined]


def hook_key(kind: str) -> str:
    """The config key of a drill kind (`corrupt-checkpoint` -> `corrupt_checkpoint`)."""
    return kind.replace("-", "_")


class ChaosHook(StrictModel):
    """One way to cause a failure: exactly one of an HTTP call or a program."""

    http: HttpCall | None = None
    command: CommandCheck | None = None
    timeout: PositiveDuration = 10.0

    _choices: ClassVar[tuple[str, ...]] = ("http", "command")

    @model_validator(mode="before")
    @classmethod
    def _one(cls, data: Any) -> Any:
        return one_of(data, cls._choices, "chaos hook")


class ChaosConfig(StrictModel):
    """A service's chaos hooks, one per drill kind it supports (crash and hang of a process
    paramedic started need none; a hook given for them is used instead of the signal)."""

    crash: ChaosHook | None = None
    hang: ChaosHook | None = None
    leak: ChaosHook | None = None
    latency: ChaosHook | None = None
    disconnect: ChaosHook | None = None
    corrupt_checkpoint: ChaosHook | None = None
    standby_lag: ChaosHook | None = None

    def hook(self, kind: str) -> ChaosHook | None:
        found: ChaosHook | None = getattr(self, hook_key(kind), None)
        return found
