"""A process paramedic starts and owns.

The exit is noticed the instant it happens: the loop watches a pidfd (`os.pidfd_open`) for
readability, never a polling timer. The child runs in its own session so a Ctrl-C in the
terminal reaches paramedic only, and paramedic stops its children in order, with a grace
period before SIGKILL.

A child must not depend on paramedic staying alive: its output goes to a log file it holds
open itself (never a pipe paramedic reads, whose death would kill the writer with SIGPIPE),
and nothing (no PR_SET_PDEATHSIG, no shared process group) ends it when paramedic dies. The
next start re-adopts it (`adopt`): a process that is not our child is watched through its
pidfd and stopped like an owned one, but its exit status is not ours to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from paramedic.core.clock import Clock
from paramedic.core.errors import ProcessError
from paramedic.core.ids import new_id
from paramedic.process.identity import ProcessIdentity, identify, kill_group

__all__ = ["SPAWN_ID_ENV", "ExitStatus", "ManagedProcess"]

# Each spawn's id, in the child's environment and on its `process.spawned` record: a child
# started in the instant before that record was committed is still found by the next start.
SPAWN_ID_ENV = "PARAMEDIC_SPAWN_ID"


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a process ended: a return code, or the signal that killed it."""

    pid: int
    returncode: int | None
    signal: str | None
    started_mono: float
    ended_mono: float
    expected: bool
    # Why the status is unknown (a re-adopted process is not our child to reap); "" if known.
    unknown: str = ""

    @property
    def runtime(self) -> float:
        return self.ended_mono - self.started_mono


