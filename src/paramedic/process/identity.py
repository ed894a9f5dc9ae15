"""Which process a pid names: pid, kernel start time and boot id, so a recycled pid is never
taken for one of ours.

A pid alone is not an identity: after a process dies the kernel hands its number to the next
one. The start time (field 22 of /proc/<pid>/stat, clock ticks since boot) is fixed for the
life of a process, and the boot id tells one boot from the next; the three together name one
process for ever. `open_if_same` opens a pidfd first and reads the start time after, so the
answer cannot be about a process that replaced ours between the two reads.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ProcessIdentity",
    "boot_id",
    "identify",
    "kill_group",
    "open_if_same",
    "pidfd_alive",
    "process_age",
]

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """One process for ever: its pid, its start time in clock ticks since boot, the boot."""

    pid: int
    start_time: int
    boot_id: str


@functools.cache
def boot_id() -> str:
    """This boot's id (read once: a fact of the machine that cannot change while we run)."""
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text("ascii").strip()
    except OSError:
        return ""


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat; None if there is no such process (or it is a zombie)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = text.rsplit(")", 1)[-1].split()
    if len(fields) < 20 or fields[0] == "Z":
        return None
    return int(fields[19])


def process_age(pid: int) -> float | None:
    """Seconds since `pid` started, None if it is gone or unreadable.

    A process paramedic attaches to may have been running for hours: its boot is long over,
    and detectors that give a boot some grace must count from its real start, not ours.
    """
    started = start_time(pid)
    if started is None:
        return None
    try:
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - started / os.sysconf("SC_CLK_TCK"))


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of the live process `pid` now, or None if there is none."""
    started = start_time(pid)
    return None if started is None else ProcessIdentity(pid, started, boot_id())


def pidfd_alive(pidfd: int) -> bool:
    """A pidfd turns readable when its process exits."""
    readable, _, _ = select.select([pidfd], [], [], 0)
    return not readable


def open_if_same(expected: ProcessIdentity) -> tuple[int | None, str]:
    """A pidfd on `expected` if that very process still runs; else None and why not (a
    clause about the pid, e.g. "is no longer running").

    The pidfd is opened before the start time is read and checked alive after: while it is
    alive its pid cannot be reused, so the start time read in between is its own.
    """
    if not expected.boot_id or expected.start_time <= 0:
        return None, "was recorded without a start time, so it cannot be told from a stranger"
    if expected.boot_id != boot_id():
        return None, "was recorded before this machine last booted"
    try:
        pidfd = os.pidfd_open(expected.pid)
    except ProcessLookupError:
        return None, "is no longer running"
    except OSError as exc:
        return None, f"cannot be watched: {exc.strerror}"
    now = start_time(expected.pid)
    if now is None or not pidfd_alive(pidfd):
        os.close(pidfd)
        return None, "is no longer running"
    if now != expected.start_time:
        os.close(pidfd)
        return None, (
            f"now belongs to another process (start time {now}, ours was"
            f" {expected.start_time}), which is left alone"
        )
    return pidfd, ""


def kill_group(pidfd: int, pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Signal the process group `pid` leads, if the process behind `pidfd` still leads it.

    Our children run in their own session, so their group id is their pid; a process that left
    its group (or a pid now used by a stranger) gets the signal through its pidfd only.
    """
    if not pidfd_alive(pidfd):
        return
    try:
        leads = os.getpgid(pid) == pid
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if leads:
            os.killpg(pid, sig)
        else:
            signal.pidfd_send_signal(pidfd, sig)
