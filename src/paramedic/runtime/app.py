"""One paramedic, running: the parts `runtime/build.py` made, started and stopped in phases.

Each phase has a name (in the log, and on the error when it cannot start). Phases start in
the order below and stop in reverse, as uvicorn's `Server` does; a phase that fails to start
is stopped with the ones before it (its stop copes with a partial start), and the error
names it. The order is the design:

- the API socket binds and the store opens first: the cheap, likely failures (a port in
  use, a store not writable) come before anything acts on the world;
- the recorder runs before any room can record, and the timeline is read back before any
  consumer subscribes to the bus;
- alerting starts before a detector can raise, adoption before the recovery rebuild (which
  may resume a run that restarts a process: it must find the re-adopted one), the rebuild
  before any process starts or detector runs;
- `/readyz` says "still starting" until the last phase.

Stopping runs the same list backwards: supervision first (no restart, the stop recorded,
processes stopped), then the API, then the jobs in flight get a grace and the recorder
drains, then alerting, the recorder and the store close. The caller bounds the whole stop
with `shutdown_timeout` (runtime/serve.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

import structlog

from paramedic import __version__
from paramedic.core.bus import Published
from paramedic.core.errors import LifecycleError, ParamedicError, StoreError
from paramedic.core.events import Event, ParamedicStarted, ParamedicStopping
from paramedic.core.failure_events import FailureCleared, FailureDetected, ServiceUp, WatchdogGaveUp
from paramedic.core.failures import FailureKind
from paramedic.core.incident_events import RecoveryStepFinished
from paramedic.detect.signals import Signal
from paramedic.process.ledger import current_ledger
from paramedic.recovery.orchestrator import VALIDATION_SOURCE
from paramedic.recovery.standby import STANDBY_SOURCE
from paramedic.runtime.build import Parts
from paramedic.runtime.readopt import leave_running, readopt
from paramedic.runtime.resume import Left, ServiceLeft, folded, read_store
from paramedic.runtime.services import ServiceRuntime
from paramedic.store.timeline import read_events

__all__ = ["Paramedic", "Phase", "StartFailed"]

log = structlog.get_logger("paramedic")

RECOVERY_PAGES = (STANDBY_SOURCE, VALIDATION_SOURCE)
JOBS_GRACE = 2.0  # s for the jobs in flight at a stop (the children's exit records)


class StartFailed(LifecycleError):
    """A phase could not start; `phase` names it (the message stays the user's one line)."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(message)
        self.phase = phase


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]] | None = None


async def _nothing() -> None:
    return None


