"""Events about processes across a restart of paramedic itself: re-adopted, left running on
a planned stop, ended because they could not be re-adopted, and the short-lived commands
whose identity is recorded so that the next start can end them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from paramedic.core.events import Event, register_event

__all__ = ["CommandStarted", "OrphanEnded", "ProcessAdopted", "ProcessLeftRunning"]


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessAdopted(Event):
    """A supervised process left by paramedic's previous run is supervised again, not
    started a second time."""

    kind: ClassVar[str] = "process.adopted"
    pid: int
    start_time: int
    boot_id: str
    sentence: str
    spawn_id: str = ""

    def summary(self) -> str:
        return f"{self.service}: {self.sentence}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessLeftRunning(Event):
    """On a planned stop, a process with `keep_running_on_stop` was left running for the
    next start to re-adopt."""

    kind: ClassVar[str] = "process.left_running"
    pid: int
    start_time: int
    boot_id: str
    spawn_id: str = ""

    def summary(self) -> str:
        return (
            f"{self.service}: pid {self.pid} left running across paramedic's stop"
            " (keep_running_on_stop); the next start re-adopts it"
        )


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class CommandStarted(Event):
    """A short-lived command (a recovery step, a decision input) started: recorded so that,
    if paramedic dies while it runs, the next start can find it and end it."""

    kind: ClassVar[str] = "command.started"
    pid: int
    start_time: int
    boot_id: str
    label: str

    def summary(self) -> str:
        return f"{self.service}: {self.label} started, pid {self.pid}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class OrphanEnded(Event):
    """A process from paramedic's previous run that cannot be re-adopted was ended."""

    kind: ClassVar[str] = "process.orphan_ended"
    pid: int
    label: str
    sentence: str

    def summary(self) -> str:
        return f"{self.service}: {self.sentence}" if self.service else self.sentence
