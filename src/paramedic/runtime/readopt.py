"""The hand-over between two runs of paramedic: what the previous run left running is taken
back (`readopt`, a start-up phase), and what this run leaves running is recorded for the
next one (`leave_running`, part of the stop).

The pieces (reading identities off the timeline, matching them against /proc, ending a
leftover command) are in `runtime/adoption.py`; this module only walks the services.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from paramedic.core.errors import StoreError
from paramedic.core.events import Event
from paramedic.core.process_events import ProcessLeftRunning
from paramedic.recovery.facts import sweep
from paramedic.runtime.adoption import (
    Unrecorded,
    end_commands,
    find_leftovers,
    pick_unrecorded,
    scan_unrecorded,
)
from paramedic.store.timeline import read_events

if TYPE_CHECKING:
    from paramedic.runtime.build import Parts

__all__ = ["leave_running", "readopt"]

log = structlog.get_logger("paramedic")


async def readopt(p: Parts) -> dict[str, list[Event]]:
    """What paramedic's previous run left running: the supervised process each service
    re-adopts, and the commands that are ended here (then their steps' facts files are
    removed). All before the recovery rebuild, which hands an unfinished step to a human
    and may resume a run that restarts the process (it must find the re-adopted one, not
    start a second). Returns the timelines read, by service, for the rebuild."""
    history: dict[str, list[Event]] = {}
    record = p.recorder.record
    # The ledger's commands are ended last: one the timeline also knows (a recovery
    # step's) is ended, and named, by its service first.
    ledgered = p.commands.take_leftovers()
    scanned: dict[str, list[Unrecorded]] | None = None
    for name, svc in p.config.services.items():
        if svc.process is None and svc.recovery is None:
            continue
        events = history[name] = await read_events(p.store, service=name)
        leftovers = find_leftovers(events)
        await end_commands(name, leftovers.commands.values(), p.clock, record)
        if svc.process is None:
            continue
        service = p.services[name]
        if leftovers.process is not None:
            await service.adopt(leftovers.process, leftovers.spawn_id)
        if service.process is not None and not service.process.running:
            if scanned is None:  # one pass over /proc for every service, only if needed
                scanned = await asyncio.to_thread(scan_unrecorded, p.supervisor)
            found = pick_unrecorded(scanned.get(name, []), leftovers.spawn_ids)
            if found is not None:
                how = (
                    f"found by its environment: spawn {found.spawn_id}, started just"
                    " before that run died, never recorded"
                )
                await service.adopt(found.identity, found.spawn_id, how)
    await end_commands(None, ledgered, p.clock, record)
    # The facts files of steps that run was in: their commands are ended, a resumed step
    # gets a fresh one, and the facts (paths, URLs) must not stay on disk.
    if p.facts_dir is not None and (swept := await asyncio.to_thread(sweep, p.facts_dir)):
        log.warning("facts files a crash left behind were removed", count=swept)
    return history


async def leave_running(p: Parts) -> None:
    """Processes with `keep_running_on_stop` outlive a planned stop, recorded so the next
    start re-adopts them; one whose identity could not be read is stopped as usual."""
    for name, proc in p.processes.items():
        spec = p.config.services[name].process
        assert spec is not None
        identity = proc.identity
        if not spec.keep_running_on_stop or not proc.running or identity is None:
            continue
        if identity.start_time <= 0:
            continue
        proc.release()
        try:
            await p.recorder.record(
                ProcessLeftRunning(
                    at=p.clock.now(),
                    service=name,
                    pid=identity.pid,
                    start_time=identity.start_time,
                    boot_id=identity.boot_id,
                    spawn_id=proc.spawn_id,
                )
            )
        except StoreError as exc:
            log.error("could not record a process left running", error=str(exc))
