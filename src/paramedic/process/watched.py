"""A process paramedic did not start, watched by pid through a pidfd.

Its exit is noticed the instant it happens, like an owned child's, but its exit status is
not ours to read (only a parent can reap), so the report says so. When the pid file names
a new process (an external supervisor restarted it), the watcher attaches to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from paramedic.core.clock import Clock

__all__ = ["WatchedProcess"]


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
    ) -> None:
        self.name = name
        self._clock = clock
        self._fixed_pid = pid
        self._pid_file = pid_file
        self._on_exit = on_exit
        self._on_attach = on_attach
        self._pidfd: int | None = None
        self._last_exited: int | None = None
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
        except (OSError, UnicodeDecodeError) as exc:
            self.problem = f"cannot read pid file {self._pid_file}: {exc}"
            return None
        if not text.isdigit() or int(text) < 1:
            self.problem = f"pid file {self._pid_file} holds {text[:20]!r}, not a pid"
            return None
        return int(text)

    def attach(self) -> int | None:
        """Start watching the current pid; None (with `problem` set) if there is none alive."""
        if self._pidfd is not None:
            return self.pid
        pid = self._read_pid()
        if pid is None or pid == self._last_exited:
            return None
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self.problem = f"pid {pid} is not running"
            return None
        except OSError as exc:
            self.problem = f"cannot watch pid {pid}: {exc.strerror}"
            return None
        self._pidfd = pidfd
        self.pid = pid
        self.attached_at = self._clock.monotonic()
        self.problem = ""
        asyncio.get_running_loop().add_reader(pidfd, self._exited)
        self._on_attach(pid)
        return pid

    def _exited(self) -> None:
        assert self._pidfd is not None
        assert self.pid is not None
        asyncio.get_running_loop().remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        self._last_exited = self.pid
        self._on_exit(self.pid, self._clock.monotonic() - self.attached_at)

    async def watch_forever(self, retry_every: float = 1.0) -> None:
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
