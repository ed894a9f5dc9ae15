"""Process events: a supervised process started, ended, was re-adopted after a restart of
paramedic, left running on a planned stop, or attached to without being started by us; and
the short-lived commands whose identity is recorded so that the next start can end them.

Detection (the watchdog), recovery and the runtime all read them, so they live in core. Their
`kind` strings and payloads are stored (re-adoption reads them back after a crash): they never
change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from paramedic.core.events import Event, register_event
from paramedic.core.text import duration

__all__ = [
    "CommandStarted",
    "OrphanEnded",
    "ProcessAdopted",
    "ProcessAttached",
    "ProcessExited",
    "ProcessLeftRunning",
    "ProcessSpawned",
]


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSpawned(Event):
    """A supervised process was started by paramedic."""

    kind: ClassVar[str] = "process.spawned"
    pid: int
    argv: tuple[str, ...]
    # With the pid, the process's identity for re-adoption after a crash of paramedic:
    # /proc/<pid>/stat start time and the boot id (0 and "" in rows from older versions).
    start_time: int = 0
    boot_id: str = ""
    spawn_id: str = ""

    def summary(self) -> str:
        return f"{self.service}: process started, pid {self.pid}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessExited(Event):
    """A supervised process ended. `signal` is set when it was killed by one."""

    kind: ClassVar[str] = "process.exited"
    pid: int
    returncode: int | None
    signal: str | None
    runtime_s: float
    expected: bool
    # Set when the status cannot be known (a re-adopted process is not our child to reap).
    note: str = ""

    def summary(self) -> str:
        how = f"killed by {self.signal}" if self.signal else f"exited with code {self.returncode}"
        if self.note:
            how = f"exited ({self.note})"
            if self.runtime_s == 0:  # found gone at a start: nobody saw it run or end
                return f"{self.service}: pid {self.pid} {how}"
        why = "(stopped by paramedic)" if self.expected else "unexpectedly"
        return f"{self.service}: pid {self.pid} {how} {why} after {duration(self.runtime_s)}"


@register_event
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessAttached(Event):
    """paramedic started watching a process it did not start (by pid or pid file)."""

    kind: ClassVar[str] = "process.attached"
    pid: int
    source: str

    def summary(self) -> str:
        return f"{self.service}: watching pid {self.pid} ({self.source}), not started by paramedic"


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