class Paramedic:
    """The whole supervisor for one config file: its start-up phases and their stops."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self._left = Left()  # the timeline as the previous run left it, read at start
        self._history: dict[str, list[Event]] = {}  # per service, for the rebuild
        self._store_open = False
        self._alerting_started = False  # a store that recovers before needs no catch-up
        self._stop_requested = asyncio.Event()
        self.stop_reason = ""
        self.stop_requested_mono = 0.0  # when the signal came: the shutdown deadline's origin
        self._stopping = ""
        self._started: list[Phase] = []
        p = parts
        self.phases = [
            Phase("api socket", self._bind, self._close_socket),
            Phase("store", self._open_store, self._close_store),
            *(
                [Phase("heartbeat receiver", p.heartbeats.start, p.heartbeats.stop)]
                if p.heartbeats is not None
                else []
            ),
            Phase("recorder", self._run_recorder),
            Phase("self-watch", self._watch_self, self._stop_self_watch),
            Phase("read back", self._read_back),
            Phase("drill read back", p.drills.restore),  # alerting's catch-up labels by it
            Phase("alerting", self._start_alerting, self._stop_alerting),
            Phase("jobs in flight", _nothing, self._settle),
            Phase("adoption", self._adopt),
            Phase("recovery rebuild", self._rebuild, self._close_recovery),
            Phase("health resume", self._resume_health),
            *([Phase("dead man's switch", self._run_deadman)] if p.deadman is not None else []),
            Phase("drills", p.drills.load, p.drills.stop),
            Phase("api", self._serve_api, self._stop_api),
            Phase("services", self._start_services, self._stop_services),
            Phase("health evaluation", self._evaluate),
            Phase("scheduled test pages", p.test_pages.start),
            Phase("scheduled drills", p.drill_schedule.start),
            Phase("ready", self._ready),
        ]

    # -- the runner ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every phase in order; raise LifecycleError with a one-line reason (and the
        phase's name on it) if one cannot start, after stopping what had started."""
        p = self.parts
        p.started_mono = p.clock.monotonic()
        # Every task started from here on (probes, checks, recovery) records its commands in
        # this paramedic's ledger.
        current_ledger.set(p.commands)
        for phase in self.phases:
            self._started.append(phase)  # stopped even if it fails half-way
            p.tasks.owner = phase.name
            log.debug("starting", phase=phase.name)
            try:
                await phase.start()
            except Exception as exc:
                log.debug("could not start", phase=phase.name, error=str(exc))
                self._stopping = f"cannot start {phase.name}"
                await self._unwind()
                message = str(exc) if isinstance(exc, LifecycleError) else f"{phase.name}: {exc}"
                raise StartFailed(phase.name, message) from exc
        p.tasks.owner = ""

    async def stop(self, reason: str) -> None:
        """Stop every phase started, in reverse; the caller bounds this with the deadline."""
        log.info("paramedic stopping", reason=reason)
        self._stopping = reason
        self.parts.sd.stopping(f"stopping: {reason}")
        await self._unwind()

    async def _unwind(self) -> None:
        tasks = self.parts.tasks
        while self._started:
            phase = self._started.pop()
            log.debug("stopping", phase=phase.name)
            if phase.stop is not None:
                await phase.stop()
            await tasks.cancel_loops(phase.name)
        await tasks.cancel_loops("")
        await self.parts.close_clients()

    def api_url_host(self) -> str:
        host, port = self.parts.api.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def request_stop(self, reason: str) -> None:
        if not self._stop_requested.is_set():
            self.stop_reason = reason
            self.stop_requested_mono = self.parts.clock.monotonic()
            self._stop_requested.set()

    async def wait_stop_requested(self) -> str:
        await self._stop_requested.wait()
        return self.stop_reason

    def kill_everything(self) -> None:
        """The deadline passed: no child may outlive paramedic."""
        for proc in self.parts.processes.values():
            proc.kill()

    # -- the phases, in start order ----------------------------------------------------------

    async def _bind(self) -> None:
        self.parts.api.bind()

    async def _close_socket(self) -> None:
        self.parts.api.close()

    async def _open_store(self) -> None:
        try:
            await self.parts.store.open()
        except StoreError as exc:
            raise LifecycleError(str(exc)) from exc
        self._store_open = True

    async def _close_store(self) -> None:
        if self._store_open:
            await self.parts.store.close()
            self._store_open = False

    async def _run_recorder(self) -> None:
        p = self.parts
        p.tasks.loop(p.recorder.run(), "recorder")
        p.tasks.loop(p.trouble.watch(p.store.ping, p.recorder.retry), "store-trouble")
        p.trouble.on_recovered.append(lambda: p.tasks.job(self._store_recovered_catch_up()))

    async def _watch_self(self) -> None:
        p = self.parts
        p.tasks.loop(p.loop_monitor.run(), "loop-monitor")
        p.tasks.loop(p.sd.run(lambda: p.loop_monitor.alive()[0]), "sd-watchdog")

    async def _stop_self_watch(self) -> None:
        await self.parts.tasks.cancel_loops("self-watch")
        self.parts.sd.close()

    async def _read_back(self) -> None:
        self._left = await read_store(self.parts.store)

    async def _start_alerting(self) -> None:
        """Alerting starts before any detector can raise anything, and resumes what a crash
        left pending (notifications at their due times, open alerts' ladders, failures
        recorded without their alert, alerts whose failure cleared without their resolve)."""
        p, left = self.parts, self._left
        p.bus.add_listener(p.emergency.on_published)
        # Stored silences first: a rung that fell due while we were down is held as it was.
        await p.silences.load()
        await p.alerting.start()
        raised, resolved = await p.alerting.catch_up(
            left.open_failures(), left.cleared, left.incidents, left.open_approvals()
        )
        if raised or resolved:
            log.warning("alerting caught up after a crash", raised=raised, resolved=resolved)
        p.bus.add_listener(p.alerting.on_published)
        p.tasks.loop(p.alerting.run(), "outbox")
        self._alerting_started = True

    async def _stop_alerting(self) -> None:
        await self.parts.tasks.cancel_loops("alerting")
        await self.parts.alerting.close()

    async def _settle(self) -> None:
        """Nothing to start (rooms hand off jobs from the recorder on); at a stop, the jobs
        in flight get their grace and the recorder drains, before alerting closes (a drained
        event may still page)."""
        await self.parts.tasks.settle_jobs(JOBS_GRACE)
        await self.parts.recorder.drain()

    async def _adopt(self) -> None:
        self._history = await readopt(self.parts)

    async def _rebuild(self) -> None:
        """Each service's incidents rebuilt from its timeline, so an incident paramedic died
        in the middle of resumes (or goes to a human) before any detector can open a new
        one; a failure recorded before the crash whose incident never opened is opened now."""
        p = self.parts
        for name, service in p.services.items():
            events = self._history.pop(name, None)
            if events is None:
                events = await read_events(p.store, service=name)
            plain = p.plain.get(name)
            if plain is not None:
                await plain.rebuild(events)
                continue
            orchestrator = p.recovery[name]
            for e in events:
                if isinstance(e, RecoveryStepFinished) and e.ok:
                    p.step_history[(name, e.step)].append(e.duration_s)
            await orchestrator.rebuild(events)
            failure = self._left.services.get(name, ServiceLeft()).open_failure
            if failure is not None and not folded(failure, events):
                await orchestrator.on_failure(failure)  # no-op if its incident opened
            service.attach_recovery(orchestrator)
        if p.incident_owners:
            p.bus.add_listener(self._route_to_recovery)

    async def _close_recovery(self) -> None:
        await asyncio.gather(*(o.close() for o in self.parts.recovery.values()))

    async def _resume_health(self) -> None:
        """Each service's open incident and Alertmanager verdicts, as the timeline left them:
        a later resolve in Alertmanager (or the service coming up) clears that incident.
        Not the recovery's own pages (no standby, a failed validation): the service being
        up says nothing about them. Then what died while paramedic was down is reported,
        after the rebuild, so it is not mistaken for what the timeline left."""
        p = self.parts
        now = p.clock.now()
        for name, service in p.services.items():
            found = self._left.services.get(name)
            if found is None:
                continue
            failing = [
                Signal(name, e.source, False, e.reason, now.mono, cast(FailureKind, e.failure_kind))
                for e in found.failing.values()
            ]
            incidents = [
                (f.incident, cast(FailureKind, f.failure_kind), now.wall - f.at.wall)
                for f in found.open.values()
                if f.source not in RECOVERY_PAGES  # the orchestrator restores and clears those
            ]
            service.health.resume(incidents, failing, now)
        for service in p.services.values():
            service.report_lost()

    async def _run_deadman(self) -> None:
        assert self.parts.deadman is not None
        self.parts.tasks.loop(self.parts.deadman.run(), "dead-mans-switch")

    async def _serve_api(self) -> None:
        self.parts.tasks.loop(self.parts.api.serve(), "api")

    async def _stop_api(self) -> None:
        self.parts.api.shutdown()

    async def _start_services(self) -> None:
        p = self.parts
        for name, service in p.services.items():
            if service.resources is not None:
                p.tasks.loop(service.resources.run(), f"resources-{name}")
            probes = p.probes.get(name)
            if probes is not None:
                service.attach_probes(probes)
            try:
                await service.start()
            except ParamedicError as exc:
                raise LifecycleError(str(exc)) from exc
            if (watch := service.config.watch) is not None:
                pid_file = p.path(watch.pid_file) if watch.pid_file else None
                watched = service.watch(watch.pid, pid_file)
                p.tasks.loop(watched.watch_forever(), f"watch-{name}")

    async def _stop_services(self) -> None:
        """No restart from here on, the stop on the timeline, the detectors quiet (a process
        stopping must not be convicted), a recovery in flight ended (it could restart what
        is being stopped), then the processes stopped."""
        p = self.parts
        for service in p.services.values():
            if service.watchdog is not None:
                service.watchdog.close()
        if self._store_open:
            try:
                await p.recorder.record(ParamedicStopping(at=p.clock.now(), reason=self._stopping))
            except StoreError as exc:
                log.error("could not record shutdown", error=str(exc))
        if self._store_open:
            await leave_running(p)
        if p.heartbeats is not None:
            p.heartbeats.monitor.close()
        await asyncio.gather(*(s.stop_detectors() for s in p.services.values()))
        await self._close_recovery()
        await asyncio.gather(*(proc.stop() for proc in p.processes.values()))

    async def _evaluate(self) -> None:
        periods: dict[float, list[ServiceRuntime]] = {}
        for service in self.parts.services.values():
            periods.setdefault(service.config.health.evaluate_every, []).append(service)
        for period, group in periods.items():
            self.parts.tasks.loop(self._evaluate_forever(period, group), f"evaluate-{period:g}s")

    async def _ready(self) -> None:
        p = self.parts
        await p.recorder.record(
            ParamedicStarted(
                at=p.clock.now(), version=__version__, instance=p.instance, pid=os.getpid()
            )
        )
        p.started.set()
        p.sd.ready(f"watching {len(p.services)} services; API {self.api_url_host()}")
        log.info("paramedic started", api=f"http://{self.api_url_host()}", run=p.instance)

    # -- while running -------------------------------------------------------------------------

    def _route_to_recovery(self, published: Published) -> None:
        p, event = self.parts, published.event
        plain = p.plain.get(event.service or "")
        if plain is not None:
            if isinstance(event, FailureDetected | FailureCleared | ServiceUp | WatchdogGaveUp):
                p.tasks.job(plain.on_event(event))
            return
        orchestrator = p.recovery.get(event.service or "")
        if orchestrator is None:
            return
        if isinstance(event, FailureDetected):
            p.tasks.job(orchestrator.on_failure(event))
        elif isinstance(event, RecoveryStepFinished) and event.ok:
            p.step_history[(event.service or "", event.step)].append(event.duration_s)

    async def _evaluate_forever(self, period: float, services: list[ServiceRuntime]) -> None:
        """One ticker per evaluation period for all its services (not one task per service:
        10,000 timers firing in the same instant stalled the loop for half a second)."""
        while True:
            await self.parts.clock.sleep(period)
            for service in services:
                service.tick()

    async def _store_recovered_catch_up(self) -> None:
        """The backlog is written: raise the alerts whose rows could not be written while the
        store was degraded (the same catch-up as after a crash; an alert is never raised
        twice, its id being the incident's)."""
        if not self._alerting_started:
            return
        left = await read_store(self.parts.store)
        raised, resolved = await self.parts.alerting.catch_up(
            left.open_failures(), left.cleared, left.incidents, left.open_approvals()
        )
        if raised or resolved:
            log.warning("alerting caught up after store trouble", raised=raised, resolved=resolved)
