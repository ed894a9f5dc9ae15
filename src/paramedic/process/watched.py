"""A process paramedic did not start, watched by pid through a pidfd.

Its exit is noticed the instant it happens, like an owned child's, but its exit status is
not ours to read (only a parent can reap), so the report says so. When the pid file names
a new process (an external supervisor restarted it), the watcher attaches to it.

Nothing to attach to is a finding too, never silence: a pid that is not running, or a pid
file that is missing, unreadable or holds no pid, is reported through `on_missing` with one
sentence ("... at start" on the first look), once per distinct problem. The pid file is
re-read every `retry_every` (1 s by default), so a service started after paramedic is
attached within a second of writing its pid file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from paramedic.core.clock import Clock

__all__ = ["RETRY_EVERY", "WatchedProcess"]

RETRY_EVERY = 1.0
"""Seconds between looks at the pid (file) while nothing is attached."""


class WatchedProcess:
    """Follows one pid, from a fixed number or re-read from a pid file."""

    def __init__(
        self,
        name: str,
        *,
        clock: Clock,
        pid: int | None = None,
        pid_file: Path | None = None,
        on_exit: Callable[[int, float], None],
        on_attach: Callable[[int], None] = lambda pid: None,
        on_missing: Callable[[str], None] = lambda problem: None,
    ) -> None:
        self.name = name
        self._clock = clock
        self._fixed_pid = pid
        self._pid_file = pid_file
        self._on_exit = on_exit
        self._on_attach = on_attach
        self._on_missing = on_missing
        self._pidfd: int | None = None
        self._last_exited: int | None = None
        self._looked = False
        self._reported = ""
        self.pid: int | None = None
        self.attached_at = 0.0
        self.problem = ""

    @property
    def running(self) -> bool:
        return self._pidfd is not None

    def _read_pid(self) -> int | None:
        if self._fixed_pid is not None:
            return self._fixed_pid
        assert self._pid_file is not None
        try:
            text = self._pid_file.read_text("ascii").strip()
        except FileNotFoundError:
            self.problem = f"pid file {self._pid_file} missing"
            return None
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.problem = f"cannot read pid file {self._pid_file}: {why}"
            return None
        if not text.isdigit() or int(text) < 1:
            self.problem = f"pid file {self._pid_file} holds {text[:20]!r}, not a pid"
            return None
        return int(text)

    def attach(self) -> int | None:
        """Start watching the current pid; None (with `problem` set) if there is none alive."""
        if self._pidfd is not None:
            return self.pid
        first, self._looked = not self._looked, True
        pid = self._read_pid()
        if pid is not None and pid == self._last_exited:
            return None  # its exit is reported already; wait for the pid file to change
        if pid is not None:
            try:
                pidfd = os.pidfd_open(pid)
            except ProcessLookupError:
                where = f" from {self._pid_file}" if self._pid_file is not None else ""
                self.problem = f"pid {pid}{where} is not running"
                pid = None
            except OSError as exc:
                self.problem = f"cannot watch pid {pid}: {exc.strerror}"
                pid = None
        if pid is None:
            self._report(f"{self.problem} at start" if first else self.problem)
            return None
        self._pidfd = pidfd
        self.pid = pid
        self.attached_at = self._clock.monotonic()
        self.problem = ""
        self._reported = ""
        asyncio.get_running_loop().add_reader(pidfd, self._exited)
        self._on_attach(pid)
        return pid

    def _report(self, problem: str) -> None:
        """Once per distinct problem: the same missing file every second is one finding."""
        bare = problem.removesuffix(" at start")
        if bare == self._reported:
            return
        self._reported = bare
        self._on_missing(problem)

    def _exited(self) -> None:
        assert self._pidfd is not None
        assert self.pid is not None
        asyncio.get_running_loop().remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        self._last_exited = self.pid
        self._on_exit(self.pid, self._clock.monotonic() - self.attached_at)

    async def watch_forever(self, retry_every: float = RETRY_EVERY) -> None:
        """Attach whenever there is something to attach to; the exit notice itself is instant."""
        try:
            while True:
                self.attach()
                await self._clock.sleep(retry_every)
        finally:
            self.detach()

    def detach(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
