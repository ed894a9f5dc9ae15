"""What paramedic's previous run left running, read from the timeline, and what to do with it.

A supervised process outlives a crash (or a planned stop with `keep_running_on_stop`) of
paramedic: the next start re-adopts it instead of starting a second copy. It is identified by
the pid, start time and boot id recorded on `process.spawned` (or `process.adopted`), never
by pid alone, so a recycled pid is left alone. A short-lived command (a recovery step's
program) cannot be re-adopted (its output and exit code went to the run that died), so the
next start ends its process group and says so on the timeline.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from paramedic.core.bus import Published
from paramedic.core.clock import Clock
from paramedic.core.events import Event, ProcessExited
from paramedic.process.events import OrphanEnded
from paramedic.process.identity import ProcessIdentity, kill_group, open_if_same
from paramedic.store.protocol import StoredEvent

__all__ = ["Leftovers", "end_commands", "find_leftovers", "lost_exit"]

Record = Callable[[Event], Awaitable[Published]]

_TRACKED = ("process.spawned", "process.adopted", "process.left_running")


@dataclass(slots=True)
class Leftovers:
    """One service's processes that the timeline says were alive when paramedic stopped."""

    process: ProcessIdentity | None = None
    commands: dict[int, tuple[ProcessIdentity, str]] = field(default_factory=dict)


def _identity(payload: dict[str, object]) -> ProcessIdentity:
    start = payload.get("start_time", 0)
    boot = payload.get("boot_id", "")
    pid = payload["pid"]
    assert isinstance(pid, int)
    return ProcessIdentity(
        pid, start if isinstance(start, int) else 0, boot if isinstance(boot, str) else ""
    )


def find_leftovers(events: list[StoredEvent]) -> Leftovers:
    """The process tracked last with no exit recorded after it, and every recorded command.

    A command needs no end record: one that ended has no live process with its start time,
    so checking each recorded command against /proc is the whole test.
    """
    found = Leftovers()
    for e in events:
        if e.kind in _TRACKED:
            found.process = _identity(e.payload)
        elif e.kind == "process.exited" and found.process is not None:
            if e.payload.get("pid") == found.process.pid:
                found.process = None
        elif e.kind == "command.started":
            found.commands[e.payload["pid"]] = (_identity(e.payload), str(e.payload["label"]))
        elif e.kind == "process.orphan_ended":
            found.commands.pop(e.payload["pid"], None)
            if found.process is not None and e.payload["pid"] == found.process.pid:
                found.process = None
    return found


async def end_commands(
    service: str | None,
    commands: Iterable[tuple[ProcessIdentity, str]],
    clock: Clock,
    record: Record,
) -> int:
    """SIGKILL the group of every recorded command still running (same start time), and
    record each; returns how many were ended."""
    ended = 0
    for identity, label in commands:
        pidfd, _why = open_if_same(identity)
        if pidfd is None:
            continue  # ended on its own, or the pid is someone else's now
        try:
            kill_group(pidfd, identity.pid)
        finally:
            os.close(pidfd)
        ended += 1
        await record(
            OrphanEnded(
                at=clock.now(),
                service=service,
                pid=identity.pid,
                label=label,
                sentence=(
                    f"{label} (pid {identity.pid}) was still running from paramedic's"
                    " previous run, which died before it finished; its output and exit code"
                    " went with that run, so its process group was killed, not re-adopted"
                ),
            )
        )
    return ended


def lost_exit(service: str, identity: ProcessIdentity, why: str, clock: Clock) -> ProcessExited:
    """The exit of a tracked process that is gone (or no longer ours) at the next start."""
    return ProcessExited(
        at=clock.now(),
        service=service,
        pid=identity.pid,
        returncode=None,
        signal=None,
        runtime_s=0.0,
        expected=False,
        note=f"status unknown: at paramedic's start, the recorded pid {why}",
    )
