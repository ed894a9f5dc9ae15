"""One monitored service at run time: its process, watchdog, health verdict and detectors.

Every detector reports to `signal()`. ServiceHealth turns signals into events, which go to
the ordered recorder; reactions that act on the world (killing a hung process, restarting a
dead one) run as jobs that first await the durable record of why.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

from paramedic.checks import HealthReport
from paramedic.config.model import ServiceConfig
from paramedic.core.clock import Clock
from paramedic.core.contracts import Job
from paramedic.core.process_events import (
    CommandStarted,
    ProcessAdopted,
    ProcessAttached,
    ProcessExited,
)
from paramedic.core.text import duration
from paramedic.detect.health_readings import HealthReading
from paramedic.detect.probes import ServiceProbes
from paramedic.detect.resource_monitor import ResourceMonitor
from paramedic.detect.restart_policy import Backoff, RestartPlanner
from paramedic.detect.service_health import HealthPolicy, ServiceHealth
from paramedic.detect.signals import Signal
from paramedic.detect.watchdog import Watchdog
from paramedic.process.identity import (
    ProcessIdentity,
    boot_id,
    identify,
    open_if_same,
    process_age,
    start_time,
)
from paramedic.process.managed import ExitStatus, ManagedProcess
from paramedic.process.watched import WatchedProcess
from paramedic.recovery.hooks import RecoveryHooks
from paramedic.recovery.orchestrator import RecoveryOrchestrator
from paramedic.runtime.adoption import lost_exit
from paramedic.runtime.recorder import OrderedRecorder
from paramedic.runtime.waiters import HealthWaiters

__all__ = ["ServiceRuntime"]


def exit_sentence(status: ExitStatus) -> str:
    how = f"killed by {status.signal}" if status.signal else f"exited with code {status.returncode}"
    if status.unknown:
        how = f"exited ({status.unknown})"
    return f"pid {status.pid} {how} after {duration(status.runtime)}"


def _gone(recorded: ProcessIdentity) -> bool:
    """Whether a recorded process is proven gone (not merely impossible to check)."""
    if not recorded.boot_id or recorded.start_time <= 0:
        return False
    return recorded.boot_id != boot_id() or start_time(recorded.pid) != recorded.start_time


class ServiceRuntime:
    """Everything paramedic runs for one service."""

    def __init__(
        self,
        name: str,
        config: ServiceConfig,
        *,
        clock: Clock,
        recorder: OrderedRecorder,
        job: Job,
        process: ManagedProcess | None = None,
        upstream_down: Callable[[], Sequence[str]] = tuple,
    ) -> None:
        self.watched: WatchedProcess | None = None
        self.name = name
        self.config = config
        self._clock = clock
        self._recorder = recorder
        self._job = job
        self.process = process
        h = config.health
        self.health = ServiceHealth(
            name,
            HealthPolicy(
                down_after=h.down_after,
                up_after=h.up_after,
                flap_window=h.flap_window,
                flap_changes=h.flap_changes,
            ),
            depends_on=config.depends_on,
            upstream_down=upstream_down,
        )
        self.on_restart: list[Callable[[int], None]] = []
        self.probes: ServiceProbes | None = None
        self.resources: ResourceMonitor | None = None
        self.reading = HealthReading()  # the last /health body, for the key-metrics gauges
        self.recovery: RecoveryOrchestrator | None = None
        self._waiters = HealthWaiters()
        self.watchdog: Watchdog | None = None
        self.lost: str | None = None  # the process that died while paramedic was down
        self._handed_over = False
        if process is not None and config.process is not None:
            self.health.expect("process")
            r = config.process.restart
            planner = RestartPlanner(
                r.policy,
                Backoff(
                    initial=r.initial_backoff,
                    max=r.max_backoff,
                    factor=r.backoff_factor,
                    jitter=r.jitter,
                    stable_after=r.stable_after,
                ),
                burst=r.burst,
                window=r.window,
            )
            self.watchdog = Watchdog(
                name,
                process,
                planner,
                clock=clock,
                record=recorder.record,
                on_give_up=self.give_up,
                on_spawned=self._spawned,
                handoff=self._handoff,
            )

    # -- signals in ----------------------------------------------------------------------------

    def signal(self, signal: Signal) -> None:
        """A detector's verdict changed. Synchronous: called from detector hot paths."""
        events = self.health.observe(signal, self._clock.now())
        if events:
            self._recorder.submit(events)
        if self._waiters:
            self._waiters.wake()
        if signal.source == "process" and not signal.ok:
            self.reading.clear()  # a dead process's last /health is not what it reports now
        if (
            not signal.ok
            and signal.kind == "hang"
            and self.recovery is None  # with a plan, recovery decides what a hang deserves
            and self.watchdog is not None
            and self.process is not None
            and self.process.running
            and not self.watchdog.killing_hung
        ):
            self._job(self.watchdog.kill_hung(signal.reason))

    def tick(self) -> None:
        """Periodic evaluation, so hysteresis can count while nothing new arrives."""
        if not self.health.needs_ticks:
            return
        events = self.health.tick(self._clock.now())
        if events:
            self._recorder.submit(events)
        if self._waiters:
            self._waiters.wake()

    # -- recovery ------------------------------------------------------------------------------

    def attach_recovery(self, orchestrator: RecoveryOrchestrator) -> None:
        self.recovery = orchestrator

    def _handoff(self, status: ExitStatus) -> bool:
        """A service with a recovery plan is recovered by it, not blindly restarted; a stop
        that paramedic asked for (a recovery step's restart) is left alone."""
        return self.recovery is not None and not status.expected

    def hooks(self) -> RecoveryHooks:
        return RecoveryHooks(
            restart_process=self._restart_process,
            stop_process=self._stop_process,
            wait_healthy=functools.partial(
                self._waiters.wait_until, lambda: self.health.state == "up"
            ),
            wait_heartbeat=functools.partial(self._waiters.wait_until, self._heartbeat_vouches),
            pid=lambda: self.pid,
            command_started=self._command_started,
        )

    def _command_started(self, label: str, pid: int) -> None:
        """A step's command is running: its identity goes on the timeline (ordered, so it is
        durable before the step's end), for a restart after a crash to find and end it."""
        identity = identify(pid) or ProcessIdentity(pid, 0, "")
        self._recorder.submit(
            [
                CommandStarted(
                    at=self._clock.now(),
                    service=self.name,
                    pid=pid,
                    start_time=identity.start_time,
                    boot_id=identity.boot_id,
                    label=label,
                )
            ]
        )

    async def _restart_process(self) -> str | None:
        if self.process is None or self.watchdog is None:
            return f"{self.name} has no process started by paramedic to restart"
        if self.process.running:
            await self.process.stop()
        pid = await self.watchdog.start()
        return None if pid is not None else f"{self.name} could not be started again"

    async def _stop_process(self) -> str | None:
        if self.process is None:
            return f"{self.name} has no process started by paramedic to stop"
        await self.process.stop()
        return None

    def _heartbeat_vouches(self) -> bool:
        return "heartbeat" not in self.health.pending and "heartbeat" not in self.health.failing

    # -- a process watched by pid ---------------------------------------------------------------

    def watch(self, pid: int | None, pid_file: Path | None) -> WatchedProcess:
        self.health.expect("process")
        self.watched = WatchedProcess(
            self.name,
            clock=self._clock,
            pid=pid,
            pid_file=pid_file,
            on_exit=self._watched_exited,
            on_missing=self._watched_missing,
            on_attach=functools.partial(
                self._attached, f"pid file {pid_file}" if pid_file else "pid"
            ),
        )
        return self.watched

    def _attached(self, source: str, pid: int) -> None:
        self._recorder.submit(
            [ProcessAttached(at=self._clock.now(), service=self.name, pid=pid, source=source)]
        )
        self._spawned(pid)

    def _watched_missing(self, problem: str) -> None:
        """No live process behind the pid (file): down like a crash, with what was found."""
        self.signal(Signal(self.name, "process", False, problem, self._clock.monotonic(), "crash"))

    def _watched_exited(self, pid: int, runtime: float) -> None:
        reason = (
            f"pid {pid} exited after {duration(runtime)} of watching"
            " (not paramedic's child: exit status unknown)"
        )
        self.signal(Signal(self.name, "process", False, reason, self._clock.monotonic(), "crash"))

    # -- detectors -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The pid being supervised now, owned or watched."""
        if self.process is not None:
            return self.process.pid
        return self.watched.pid if self.watched is not None and self.watched.running else None

    def make_resource_monitor(self) -> ResourceMonitor | None:
        if self.config.resources is None:
            return None
        self.resources = ResourceMonitor(
            self.name, self.config.resources, self._clock, self.signal, lambda: self.pid
        )
        return self.resources

    def observe_health(self, _service: str, report: HealthReport) -> None:
        """A /health body read by a probe: its metrics feed the threshold detectors."""
        self.reading.record(report.healthy, report.components, report.metrics, self._clock.wall())
        if self.resources is not None:
            self.resources.observe_metrics(self.name, report.metrics, report.at)

    def attach_probes(self, probes: ServiceProbes) -> None:
        """Probes start with the service; a restart re-arms their startup gating."""
        self.probes = probes
        self.health.expect(*(f"probe:{name}" for name in probes.runners))
        self.on_restart.append(lambda pid: probes.reset(process_age(pid) or 0.0))

    async def stop_detectors(self) -> None:
        if self.probes is not None:
            await self.probes.stop()

    # -- the owned process -----------------------------------------------------------------------

    def report_lost(self) -> None:
        """The process the timeline says ran is gone: a crash like one seen live (an incident,
        its page), reported once recovery and alerting listen. A service with a plan is
        left to its recovery, as a live crash is, instead of restarted blindly at start
        (unless the crash only joins an incident the restart resumed: started as before)."""
        if self.lost is None:
            return
        was_open = "crash" in self.health.incidents
        self.signal(
            Signal(self.name, "process", False, self.lost, self._clock.monotonic(), "crash")
        )
        self._handed_over = self.recovery is not None and not was_open

    async def start(self) -> None:
        """Start the process unless it runs already: re-adopted, or started by a recovery
        that resumed after a restart of paramedic; or, with a plan, unless the recovery owns
        a crash that happened while paramedic was down."""
        if (
            self.watchdog is not None
            and self.process is not None
            and not self.process.running
            and not self._handed_over
        ):
            await self.watchdog.start()
        if self.probes is not None:
            self.probes.start()

    async def adopt(self, identity: ProcessIdentity, spawn_id: str = "", how: str = "") -> bool:
        """Supervise the process paramedic's previous run left (`identity`, from the
        timeline) if it is still that very process; else record that it is gone."""
        assert self.process is not None
        if self.process.running:
            return False
        pidfd, why = open_if_same(identity)
        if pidfd is None:
            if not how:  # a record says it ran: close that record with what became of it
                await self._recorder.record(lost_exit(self.name, identity, why, self._clock))
                if _gone(identity):
                    self.lost = f"pid {identity.pid} exited while paramedic was down: it {why}"
            return False
        self.process.adopt(identity, pidfd, spawn_id)
        how = how or f"its start time {identity.start_time} matches the record"
        sentence = (
            f"re-adopted pid {identity.pid}, left running by paramedic's previous run ({how});"
            " not started a second time"
        )
        await self._recorder.record(
            ProcessAdopted(
                at=self._clock.now(),
                service=self.name,
                pid=identity.pid,
                start_time=identity.start_time,
                boot_id=identity.boot_id,
                sentence=sentence,
                spawn_id=spawn_id,
            )
        )
        self._spawned(identity.pid)
        return True

    def _spawned(self, pid: int) -> None:
        # A new process: the detectors that watch it must vouch for it before it is "up".
        self.health.reverify(*self.health.expected)
        self.signal(
            Signal(self.name, "process", True, f"pid {pid} running", self._clock.monotonic())
        )
        for callback in self.on_restart:
            callback(pid)

    async def process_exited(self, status: ExitStatus) -> None:
        """Record the exit, tell ServiceHealth, then let the watchdog act.

        The exit, the signal and the incident are queued here without waiting; the watchdog
        awaits the record of its decision, which (the recorder being ordered) makes all of
        them durable in one commit before anything is restarted.
        """
        self._recorder.submit(
            [
                ProcessExited(
                    at=self._clock.now(),
                    service=self.name,
                    pid=status.pid,
                    returncode=status.returncode,
                    signal=status.signal,
                    runtime_s=round(status.runtime, 6),
                    expected=status.expected,
                    note=status.unknown,
                )
            ]
        )
        hung = self.watchdog is not None and self.watchdog.killing_hung
        if not status.expected:
            self.signal(
                Signal(
                    self.name, "process", False, exit_sentence(status), status.ended_mono, "crash"
                )
            )
        elif hung:
            self.signal(
                Signal(
                    self.name,
                    "process",
                    False,
                    f"pid {status.pid} stopped by the watchdog as hung",
                    status.ended_mono,
                    "hang",
                )
            )
        if self.watchdog is not None:
            await self.watchdog.process_exited(status)

    async def give_up(self, reason: str) -> None:
        for event in self.health.needs_human(reason, self._clock.now()):
            await self._recorder.record(event)
