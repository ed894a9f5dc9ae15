"""One paramedic: builds every component from the config and runs them under one loop.

Start order fails fast and cheap first: bind the API port, open (and migrate) the store,
then start the loop monitor, the API and the supervised processes. Stop order is the
reverse, bounded by `shutdown_timeout`; whatever is still running at the deadline is killed.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections import defaultdict
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, cast

import aiohttp
import structlog
from prometheus_client import CollectorRegistry

from paramedic import __version__
from paramedic.alerting.channels import Channel, build_channels
from paramedic.alerting.channels.http_pool import HttpPool
from paramedic.alerting.channels.log import LogChannel
from paramedic.alerting.service import AlertingService
from paramedic.alerting.silence_admin import SilenceAdmin
from paramedic.api.app import ApiContext, create_app
from paramedic.api.auth import TokenAuth
from paramedic.api.readiness import CheckRegistry
from paramedic.api.server import ApiServer
from paramedic.config.model import Config, ServiceConfig
from paramedic.core.bus import EventBus, Published
from paramedic.core.clock import Clock, SystemClock
from paramedic.core.errors import LifecycleError, ParamedicError, StoreError
from paramedic.core.events import ParamedicStarted, ParamedicStopping
from paramedic.core.failures import FailureKind
from paramedic.core.ids import new_id
from paramedic.detect.events import FailureCleared, FailureDetected, ServiceUp, WatchdogGaveUp
from paramedic.detect.probes import ServiceProbes
from paramedic.detect.signals import Signal
from paramedic.process.events import ProcessLeftRunning
from paramedic.process.ledger import CommandLedger, current_ledger
from paramedic.process.managed import ExitStatus, ManagedProcess
from paramedic.recovery.events import RecoveryStepFinished
from paramedic.recovery.orchestrator import VALIDATION_SOURCE, RecoveryOrchestrator
from paramedic.recovery.orchestrator_replay import decode
from paramedic.recovery.plain import IncidentOwner, PlainIncidents
from paramedic.recovery.standby import STANDBY_SOURCE
from paramedic.runtime.adoption import (
    SUPERVISOR_ENV,
    Unrecorded,
    end_commands,
    find_leftovers,
    pick_unrecorded,
    scan_unrecorded,
    supervisor_token,
)
from paramedic.runtime.deadman import DeadMansSwitch
from paramedic.runtime.emergency import EmergencyPager
from paramedic.runtime.heartbeats import Heartbeats
from paramedic.runtime.loop_monitor import LoopMonitor
from paramedic.runtime.metrics import RuntimeCollector
from paramedic.runtime.recorder import OrderedRecorder
from paramedic.runtime.resume import Left, ServiceLeft, folded, read_store
from paramedic.runtime.sdnotify import NOTIFY_ENV_KEYS, SdNotifier
from paramedic.runtime.services import ServiceRuntime
from paramedic.runtime.store_trouble import StoreTrouble
from paramedic.store.protocol import Store, StoredEvent
from paramedic.store.sqlite import SQLiteStore

__all__ = ["Paramedic"]

log = structlog.get_logger("paramedic")

RECOVERY_PAGES = (STANDBY_SOURCE, VALIDATION_SOURCE)


class Paramedic:
    """The whole supervisor for one config file."""

    def __init__(
        self,
        config: Config,
        *,
        base_dir: Path,
        clock: Clock | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.base_dir = base_dir
        self.clock: Clock = clock or SystemClock()
        self.instance = new_id("run_")
        store_path = self._path(config.store.path)
        self.store: Store = store or SQLiteStore(store_path, synchronous=config.store.synchronous)
        self.log_dir = store_path.parent / "logs"
        self.supervisor = supervisor_token(store_path)
        self.commands = CommandLedger(store_path.with_name(store_path.name + ".commands"))
        self.bus = EventBus(self.store)
        self.trouble = StoreTrouble(f"store {store_path}", self.clock)
        self.recorder = OrderedRecorder(
            self.bus, self.store, self.trouble, backlog_limit=config.store.degraded_backlog
        )
        self.emergency: EmergencyPager | None = None
        self.loop_monitor = LoopMonitor(self.clock, stale_after=config.self_watch.loop_stall_bound)
        self.sd = SdNotifier(os.environ, self.clock)
        self._http: aiohttp.ClientSession | None = None
        self._channels_http: HttpPool | None = None
        self.deadman: DeadMansSwitch | None = None
        self.checks = CheckRegistry()
        self.registry = CollectorRegistry()
        self.processes: dict[str, ManagedProcess] = {
            name: self._managed(name, svc) for name, svc in config.services.items() if svc.process
        }
        self.services: dict[str, ServiceRuntime] = {
            name: ServiceRuntime(
                name,
                svc,
                clock=self.clock,
                recorder=self.recorder,
                job=self._job,
                process=self.processes.get(name),
                upstream_down=functools.partial(self._upstream_down, svc.depends_on),
            )
            for name, svc in config.services.items()
        }
        self.alerting: AlertingService | None = None
        self.silences: SilenceAdmin | None = None
        self.recovery: dict[str, RecoveryOrchestrator] = {}
        self.plain: dict[str, PlainIncidents] = {}  # services without a plan: incidents only
        self.incident_owners: dict[str, IncidentOwner] = {}  # both, for the API
        self._step_history: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.heartbeats: Heartbeats | None = None
        if config.heartbeat is not None:
            self.heartbeats = Heartbeats(
                config,
                clock=self.clock,
                services=self.services,
                recorder=self.recorder,
                loop_monitor=self.loop_monitor,
            )
        self.started_mono = self.clock.monotonic()
        self.started = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self.stop_reason = ""
        self.stop_requested_mono = 0.0  # when the signal came: the shutdown deadline's origin
        self._jobs: set[asyncio.Task[None]] = set()  # short: record an exit, ...
        self._loops: set[asyncio.Task[None]] = set()  # long: loop monitor, API server
        self._store_open = False
        # Read once at start, for re-adoption and then the recovery rebuild.
        self._history: dict[str, list[StoredEvent]] = {}

        context = ApiContext(
            clock=self.clock,
            store=self.store,
            bus=self.bus,
            checks=self.checks,
            registry=self.registry,
            auth=TokenAuth(config.api.tokens, read_requires_token=config.api.read_requires_token),
            version=__version__,
            health_metrics=self._health_metrics,
            signal_sink=self._external_signal,
            inputs_durable=self.recorder.flush,
            known_services=frozenset(config.services),
            service_up=lambda name: self.services[name].health.state == "up",
            max_body_bytes=config.api.max_body_size,
        )
        self._api_context = context
        self.api_auth = context.auth  # its refusal counts are a metric
        self.api = ApiServer(create_app(context), config.api.host, config.api.port)
        self.registry.register(RuntimeCollector(self, self.clock.monotonic))
        self._register_checks()
        self.bus.add_listener(self._log_event)

    # -- building ----------------------------------------------------------------------------

    def _path(self, path: Path) -> Path:
        """Relative paths in the config are relative to the config file's folder."""
        return path if path.is_absolute() else self.base_dir / path

    def _managed(self, name: str, svc: ServiceConfig) -> ManagedProcess:
        spec = svc.process
        assert spec is not None
        env = dict(os.environ) if spec.inherit_env else {"PATH": os.environ.get("PATH", os.defpath)}
        for key in NOTIFY_ENV_KEYS:  # systemd's socket is paramedic's, not its children's
            env.pop(key, None)
        env.update(spec.env)
        env["PARAMEDIC_SERVICE"] = name
        env[SUPERVISOR_ENV] = self.supervisor
        return ManagedProcess(
            name,
            spec.argv,
            clock=self.clock,
            env=env,
            cwd=self._path(spec.cwd) if spec.cwd else self.base_dir,
            log_path=self._log_path(name, svc),
            stop_signal=signal.Signals[spec.stop_signal],
            stop_timeout=spec.stop_timeout,
            on_exit=functools.partial(self._on_exit, name),
        )

    def _log_path(self, name: str, svc: ServiceConfig) -> Path:
        spec = svc.process
        assert spec is not None
        return self._path(spec.log_file) if spec.log_file else self.log_dir / f"{name}.log"

    def _log_files(self, name: str) -> list[Path]:
        """The output paramedic captured for `name`: its log file and rotated siblings."""
        svc = self.config.services[name]
        if svc.process is None:
            return []
        path = self._log_path(name, svc)
        return [path, *sorted(path.parent.glob(path.name + ".*"))]

    def _on_exit(self, name: str, status: ExitStatus) -> None:
        self._job(self.services[name].process_exited(status))

    async def _start_alerting(self, left: Left) -> None:
        """Alerting starts before any detector can raise anything, and resumes what a crash
        left pending (notifications at their due times, open alerts' ladders, failures
        recorded without their alert, alerts whose failure cleared without their resolve)."""
        channels: dict[str, Channel] = {}
        if self.config.channels:
            # Channels get their own lean keep-alive pool (a third of aiohttp's CPU per POST,
            # measured); probes and the dead man's switch keep the aiohttp session.
            self._channels_http = HttpPool()
            channels = build_channels(self.config.channels, self._channels_http)
        channels.setdefault("log", LogChannel("log"))
        self.emergency = EmergencyPager(
            {n: channels[n] for n in self.config.alerting.store_failure_channels},
            self.trouble,
            self.clock,
            submit=self.recorder.submit,
            job=self._job,
        )
        self.bus.add_listener(self.emergency.on_published)
        self.alerting = AlertingService(
            self.config.alerting,
            clock=self.clock,
            store=self.store,
            channels=channels,
            record=self.recorder.submit,
            job=self._job,
            service_facts=self._service_facts,
            dashboard_url=self.config.dashboard_url,
            depends_on={name: svc.depends_on for name, svc in self.config.services.items()},
        )
        # Stored silences first: a rung that fell due while we were down is held as it was.
        self.silences = SilenceAdmin(self.alerting, self.store, self.clock, self._job)
        await self.silences.load()
        await self.alerting.start()
        raised, resolved = await self.alerting.catch_up(left.open_failures(), left.cleared)
        if raised or resolved:
            log.warning("alerting caught up after a crash", raised=raised, resolved=resolved)
        self._api_context.alerting = self.alerting
        self._api_context.silences = self.silences
        self._api_context.recovery = self.incident_owners
        self.bus.add_listener(self.alerting.on_published)
        self._loop(self.alerting.run(), "outbox")

    async def _start_recovery(self, left: Left) -> None:
        """One orchestrator per service with a plan, rebuilt from the timeline first, so an
        incident paramedic died in the middle of resumes (or goes to a human) before any
        detector can open a new one; a failure recorded before the crash whose incident
        never opened is opened now."""
        for name, service in self.services.items():
            plan = service.config.recovery
            events = self._history.pop(name, None)
            if events is None:
                events = await self._timeline_of(name)
            if plan is None:
                plain = PlainIncidents(
                    name,
                    clock=self.clock,
                    record=self.recorder.record,
                    is_up=functools.partial(lambda s: s.health.state == "up", service),
                )
                await plain.rebuild(events)
                self.plain[name] = self.incident_owners[name] = plain
                continue
            for e in events:
                if e.kind == "recovery.step_finished" and e.payload.get("ok"):
                    self._step_history[(name, e.payload["step"])].append(e.payload["duration_s"])
            hooks = service.hooks()
            hooks.log_files = functools.partial(self._log_files, name)
            orchestrator = RecoveryOrchestrator(
                name,
                plan,
                self.config.recovery,
                clock=self.clock,
                record=self.recorder.record,
                hooks=hooks,
                session=self._http,
                step_history=functools.partial(self._past_durations, name),
                base_dir=self.base_dir,
                snapshot_dir=self.log_dir.parent / "snapshots",
            )
            await orchestrator.rebuild(events)
            failure = left.services.get(name, ServiceLeft()).open_failure
            if failure is not None and not folded(failure, decode(events)):
                await orchestrator.on_failure(failure)  # no-op if its incident opened
            service.attach_recovery(orchestrator)
            self.recovery[name] = self.incident_owners[name] = orchestrator
        if self.incident_owners:
            self.bus.add_listener(self._route_to_recovery)

    async def _find_leftovers(self) -> None:
        """What paramedic's previous run left running: the supervised process each service
        re-adopts, and the commands that are ended here. Both before the recovery rebuild,
        which hands an unfinished step to a human and may resume a run that restarts the
        process (it must find the re-adopted one, not start a second)."""
        record = self.recorder.record
        # The ledger's commands are ended last: one the timeline also knows (a recovery
        # step's) is ended, and named, by its service first.
        ledgered = self.commands.take_leftovers()
        scanned: dict[str, list[Unrecorded]] | None = None
        for name, svc in self.config.services.items():
            if svc.process is None and svc.recovery is None:
                continue
            events = self._history[name] = await self._timeline_of(name)
            leftovers = find_leftovers(events)
            await end_commands(name, leftovers.commands.values(), self.clock, record)
            if svc.process is None:
                continue
            service = self.services[name]
            if leftovers.process is not None:
                await service.adopt(leftovers.process, leftovers.spawn_id)
            if service.process is not None and not service.process.running:
                if scanned is None:  # one pass over /proc for every service, only if needed
                    scanned = await asyncio.to_thread(scan_unrecorded, self.supervisor)
                found = pick_unrecorded(scanned.get(name, []), leftovers.spawn_ids)
                if found is not None:
                    how = (
                        f"found by its environment: spawn {found.spawn_id}, started just"
                        " before that run died, never recorded"
                    )
                    await service.adopt(found.identity, found.spawn_id, how)
        await end_commands(None, ledgered, self.clock, record)

    def _resume_health(self, left: Left) -> None:
        """Each service's open incident and Alertmanager verdicts, as the timeline left them:
        a later resolve in Alertmanager (or the service coming up) clears that incident.
        Not the recovery's own pages (no standby, a failed validation): the service being
        up says nothing about them."""
        now = self.clock.now()
        for name, service in self.services.items():
            found = left.services.get(name)
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

    async def _timeline_of(self, service: str) -> list[StoredEvent]:
        events: list[StoredEvent] = []
        after = 0
        while True:
            page = await self.store.timeline(after_seq=after, limit=1000, service=service)
            events += page
            if len(page) < 1000:
                return events
            after = page[-1].seq

    def _past_durations(self, service: str, step: str) -> list[float]:
        return list(self._step_history.get((service, step), ()))

    def _route_to_recovery(self, published: Published) -> None:
        event = published.event
        plain = self.plain.get(event.service or "")
        if plain is not None:
            if isinstance(event, FailureDetected | FailureCleared | ServiceUp | WatchdogGaveUp):
                self._job(plain.on_event(event))
            return
        orchestrator = self.recovery.get(event.service or "")
        if orchestrator is None:
            return
        if isinstance(event, FailureDetected):
            self._job(orchestrator.on_failure(event))
        elif isinstance(event, RecoveryStepFinished) and event.ok:
            self._step_history[(event.service or "", event.step)].append(event.duration_s)

    def _external_signal(self, service: str, signal: Signal) -> bool:
        """A signal from outside (an Alertmanager webhook): routed like any detector's."""
        runtime = self.services.get(service)
        if runtime is None:
            return False
        runtime.signal(signal)
        return True

    def _service_facts(self, name: str) -> tuple[int | None, dict[str, str], str]:
        svc = self.config.services.get(name)
        if svc is None:
            return None, {}, ""
        return svc.tier, dict(svc.labels), svc.runbook

    async def _evaluate_forever(self, period: float, services: list[ServiceRuntime]) -> None:
        """One ticker per evaluation period for all its services (not one task per service:
        10,000 timers firing in the same instant stalled the loop for half a second)."""
        while True:
            await self.clock.sleep(period)
            for service in services:
                service.tick()

    @staticmethod
    def _log_event(published: Published) -> None:
        """Every recorded event is one log line: the sentence a person reads, and its kind."""
        event = published.event
        log.info(event.summary(), kind=event.kind, seq=published.seq)

    def _switch_alive(self) -> bool:
        """The dead man's switch beats only while paramedic can also record: with the store
        degraded it falls silent, so the watcher off this host pages (sd_notify's watchdog
        keeps pinging: a restart would not bring the disk back)."""
        return self._self_alive() and not self.trouble.degraded

    def _self_alive(self) -> bool:
        """Whether paramedic's own loop is healthy: the watchdog and the switch ping only then."""
        return self.loop_monitor.alive()[0]

    def _upstream_down(self, depends_on: list[str]) -> list[str]:
        return [d for d in depends_on if self.services[d].health.state == "down"]

    def _register_checks(self) -> None:
        # These are about paramedic itself: a dead service is an incident, not a reason to
        # take its supervisor out of rotation.
        async def event_loop() -> tuple[bool, str]:
            return self.loop_monitor.alive()

        async def started() -> tuple[bool, str]:
            return (True, "ok") if self.started.is_set() else (False, "still starting")

        async def store() -> tuple[bool, str]:
            if self.trouble.degraded:  # its probe is the trouble watcher's, every few s
                return self.trouble.readiness()
            try:
                await self.store.ping()
            except StoreError as exc:
                self._store_failed(exc)
                return self.trouble.readiness()
            return True, "ok"

        self.checks.add("live", "event_loop", event_loop)
        self.checks.add("ready", "started", started)
        self.checks.add("ready", "store", store)

    def _health_metrics(self) -> dict[str, float]:
        return {
            "uptime_seconds": round(self.clock.monotonic() - self.started_mono, 3),
            "event_loop_lag_ms": round(self.loop_monitor.lag * 1000, 3),
            "event_loop_max_lag_ms": round(self.loop_monitor.max_lag * 1000, 3),
            "events_published": float(self.bus.published),
            "processes_running": float(sum(p.running for p in self.processes.values())),
            # Services' verdicts, beside paramedic's own: a down service is an incident, not
            # paramedic being unhealthy, so these never change `healthy`.
            "services_up": float(sum(s.health.state == "up" for s in self.services.values())),
            "services_down": float(sum(s.health.state == "down" for s in self.services.values())),
            "store_degraded": float(self.trouble.degraded),
            "store_events_not_recorded": float(self.trouble.unrecorded),
        }

    # -- running -----------------------------------------------------------------------------

    def _job(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._jobs.add(task)
        task.add_done_callback(self._task_done)

    def _loop(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._loops.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._jobs.discard(task)
        self._loops.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if isinstance(exc, StoreError):
                # Never a reason to stop: that would stop every child for a bookkeeping
                # problem. The store is degraded; supervision goes on (runtime/store_trouble).
                self._store_failed(exc)
                return
            log.error("background task failed", task=task.get_name(), exc_info=exc)

    def _store_failed(self, exc: StoreError) -> None:
        """A write outside the timeline (an alert row, a probe) was refused."""
        began = self.trouble.failed(exc)
        if began is not None:
            self.recorder.submit([began])
        else:
            log.debug("store write refused while degraded", error=str(exc))

    async def _store_recovered_catch_up(self) -> None:
        """The backlog is written: raise the alerts whose rows could not be written while the
        store was degraded (the same catch-up as after a crash; an alert is never raised
        twice, its id being the incident's)."""
        if self.alerting is None:
            return
        left = await read_store(self.store)
        raised, resolved = await self.alerting.catch_up(left.open_failures(), left.cleared)
        if raised or resolved:
            log.warning("alerting caught up after store trouble", raised=raised, resolved=resolved)

    async def start(self) -> None:
        """Start everything; raise LifecycleError with a one-line reason if anything can't."""
        self.started_mono = self.clock.monotonic()
        # Every task started from here on (probes, checks, recovery) records its commands in
        # this paramedic's ledger.
        current_ledger.set(self.commands)
        self.api.bind()
        try:
            await self.store.open()
        except StoreError as exc:
            self.api.close()
            raise LifecycleError(str(exc)) from exc
        self._store_open = True
        if self.heartbeats is not None:
            try:
                await self.heartbeats.start()
            except LifecycleError:
                self.api.close()
                await self.store.close()
                self._store_open = False
                raise
        self._loop(self.recorder.run(), "recorder")
        self._loop(self.trouble.watch(self.store.ping, self.recorder.retry), "store-trouble")
        self.trouble.on_recovered.append(lambda: self._job(self._store_recovered_catch_up()))
        self._loop(self.loop_monitor.run(), "loop-monitor")
        self._loop(self.sd.run(self._self_alive), "sd-watchdog")
        dms = self.config.self_watch.dead_mans_switch
        if dms is not None or any(s.probes for s in self.config.services.values()):
            # One keep-alive session for the other outbound HTTP calls (probes, the switch).
            self._http = aiohttp.ClientSession()
        left = await read_store(self.store)
        await self._start_alerting(left)
        await self._find_leftovers()
        await self._start_recovery(left)
        self._resume_health(left)
        for service in self.services.values():
            service.report_lost()  # after the rebuild, so it is not mistaken for what it left
        if dms is not None:
            assert self._http is not None
            self.deadman = DeadMansSwitch(dms, self.clock, self._http, self._switch_alive)
            self._loop(self.deadman.run(), "dead-mans-switch")
        self._loop(self.api.serve(), "api")
        for name, service in self.services.items():
            monitor = service.make_resource_monitor()
            if monitor is not None:
                self._loop(monitor.run(), f"resources-{name}")
            if service.config.probes:
                service.attach_probes(
                    ServiceProbes(
                        name,
                        service.config.probes,
                        self.clock,
                        service.signal,
                        self._http,
                        service.observe_health,
                        health=service.config.health,
                    )
                )
            try:
                await service.start()
            except ParamedicError as exc:
                await self.stop(f"cannot start service {name}")
                raise LifecycleError(str(exc)) from exc
            if (watch := service.config.watch) is not None:
                pid_file = self._path(watch.pid_file) if watch.pid_file else None
                watched = service.watch(watch.pid, pid_file)
                self._loop(watched.watch_forever(), f"watch-{name}")
        periods: dict[float, list[ServiceRuntime]] = {}
        for service in self.services.values():
            periods.setdefault(service.config.health.evaluate_every, []).append(service)
        for period, group in periods.items():
            self._loop(self._evaluate_forever(period, group), f"evaluate-{period:g}s")
        await self.recorder.record(
            ParamedicStarted(
                at=self.clock.now(), version=__version__, instance=self.instance, pid=os.getpid()
            )
        )
        self.started.set()
        self.sd.ready(f"watching {len(self.services)} services; API {self.api_url_host()}")
        log.info("paramedic started", api=f"http://{self.api_url_host()}", run=self.instance)

    def api_url_host(self) -> str:
        host, port = self.api.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def request_stop(self, reason: str) -> None:
        if not self._stop_requested.is_set():
            self.stop_reason = reason
            self.stop_requested_mono = self.clock.monotonic()
            self._stop_requested.set()

    async def wait_stop_requested(self) -> str:
        await self._stop_requested.wait()
        return self.stop_reason

    async def stop(self, reason: str) -> None:
        """Stop children, API and store; the caller bounds this with the shutdown deadline."""
        log.info("paramedic stopping", reason=reason)
        self.sd.stopping(f"stopping: {reason}")
        for service in self.services.values():
            if service.watchdog is not None:
                service.watchdog.close()
        if self._store_open:
            try:
                await self.recorder.record(ParamedicStopping(at=self.clock.now(), reason=reason))
            except StoreError as exc:
                log.error("could not record shutdown", error=str(exc))
        await self._leave_running()
        if self.heartbeats is not None:
            await self.heartbeats.stop()
        await asyncio.gather(*(s.stop_detectors() for s in self.services.values()))
        await asyncio.gather(*(o.close() for o in self.recovery.values()))
        await asyncio.gather(*(p.stop() for p in self.processes.values()))
        self.api.shutdown()
        # Let the children's exit records finish; a restart waiting out its backoff is
        # pointless now and is cancelled.
        if self._jobs:
            _done, pending = await asyncio.wait(list(self._jobs), timeout=2.0)
            for task in pending:
                task.cancel(msg="paramedic shutting down")
            await asyncio.gather(*pending, return_exceptions=True)
        await self.recorder.drain()
        await self._cancel_loops()
        if self.alerting is not None:
            await self.alerting.close()
        if self._http is not None:
            await self._http.close()
        if self._channels_http is not None:
            await self._channels_http.close()
        self.sd.close()
        self.api.close()
        if self._store_open:
            await self.store.close()
            self._store_open = False

    async def _leave_running(self) -> None:
        """Processes with `keep_running_on_stop` outlive a planned stop, recorded so the next
        start re-adopts them; one whose identity could not be read is stopped as usual."""
        for name, proc in self.processes.items():
            spec = self.config.services[name].process
            assert spec is not None
            identity = proc.identity
            if not spec.keep_running_on_stop or not proc.running or identity is None:
                continue
            if identity.start_time <= 0 or not self._store_open:
                continue
            proc.release()
            try:
                await self.recorder.record(
                    ProcessLeftRunning(
                        at=self.clock.now(),
                        service=name,
                        pid=identity.pid,
                        start_time=identity.start_time,
                        boot_id=identity.boot_id,
                        spawn_id=proc.spawn_id,
                    )
                )
            except StoreError as exc:
                log.error("could not record a process left running", error=str(exc))

    def kill_everything(self) -> None:
        """The deadline passed: no child may outlive paramedic."""
        for proc in self.processes.values():
            proc.kill()

    async def _cancel_loops(self) -> None:
        tasks = list(self._loops)
        for task in tasks:
            task.cancel(msg="paramedic shutting down")
        await asyncio.gather(*tasks, return_exceptions=True)
