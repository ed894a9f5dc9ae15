"""paramedic's own heartbeat out: a dead man's switch held by something off this host.

systemd's watchdog restarts a wedged paramedic, but nothing on the host can report that the
host itself is gone, or that paramedic keeps crash-looping until `StartLimitBurst` gives up.
An external service that expects a request every `interval` and pages when they stop
(healthchecks.io, Cronitor, Alertmanager's always-firing Watchdog alert) covers that: silence
is the alarm, so it works exactly when everything here is dead.

Pings are clock timers on the main loop, and each asks `alive()` first, for the same reason as
the sd_notify watchdog (see `runtime/sdnotify.py`): the switch must vouch for the loop that
does the work, so a wedged or stalled paramedic falls silent instead of lying. The schedule is
fixed-rate (a slow endpoint does not push later pings back); a ping still in flight when the
next is due makes that tick skip (`overlapped`), never pile up.

Nothing here raises: failures are counted and the last one kept, with the URL reduced to
scheme://host because such URLs usually carry their key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import structlog

from paramedic import __version__
from paramedic.config.selfwatch import DeadMansSwitchConfig
from paramedic.core.clock import Clock, TimerHandle
from paramedic.core.text import duration

__all__ = ["DeadMansSwitch"]

log = structlog.get_logger("paramedic.deadman")


class DeadMansSwitch:
    """Sends the configured request every `interval` while `alive()` holds."""

    def __init__(
        self,
        config: DeadMansSwitchConfig,
        clock: Clock,
        session: aiohttp.ClientSession,
        alive: Callable[[], bool],
    ) -> None:
        self.config = config
        self._clock = clock
        self._session = session
        self._alive = alive
        self._timer: TimerHandle | None = None
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)
        self._headers = {"User-Agent": f"paramedic/{__version__} (dead man's switch)"}
        self.last_attempt: asyncio.Task[bool] | None = None
        """The most recent ping started by `run`; await it to see how it ended."""
        self.running = asyncio.Event()
        """Set once `run` has armed its timer (tests wait on it instead of sleeping)."""
        self.successes = 0
        self.failures = 0
        self.skipped = 0  # ticks where alive() said no
        self.overlapped = 0  # ticks where the previous ping had not finished
        self.last_error: str | None = None
        self.last_success_mono: float | None = None
        self._failing = False

    async def ping(self) -> bool:
        """Send one request now; True on a 2xx. Records the outcome; never raises."""
        try:
            async with self._session.request(
                self.config.method,
                self.config.url,
                timeout=self._timeout,
                headers=self._headers,
            ) as resp:
                await resp.read()  # drain, so the keep-alive connection can be reused
                if 200 <= resp.status < 300:
                    return self._succeeded()
                return self._failed(f"HTTP {resp.status} from {self.config.target}")
        except TimeoutError:
            return self._failed(
                f"no answer from {self.config.target} within {duration(self.config.timeout)}"
            )
        except aiohttp.ClientError as exc:
            # Client errors name host and port at most, but scrub the full URL to be sure.
            text = str(exc).replace(self.config.url, self.config.target)
            return self._failed(f"{exc.__class__.__name__}: {text}")
        except Exception as exc:  # the edge of a loop tick: record, log, go on
            return self._failed(f"unexpected {exc.__class__.__name__}", exc)

    def _succeeded(self) -> bool:
        self.successes += 1
        self.last_success_mono = self._clock.monotonic()
        if self._failing:
            log.info("dead man's switch reachable again", target=self.config.target)
        self._failing = False
        return True

    def _failed(self, error: str, exc: BaseException | None = None) -> bool:
        self.failures += 1
        self.last_error = error
        if not self._failing or exc is not None:  # log the fall, not every ping while it lasts
            log.warning("dead man's switch ping failed", error=error, exc_info=exc)
        self._failing = True
        return False

    async def run(self) -> None:
        """Ping now and then every `interval` until cancelled; cancels a ping in flight."""
        self._tick()
        self.running.set()
        try:
            await asyncio.Event().wait()  # the timers do the work; we wait to be cancelled
        finally:
            self.running.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            attempt = self.last_attempt
            if attempt is not None and not attempt.done():
                attempt.cancel(msg="dead man's switch stopping")
                await asyncio.wait([attempt])

    def _tick(self) -> None:
        self._timer = self._clock.call_later(self.config.interval, self._tick)
        try:
            healthy = self._alive()
        except Exception as exc:  # a broken health check means "not healthy", never a crash
            log.error("dead man's switch health check raised", error=repr(exc))
            healthy = False
        if not healthy:
            self.skipped += 1
            return
        if self.last_attempt is not None and not self.last_attempt.done():
            self.overlapped += 1
            return
        self.last_attempt = asyncio.get_running_loop().create_task(
            self.ping(), name="dead-mans-switch"
        )
