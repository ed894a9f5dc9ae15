"""The commands running right now (probes, checks, decision inputs), one small file each, so
that the start after a crash of paramedic can end those its death left running.

A recovery step's command also goes on the timeline (`command.started`): it is rare and
worth a row, but that row is committed a moment after the spawn, and a kill -9 in between
must not leave the command running. A command probe may run every 100 ms; a timeline row
per run would drown the timeline. A file written without fsync is enough here: it only has
to outlive paramedic's process, and the kernel's page cache does; after a crash of the
machine there is nothing to end (and the boot id says so).

The ledger in use is a context variable set by `Paramedic.start`, so `run_command` finds it
without every check, probe and input being handed one; each paramedic in a process has its own.
"""

from __future__ import annotations

import contextlib
import json
from contextvars import ContextVar
from pathlib import Path

import structlog

from paramedic.process.identity import ProcessIdentity, identify

__all__ = ["CommandLedger", "current_ledger"]

log = structlog.get_logger("paramedic.process")

current_ledger: ContextVar[CommandLedger | None] = ContextVar("command_ledger", default=None)


class CommandLedger:
    """A folder with one file per running command: its identity and a label."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._warned = False

    def add(self, pid: int, label: str) -> None:
        """Best effort: a ledger that cannot be written must never fail the check itself."""
        identity = identify(pid)
        if identity is None:
            return  # already gone
        body = {"start_time": identity.start_time, "boot_id": identity.boot_id, "label": label}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / str(pid)).write_text(json.dumps(body))
        except OSError as exc:
            if not self._warned:
                self._warned = True
                where = str(self.folder)
                log.warning("cannot record running commands", folder=where, error=str(exc))

    def remove(self, pid: int) -> None:
        with contextlib.suppress(OSError):
            (self.folder / str(pid)).unlink()

    def take_leftovers(self) -> list[tuple[ProcessIdentity, str]]:
        """Every command recorded by a run that ended without removing it; the records go."""
        found: list[tuple[ProcessIdentity, str]] = []
        try:
            entries = list(self.folder.iterdir())
        except OSError:
            return found
        for entry in entries:
            try:
                body = json.loads(entry.read_text())
                identity = ProcessIdentity(
                    int(entry.name), int(body["start_time"]), str(body["boot_id"])
                )
                found.append((identity, str(body["label"])))
            except (OSError, ValueError, KeyError, TypeError):
                pass  # a torn or foreign file: nothing that can be trusted to name a process
            with contextlib.suppress(OSError):
                entry.unlink()
        return found
