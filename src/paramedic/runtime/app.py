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
from paramedic.api.app import ApiContext, create_app
from paramedic.api.auth import TokenAuth
from paramedic.api.server import ApiServer
from paramedic.config.model import Config, ServiceConfig
from paramedic.core.bus import EventBus, Published
from paramedic.core.clock import Clock, SystemClock
from paramedic.core.errors import LifecycleError, ParamedicError, StoreError
from paramedic.core.events import ParamedicStarted, ParamedicStopping
from paramedic.core.failures import FailureKind
from paramedic.core.ids import new_id
from paramedic.detect.events import FailureDetected
from paramedic.detect.probes import ServiceProbes
from paramedic.detect.signals import Signal
from paramedic.process.managed import ExitStatus, ManagedProcess
from paramedic.recovery.events import RecoveryStepFinished
from paramedic.recovery.orchestrator import RecoveryOrchestrator
from paramedic.recovery.orchestrator_replay import decode
from paramedic.runtime.checks import CheckRegistry
from paramedic.runtime.deadman import DeadMansSwitch
from paramedic.runtime.heartbeats import Heartbeats
from paramedic.runtime.loop_monitor import LoopMonitor
from paramedic.runtime.metrics import RuntimeCollector
from paramedic.runtime.recorder import OrderedRecorder
from paramedic.runtime.resume import Left, ServiceLeft, folded, read_store
from paramedic.runtime.sdnotify import NOTIFY_ENV_KEYS, SdNotifier
from paramedic.runtime.services import ServiceRuntime
from paramedic.store.protocol import Store, StoredEvent
from paramedic.store.sqlite import SQLiteStore

__all__ = ["Paramedic"]

log = structlog.get_logger("paramedic")


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
        self.bus = EventBus(self.store)
        self.recorder = OrderedRecorder(self.bus)
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
        self.recovery: dict[str, RecoveryOrchestrator] = {}
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
        self._jobs: set[asyncio.Task[None]] = set()  # short: record an exit, ...
        self._loops: set[asyncio.Task[None]] = set()  # long: loop monitor, API server
        self._store_open = False

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
        )
        self._api_context = context
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
        return ManagedProcess(
            name,
            spec.argv,
            clock=self.clock,
            env=env,
            cwd=self._path(spec.cwd) if spec.cwd else self.base_dir,
            log_path=self._path(spec.log_file) if spec.log_file else self.log_dir / f"{name}.log",
            stop_signal=signal.Signals[spec.stop_signal],
            stop_timeout=spec.stop_timeout,
            on_exit=functools.partial(self._on_exit, name),
        )

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
        self.alerting = AlertingService(
            self.config.alerting,
            clock=self.clock,
            store=self.store,
            channels=channels,
            record=self.recorder.submit,
            job=self._job,
            service_facts=self._service_facts,
            dashboard_url=self.config.dashboard_url,
        )
        await self.alerting.start()
        raised, resolved = await self.alerting.catch_up(left.open_failures(), left.cleared)
        if raised or resolved:
            log.warning("alerting caught up after a crash", raised=raised, resolved=resolved)
        self._api_context.alerting = self.alerting
        self._api_context.recovery = self.recovery
        self.bus.add_listener(self.alerting.on_published)
        self._loop(self.alerting.run(), "outbox")

    async def _start_recovery(self, left: Left) -> None:
        """One orchestrator per service with a plan, rebuilt from the timeline first, so an
        incident paramedic died in the middle of resumes (or goes to a human) before any
        detector can open a new one; a failure recorded before the crash whose incident
        never opened is opened now."""
        for name, service in self.services.items():
            plan = service.config.recovery
            if plan is None:
                continue
            events = await self._timeline_of(name)
            for e in events:
                if e.kind == "recovery.step_finished" and e.payload.get("ok"):
                    self._step_history[(name, e.payload["step"])].append(e.payload["duration_s"])
            orchestrator = RecoveryOrchestrator(
                name,
                plan,
                self.config.recovery,
                clock=self.clock,
                record=self.recorder.record,
                hooks=service.hooks(),
                session=self._http,
                step_history=functools.partial(self._past_durations, name),
                base_dir=self.base_dir,
            )
            await orchestrator.rebuild(events)
            failure = left.services.get(name, ServiceLeft()).open_failure
            if failure is not None and not folded(failure, decode(events)):
                await orchestrator.on_failure(failure)  # no-op if its incident opened
            service.attach_recovery(orchestrator)
            self.recovery[name] = orchestrator
        if self.recovery:
            self.bus.add_listener(self._route_to_recovery)

    def _resume_health(self, left: Left) -> None:
        """Each service's open incident and Alertmanager verdicts, as the timeline left them:
        a later resolve in Alertmanager (or the service coming up) clears that incident."""
        now = self.clock.now()
        for name, service in self.services.items():
            found = left.services.get(name)
            if found is None:
                continue
            failing = [
                Signal(name, e.source, False, e.reason, now.mono, cast(FailureKind, e.failure_kind))
                for e in found.failing.values()
            ]
            failure = found.open_failure
            service.health.resume(
                failure.incident if failure is not None else None,
                now.wall - failure.at.wall if failure is not None else 0.0,
                failing,
                now,
            )

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
            try:
                await self.store.ping()
            except StoreError as exc:
                return False, str(exc)
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
            log.error("background task failed", task=task.get_name(), exc_info=exc)
            if isinstance(exc, StoreError):
                self.request_stop(f"store failed: {exc}")

    async def start(self) -> None:
        """Start everything; raise LifecycleError with a one-line reason if anything can't."""
        self.started_mono = self.clock.monotonic()
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
        self._loop(self.loop_monitor.run(), "loop-monitor")
        self._loop(self.sd.run(self._self_alive), "sd-watchdog")
        dms = self.config.self_watch.dead_mans_switch
        if dms is not None or any(s.probes for s in self.config.services.values()):
            # One keep-alive session for the other outbound HTTP calls (probes, the switch).
            self._http = aiohttp.ClientSession()
        left = await read_store(self.store)
        await self._start_alerting(left)
        await self._start_recovery(left)
        self._resume_health(left)
        if dms is not None:
            assert self._http is not None
            self.deadman = DeadMansSwitch(dms, self.clock, self._http, self._self_alive)
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

    def kill_everything(self) -> None:
        """The deadline passed: no child may outlive paramedic."""
        for proc in self.processes.values():
            proc.kill()

    async def _cancel_loops(self) -> None:
        tasks = list(self._loops)
        for task in tasks:
            task.cancel(msg="paramedic shutting down")
        await asyncio.gather(*tasks, return_exceptions=True)
