"""Talking to systemd's service manager, so that paramedic's own death or wedge is never silent.

This is the `sd_notify(3)` protocol spoken directly, without libsystemd: one datagram of
newline-separated `KEY=value` assignments sent over AF_UNIX/SOCK_DGRAM to `$NOTIFY_SOCKET`.
A path starting with `@` names a socket in the abstract namespace (leading NUL byte).

The watchdog (`WatchdogSec=` in the unit, seen here as `$WATCHDOG_USEC`) restarts paramedic
when it stops saying `WATCHDOG=1`. We ping at half the timeout, as sd_watchdog_enabled(3)
recommends, so one late ping is never fatal but two missed pings are.

Why the pings are timer callbacks on the main event loop and never on a side thread: the
watchdog must vouch for the thing that does the work. A thread would keep petting the
watchdog while the loop that runs detectors, recovery and alerting sits wedged in a blocking
call or a livelock; systemd would see a healthy service and nobody would be told. On the loop,
a wedged loop sends nothing. On top of that, each ping also asks `alive()` (the caller's view
of its loop health, e.g. the loop monitor's last tick age), so a loop that runs but is too late
or whose monitor has died stops petting too.

Sending never raises: a supervisor must not fall over because its own supervisor is gone.
Failures are counted in `send_errors` with the last one in `last_error`.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping

import structlog

from paramedic.core.clock import Clock, TimerHandle

__all__ = ["NOTIFY_ENV_KEYS", "SdNotifier"]

log = structlog.get_logger("paramedic.sdnotify")

NOTIFY_ENV_KEYS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
"""Variables systemd hands to paramedic alone: strip them from supervised children's env."""


def _address(raw: str | None) -> str | None:
    """The socket address, or None if there is none we can use.

    Only absolute paths and `@abstract` names are the protocol; anything else (empty, a
    relative path, `vsock:` which we do not speak) disables notification rather than guessing.
    """
    if not raw:
        return None
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None


def _one_line(text: str) -> str:
    """A newline in a status would start a new assignment (`...\\nREADY=1`): flatten it."""
    return " ".join(text.splitlines()).strip()


class SdNotifier:
    """sd_notify for paramedic: readiness, status lines, stopping and watchdog pings.

    Disabled (every call a silent no-op returning False) when `NOTIFY_SOCKET` is unset, so the
    same code runs under systemd, in a container and in a terminal.
    """

    def __init__(self, env: Mapping[str, str], clock: Clock, *, pid: int | None = None) -> None:
        self._clock = clock
        self.pid = os.getpid() if pid is None else pid
        self._addr = _address(env.get("NOTIFY_SOCKET"))
        self._interval = self._watchdog_interval(env) if self._addr is not None else None
        self._sock: socket.socket | None = None
        self._timer: TimerHandle | None = None
        self._alive: Callable[[], bool] = lambda: True
        self.running = asyncio.Event()
        """Set once `run` has armed its timer (tests wait on it instead of sleeping)."""
        self.sent = 0
        self.send_errors = 0
        self.last_error: str | None = None
        self._failing = False
        self.watchdog_pings = 0
        self.watchdog_skipped = 0

    def _watchdog_interval(self, env: Mapping[str, str]) -> float | None:
        usec = env.get("WATCHDOG_USEC", "")
        if not usec.isdigit() or int(usec) == 0:
            return None
        # WATCHDOG_PID guards against a child that inherited our environment petting our
        # watchdog: the variables are meant for the pid systemd started, nobody else.
        owner = env.get("WATCHDOG_PID")
        if owner is not None and owner != str(self.pid):
            return None
        return int(usec) / 1_000_000 / 2

    @property
    def enabled(self) -> bool:
        return self._addr is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None if not asked for."""
        return self._interval

    # -- messages ------------------------------------------------------------------------------

    def ready(self, status: str = "ready") -> bool:
        """Tell systemd startup is complete; `Type=notify` units stay "activating" until then."""
        return self._send(f"READY=1\nSTATUS={_one_line(status)}\nMAINPID={self.pid}")

    def status(self, text: str) -> bool:
        """One line shown by `systemctl status paramedic`."""
        return self._send(f"STATUS={_one_line(text)}")

    def stopping(self, status: str | None = None) -> bool:
        """Tell systemd the stop is ours and deliberate, so it is not read as a crash."""
        if status is None:
            return self._send("STOPPING=1")
        return self._send(f"STOPPING=1\nSTATUS={_one_line(status)}")

    def _send(self, message: str) -> bool:
        if self._addr is None:
            return False
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Non-blocking: if systemd's queue is full we count a failure rather than
                # block the loop that everything else runs on.
                sock.setblocking(False)
                self._sock = sock
            self._sock.sendto(message.encode("utf-8"), self._addr)
        except OSError as exc:
            self.send_errors += 1
            self.last_error = f"{exc.__class__.__name__}: {exc.strerror or exc}"
            if not self._failing:  # log the fall into failure, not every ping while it lasts
                log.warning("sd_notify failed", error=self.last_error)
            self._failing = True
            return False
        self._failing = False
        self.sent += 1
        return True

    # -- watchdog ------------------------------------------------------------------------------

    async def run(self, alive: Callable[[], bool]) -> None:
        """Ping WATCHDOG=1 every `watchdog_interval` while `alive()` holds; until cancelled.

        Returns at once if systemd asked for no watchdog. Pings are clock timers: they run on
        this loop or not at all (see the module docstring for why that is the point).
        """
        if self._interval is None:
            return
        self._alive = alive
        self._tick()
        self.running.set()
        try:
            await asyncio.Event().wait()  # the timers do the work; we wait to be cancelled
        finally:
            self.running.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _tick(self) -> None:
        assert self._interval is not None
        self._timer = self._clock.call_later(self._interval, self._tick)
        try:
            healthy = self._alive()
        except Exception as exc:  # a broken health check means "not healthy", never a crash
            log.error("watchdog health check raised", error=repr(exc))
            healthy = False
        if not healthy:
            self.watchdog_skipped += 1
            return
        if self._send("WATCHDOG=1"):
            self.watchdog_pings += 1

    def close(self) -> None:
        """Close the socket (after `stopping()`); later sends reopen it if ever needed."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
