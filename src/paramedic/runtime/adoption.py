"""What paramedic's previous run left running, read from the timeline, and what to do with it.

A supervised process outlives a crash (or a planned stop with `keep_running_on_stop`) of
paramedic: the next start re-adopts it instead of starting a second copy. It is identified by
the pid, start time and boot id recorded on `process.spawned` (or `process.adopted`), never
by pid alone, so a recycled pid is left alone. A short-lived command (a recovery step's
program) cannot be re-adopted (its output and exit code went to the run that died), so the
next start ends its process group and says so on the timeline.

A child spawned in the instant before its `process.spawned` commit has no record; it is found
by its environment instead: the supervisor token (a hash of the store's path) and the spawn id
every child is given, on a session leader (our children start their own session).
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from paramedic.core.clock import Clock
from paramedic.core.contracts import Record
from paramedic.core.events import Event
from paramedic.core.process_events import (
    CommandStarted,
    OrphanEnded,
    ProcessAdopted,
    ProcessExited,
    ProcessLeftRunning,
    ProcessSpawned,
)
from paramedic.process.identity import ProcessIdentity, identify, kill_group, open_if_same
from paramedic.process.managed import SPAWN_ID_ENV

__all__ = [
    "SUPERVISOR_ENV",
    "Leftovers",
    "Unrecorded",
    "end_commands",
    "find_leftovers",
    "lost_exit",
    "pick_unrecorded",
    "scan_unrecorded",
    "supervisor_token",
]

# In every supervised child's environment: which paramedic (by its store) started it.
SUPERVISOR_ENV = "PARAMEDIC_SUPERVISOR"


@dataclass(slots=True)
class Leftovers:
    """One service's processes that the timeline says were alive when paramedic stopped."""

    process: ProcessIdentity | None = None
    spawn_id: str = ""
    spawn_ids: set[str] = field(default_factory=set)  # every spawn the timeline knows
    commands: dict[int, tuple[ProcessIdentity, str]] = field(default_factory=dict)


def find_leftovers(events: Iterable[Event]) -> Leftovers:
    """The process tracked last with no exit recorded after it, and every recorded command.

    A command needs no end record: one that ended has no live process with its start time,
    so checking each recorded command against /proc is the whole test.
    """
    found = Leftovers()
    for e in events:
        if isinstance(e, ProcessSpawned | ProcessAdopted | ProcessLeftRunning):
            found.process = ProcessIdentity(e.pid, e.start_time, e.boot_id)
            found.spawn_id = e.spawn_id
            if found.spawn_id:
                found.spawn_ids.add(found.spawn_id)
        elif isinstance(e, ProcessExited) and found.process is not None:
            if e.pid == found.process.pid:
                found.process = None
        elif isinstance(e, CommandStarted):
            found.commands[e.pid] = (ProcessIdentity(e.pid, e.start_time, e.boot_id), e.label)
        elif isinstance(e, OrphanEnded):
            found.commands.pop(e.pid, None)
            if found.process is not None and e.pid == found.process.pid:
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


def supervisor_token(store_path: Path) -> str:
    """Names the paramedic (by its store) in its children's environment; not a secret."""
    return hashlib.sha256(str(store_path).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Unrecorded:
    """A live session leader whose environment says this paramedic spawned it."""

    identity: ProcessIdentity
    spawn_id: str


def scan_unrecorded(token: str) -> dict[str, list[Unrecorded]]:
    """Every process that carries `token` and a spawn id and leads its own session, by
    service. Reads /proc/*/environ (ours only: others' are not readable); blocking."""
    found: dict[str, list[Unrecorded]] = defaultdict(list)
    needle = f"{SUPERVISOR_ENV}={token}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        if needle not in raw:
            continue
        env = dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        service = env.get(b"PARAMEDIC_SERVICE", b"").decode(errors="replace")
        spawn_id = env.get(SPAWN_ID_ENV.encode(), b"").decode(errors="replace")
        pid = int(entry.name)
        try:
            leader = os.getsid(pid) == pid
        except OSError:
            continue
        identity = identify(pid)
        if service and spawn_id and leader and identity is not None:
            found[service].append(Unrecorded(identity, spawn_id))
    return found


def pick_unrecorded(candidates: list[Unrecorded], known: set[str]) -> Unrecorded | None:
    """The child of the latest spawn the timeline does not know, if any. A spawn id is shared
    by everything the child started; the child itself started first."""
    first: dict[str, Unrecorded] = {}
    for c in candidates:
        if c.spawn_id in known:
            continue
        held = first.get(c.spawn_id)
        if held is None or c.identity.start_time < held.identity.start_time:
            first[c.spawn_id] = c
    if not first:
        return None
    return max(first.values(), key=lambda c: (c.identity.start_time, c.identity.pid))