class ManagedProcess:
    """One child process: spawn it, learn at once when it exits, stop it gracefully."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        clock: Clock,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log_path: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        stop_timeout: float = 5.0,
        on_exit: Callable[[ExitStatus], None] | None = None,
    ) -> None:
        self.name = name
        self._argv = list(argv)
        self._clock = clock
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._log_path = log_path
        self._stop_signal = stop_signal
        self._stop_timeout = stop_timeout
        self._on_exit = on_exit
        self._popen: subprocess.Popen[bytes] | None = None
        self._adopted: ProcessIdentity | None = None
        self._pidfd: int | None = None
        self.identity: ProcessIdentity | None = None
        self.spawn_id = ""
        self._started = 0.0
        self._stopping = False
        self._exited: asyncio.Event = asyncio.Event()
        self.last_exit: ExitStatus | None = None

    @property
    def stop_timeout(self) -> float:
        return self._stop_timeout

    @property
    def argv(self) -> tuple[str, ...]:
        return tuple(self._argv)

    @property
    def pid(self) -> int | None:
        return self.identity.pid if self.identity is not None and self.running else None

    @property
    def running(self) -> bool:
        return self._pidfd is not None and not self._exited.is_set()

    @property
    def adopted(self) -> bool:
        return self._adopted is not None

    def spawn(self) -> int:
        """Start the process; raise ProcessError naming the cause if it cannot be started."""
        if self.running:
            msg = f"{self.name}: already running (pid {self.pid})"
            raise ProcessError(msg)
        program = self._resolve_program()
        log: IO[bytes] | int = subprocess.DEVNULL
        if self._log_path is not None:
            try:
                self._log_path.parent.mkdir(parents=True, exist_ok=True)
                log = self._log_path.open("ab")
            except OSError as exc:
                msg = f"{self.name}: cannot open log file {self._log_path}: {exc.strerror}"
                raise ProcessError(msg) from exc
        spawn_id = new_id("spn_")
        env = dict(self._env if self._env is not None else os.environ)
        env[SPAWN_ID_ENV] = spawn_id
        try:
            self._popen = subprocess.Popen(
                [program, *self._argv[1:]],
                env=env,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            msg = f"{self.name}: cannot start {self._argv[0]!r}: {exc.strerror}"
            raise ProcessError(msg) from exc
        finally:
            if not isinstance(log, int):
                log.close()
        pid = self._popen.pid
        self._adopted = None
        self.spawn_id = spawn_id
        self._watch(os.pidfd_open(pid))
        # Read at once: a child that died already reads 0 and is never re-adopted.
        self.identity = identify(pid) or ProcessIdentity(pid, 0, "")
        return pid

    def adopt(self, identity: ProcessIdentity, pidfd: int, spawn_id: str = "") -> None:
        """Supervise a process paramedic's previous run started (`pidfd` open on it, its
        identity checked by the caller): watched, stopped and reported like an owned one."""
        if self.running:
            msg = f"{self.name}: already running (pid {self.pid})"
            raise ProcessError(msg)
        self._popen = None
        self._adopted = identity
        self.identity = identity
        self.spawn_id = spawn_id
        self._watch(pidfd)

    def _watch(self, pidfd: int) -> None:
        self._started = self._clock.monotonic()
        self._stopping = False
        self._exited = asyncio.Event()
        self._pidfd = pidfd
        asyncio.get_running_loop().add_reader(pidfd, self._reap)

    def release(self) -> ProcessIdentity | None:
        """Stop watching without stopping: the process is left running for the next start to
        re-adopt (a planned restart of paramedic with `keep_running_on_stop`)."""
        if not self.running or self._pidfd is None:
            return None
        with contextlib.suppress(RuntimeError):  # the loop may already be closed
            asyncio.get_running_loop().remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        if self._popen is not None:
            # Popen would otherwise reap it later; it is no longer ours to wait for.
            self._popen.returncode = 0
        return self.identity

    def _resolve_program(self) -> str:
        program = self._argv[0]
        if os.sep in program:
            return program
        path = (self._env or os.environ).get("PATH", os.defpath)
        found = shutil.which(program, path=path)
        if found is None:
            msg = f"{self.name}: program {program!r} not found on PATH"
            raise ProcessError(msg)
        return found

    def _reap(self) -> None:
        """Called by the loop when the pidfd turns readable: the child has exited."""
        assert self._pidfd is not None
        assert self.identity is not None
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        unknown = ""
        if self._popen is not None:
            code: int | None = self._popen.wait()
        else:  # its parent is now init (or a subreaper), which alone can read the status
            code, unknown = None, "status unknown: re-adopted after paramedic restart"
        sig = signal.Signals(-code).name if code is not None and code < 0 else None
        status = ExitStatus(
            pid=self.identity.pid,
            returncode=None if code is None or code < 0 else code,
            signal=sig,
            started_mono=self._started,
            ended_mono=self._clock.monotonic(),
            expected=self._stopping,
            unknown=unknown,
        )
        self.last_exit = status
        self._exited.set()
        if self._on_exit is not None:
            self._on_exit(status)

    def send_signal(self, sig: signal.Signals) -> None:
        if self._pidfd is not None and self.running:
            # pidfd_send_signal cannot hit a recycled pid, owned or adopted.
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, sig)

    async def wait(self) -> ExitStatus | None:
        if self.identity is None:
            return None
        await self._exited.wait()
        return self.last_exit

    async def stop(self, grace: float | None = None) -> ExitStatus | None:
        """Stop signal, then SIGKILL after the grace period; returns how it ended."""
        if not self.running:
            return self.last_exit
        grace = self._stop_timeout if grace is None else grace
        self._stopping = True
        self.send_signal(self._stop_signal)
        try:
            async with asyncio.timeout(grace):
                await self._exited.wait()
        except TimeoutError:
            self.kill()
            await self._exited.wait()
        return self.last_exit

    def kill(self) -> None:
        """SIGKILL the whole process group: a child's own children must not outlive it."""
        if self._pidfd is None or self.identity is None or not self.running:
            return
        self._stopping = True
        if self._popen is None:
            kill_group(self._pidfd, self.identity.pid)
            return
        # Our own child cannot be reaped behind our back, so its pid (and group) is still its.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, signal.SIGKILL)
