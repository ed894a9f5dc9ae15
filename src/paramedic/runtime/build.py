"""The composition root: every component of one paramedic, constructed from its `Config`.

`build` only constructs and wires: nothing is opened, bound, started or read here (the
store opens, sockets bind and the timeline is read in `runtime/app.py`'s start-up phases).
What each room is handed is decided here and nowhere else, so the API gets its whole
context at construction and no component is patched after it was made.

Called in the event loop that will run the result: aiohttp binds its session to it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import structlog
from prometheus_client import CollectorRegistry

from paramedic import __version__
from paramedic.alerting.channels import Channel, build_channels
from paramedic.alerting.channels.log import LogChannel
from paramedic.alerting.service import AlertingService
from paramedic.alerting.silence_admin import SilenceAdmin
from paramedic.api.app import ApiContext, create_app
from paramedic.api.auth import TokenAuth
from paramedic.api.readiness import CheckRegistry
from paramedic.api.server import ApiServer
from paramedic.checks import HttpPool
from paramedic.config.model import Config, ServiceConfig
from paramedic.core.bus import EventBus, Published
from paramedic.core.clock import Clock, SystemClock
from paramedic.core.errors import StoreError
from paramedic.core.ids import new_id
from paramedic.detect.probes import ServiceProbes
from paramedic.detect.signals import Signal
from paramedic.process.ledger import CommandLedger
from paramedic.process.managed import ExitStatus, ManagedProcess
from paramedic.recovery.orchestrator import RecoveryOrchestrator
from paramedic.recovery.plain import IncidentOwner, PlainIncidents
from paramedic.runtime.adoption import supervisor_token
from paramedic.runtime.deadman import DeadMansSwitch
from paramedic.runtime.drill_schedule import DrillScheduler
from paramedic.runtime.drills import Drills
from paramedic.runtime.emergency import EmergencyPager
from paramedic.runtime.heartbeats import Heartbeats
from paramedic.runtime.loop_monitor import LoopMonitor
from paramedic.runtime.metrics import register_collectors
from paramedic.runtime.preflight import Preflight
from paramedic.runtime.processes import log_files, managed_process, resolve
from paramedic.runtime.recorder import OrderedRecorder
from paramedic.runtime.sdnotify import SdNotifier
from paramedic.runtime.selfcheck import add_checks, health_metrics
from paramedic.runtime.services import ServiceRuntime
from paramedic.runtime.store_trouble import StoreTrouble
from paramedic.runtime.tasks import Tasks
from paramedic.runtime.test_pages import TestPageScheduler
from paramedic.store.protocol import Store
from paramedic.store.sqlite import SQLiteStore

__all__ = ["Parts", "StepHistory", "build"]

log = structlog.get_logger("paramedic")

StepHistory = dict[tuple[str, str], list[float]]  # (service, step) -> past durations, s


@dataclass(eq=False)
class Parts:
    """One paramedic, constructed and wired, not started."""

    config: Config
    base_dir: Path
    clock: Clock
    instance: str  # tells one run from the next on the timeline
    store: Store
    supervisor: str  # the token in every child's environment: which paramedic started it
    commands: CommandLedger
    bus: EventBus
    trouble: StoreTrouble
    recorder: OrderedRecorder
    tasks: Tasks
    loop_monitor: LoopMonitor
    sd: SdNotifier
    http: aiohttp.ClientSession | None  # probes, the dead man's switch, recovery checks
    channels_http: HttpPool | None  # the channels' lean keep-alive pool
    emergency: EmergencyPager
    alerting: AlertingService
    silences: SilenceAdmin
    processes: dict[str, ManagedProcess]
    services: dict[str, ServiceRuntime]
    probes: dict[str, ServiceProbes]
    heartbeats: Heartbeats | None
    recovery: dict[str, RecoveryOrchestrator]
    plain: dict[str, PlainIncidents]  # services without a plan: incidents only
    incident_owners: dict[str, IncidentOwner]  # both, for the API
    step_history: StepHistory
    deadman: DeadMansSwitch | None
    checks: CheckRegistry
    registry: CollectorRegistry
    api_auth: TokenAuth  # its refusal counts are a metric
    api: ApiServer
    drills: Drills
    preflight: Preflight
    test_pages: TestPageScheduler
    drill_schedule: DrillScheduler
    started: asyncio.Event = field(default_factory=asyncio.Event)
    started_mono: float = 0.0  # reset when the start begins: uptime counts from there
    facts_dir: Path | None = None  # the steps' facts files, swept at start (readopt.py)

    def path(self, path: Path) -> Path:
        """Relative paths in the config are relative to the config file's folder."""
        return resolve(self.base_dir, path)

    def store_failed(self, exc: StoreError) -> None:
        """A write outside the timeline (an alert row, a probe) was refused."""
        began = self.trouble.failed(exc)
        if began is not None:
            self.recorder.submit([began])
        else:
            log.debug("store write refused while degraded", error=str(exc))

    async def close_clients(self) -> None:
        """Close the outbound HTTP clients `build` made (whether or not anything started)."""
        if self.http is not None:
            await self.http.close()
        if self.channels_http is not None:
            await self.channels_http.close()


def build(
    config: Config, *, base_dir: Path, clock: Clock | None = None, store: Store | None = None
) -> Parts:
    """Construct every component of one paramedic from `config` (paths relative to
    `base_dir`); `clock` and `store` may be given (tests)."""
    clock = clock or SystemClock()
    store_path = resolve(base_dir, config.store.path)
    store = store or SQLiteStore(store_path, synchronous=config.store.synchronous)
    log_dir = store_path.parent / "logs"
    facts_dir = store_path.with_name(store_path.name + ".facts")  # steps' facts files
    supervisor = supervisor_token(store_path)
    bus = EventBus(store)
    trouble = StoreTrouble(f"store {store_path}", clock)
    recorder = OrderedRecorder(bus, store, trouble, backlog_limit=config.store.degraded_backlog)
    # Late-bound: the callbacks below are called once running, when `parts` exists.
    parts: Parts
    tasks = Tasks(on_store_error=lambda exc: parts.store_failed(exc))
    loop_monitor = LoopMonitor(clock, stale_after=config.self_watch.loop_stall_bound)

    def log_path(name: str, svc: ServiceConfig) -> Path:
        spec = svc.process
        assert spec is not None
        return resolve(base_dir, spec.log_file) if spec.log_file else log_dir / f"{name}.log"

    services: dict[str, ServiceRuntime] = {}  # filled below; exits come once running
    processes = {
        name: managed_process(
            name,
            svc,
            clock,
            supervisor,
            base_dir,
            log_path(name, svc),
            on_exit=functools.partial(_exited, services, tasks, name),
        )
        for name, svc in config.services.items()
        if svc.process
    }

    def upstream_down(depends_on: list[str]) -> list[str]:
        return [d for d in depends_on if services[d].health.state == "down"]

    for name, svc in config.services.items():
        services[name] = ServiceRuntime(
            name,
            svc,
            clock=clock,
            recorder=recorder,
            job=tasks.job,
            process=processes.get(name),
            upstream_down=functools.partial(upstream_down, svc.depends_on),
        )
    heartbeats = None
    if config.heartbeat is not None:
        heartbeats = Heartbeats(
            config, clock=clock, services=services, recorder=recorder, loop_monitor=loop_monitor
        )
    dms = config.self_watch.dead_mans_switch
    http = None
    if dms is not None or any(s.probes for s in config.services.values()):
        # One keep-alive session for the other outbound HTTP calls (probes, the switch).
        http = aiohttp.ClientSession()
    channels: dict[str, Channel] = {}
    channels_http = None
    if config.channels:
        # Channels get their own lean keep-alive pool (a third of aiohttp's CPU per POST,
        # measured); probes and the dead man's switch keep the aiohttp session.
        channels_http = HttpPool()
        channels = build_channels(config.channels, channels_http)
    channels.setdefault("log", LogChannel("log"))
    emergency = EmergencyPager(
        {n: channels[n] for n in config.alerting.store_failure_channels},
        trouble,
        clock,
        submit=recorder.submit,
        job=tasks.job,
    )

    drills = Drills(
        config,
        clock=clock,
        bus=bus,
        record=recorder.record,
        store=store,
        pid_of=lambda name: services[name].pid,
        session=lambda: http,
    )

    def service_facts(name: str) -> tuple[int | None, dict[str, str], str]:
        svc = config.services.get(name)
        if svc is None:
            return None, {}, ""
        return svc.tier, {**svc.labels, **drills.labels(name)}, svc.runbook

    def has_plan(name: str) -> bool:
        svc = config.services.get(name)
        return svc is not None and svc.recovery is not None

    def manual_runbook(name: str) -> str:
        svc = config.services.get(name)
        plan = svc.recovery if svc is not None else None
        return (plan.methods.manual.runbook or "") if plan is not None else ""

    alerting = AlertingService(
        config.alerting,
        clock=clock,
        store=store,
        channels=channels,
        submit=recorder.submit,
        job=tasks.job,
        service_facts=service_facts,
        # Without a dashboard of the user's, a page links the console's incident page.
        dashboard_url=config.dashboard_url
        or f"{_api_url(config.api.host, config.api.port)}/#incident={{incident}}",
        api_url=_api_url(config.api.host, config.api.port),
        approvers=config.recovery.approval.approvers,
        depends_on={name: svc.depends_on for name, svc in config.services.items()},
        planned=has_plan,
        manual_runbook=manual_runbook,
        target_rto_s=config.recovery.target_rto,
        timeline=store,
    )
    silences = SilenceAdmin(alerting, store, clock, tasks.job)
    step_history: StepHistory = defaultdict(list)
    recovery: dict[str, RecoveryOrchestrator] = {}
    plain: dict[str, PlainIncidents] = {}
    for name, service in services.items():
        plan = service.config.recovery
        if plan is None:
            plain[name] = PlainIncidents(
                name,
                clock=clock,
                record=recorder.record,
                is_up=functools.partial(lambda s: s.health.state == "up", service),
            )
            continue
        hooks = service.hooks()
        hooks.log_files = functools.partial(log_files, config, name, log_path)
        hooks.facts_dir = facts_dir
        recovery[name] = RecoveryOrchestrator(
            name,
            plan,
            config.recovery,
            clock=clock,
            record=recorder.record,
            hooks=hooks,
            session=http,
            step_history=functools.partial(_past_durations, step_history, name),
            base_dir=base_dir,
            snapshot_dir=log_dir.parent / "snapshots",
        )
    probes = {
        name: ServiceProbes(
            name,
            service.config.probes,
            clock,
            service.signal,
            http,
            service.observe_health,
            health=service.config.health,
        )
        for name, service in services.items()
        if service.config.probes
    }
    for service in services.values():
        service.make_resource_monitor()
    deadman = None
    if dms is not None:
        assert http is not None

        def switch_alive() -> bool:
            # The switch beats only while paramedic can also record: with the store degraded
            # it falls silent, so the watcher off this host pages (sd_notify's watchdog keeps
            # pinging: a restart would not bring the disk back).
            return loop_monitor.alive()[0] and not trouble.degraded

        deadman = DeadMansSwitch(dms, clock, http, switch_alive)
    registry = CollectorRegistry()
    checks = CheckRegistry()
    auth = TokenAuth(config.api.tokens, read_requires_token=config.api.read_requires_token)

    def external_signal(service: str, signal: Signal) -> bool:
        """A signal from outside (an Alertmanager webhook): routed like any detector's."""
        runtime = services.get(service)
        if runtime is None:
            return False
        runtime.signal(signal)
        return True

    incident_owners: dict[str, IncidentOwner] = {**plain, **recovery}
    preflight = Preflight(
        config,
        clock=clock,
        store=store,
        alerting=alerting,
        services=services,
        last_drill=drills.last_success,
        session=lambda: http,
        api_url=lambda: _local_url(parts.api.address),
    )
    context = ApiContext(
        clock=clock,
        store=store,
        bus=bus,
        checks=checks,
        registry=registry,
        auth=auth,
        version=__version__,
        health_metrics=lambda: health_metrics(parts),
        alerting=alerting,
        silences=silences,
        recovery={name: incident_owners[name] for name in services},
        signal_sink=external_signal,
        inputs_durable=recorder.flush,
        known_services=frozenset(config.services),
        service_up=lambda name: services[name].health.state == "up",
        max_body_bytes=config.api.max_body_size,
        target_rto_s=config.recovery.target_rto,
        drills=drills,
        preflight=preflight,
        health_readings={name: service.reading for name, service in services.items()},
        metric_limits={
            name: svc.resources.metrics if svc.resources else []
            for name, svc in config.services.items()
        },
    )
    parts = Parts(
        config=config,
        base_dir=base_dir,
        clock=clock,
        instance=new_id("run_"),
        store=store,
        supervisor=supervisor,
        commands=CommandLedger(store_path.with_name(store_path.name + ".commands")),
        bus=bus,
        trouble=trouble,
        recorder=recorder,
        tasks=tasks,
        loop_monitor=loop_monitor,
        sd=SdNotifier(os.environ, clock),
        http=http,
        channels_http=channels_http,
        emergency=emergency,
        alerting=alerting,
        silences=silences,
        processes=processes,
        services=services,
        probes=probes,
        heartbeats=heartbeats,
        recovery=recovery,
        plain=plain,
        incident_owners=context.recovery,
        step_history=step_history,
        deadman=deadman,
        checks=checks,
        registry=registry,
        api_auth=auth,
        api=ApiServer(create_app(context), config.api.host, config.api.port),
        drills=drills,
        preflight=preflight,
        test_pages=TestPageScheduler(
            config,
            clock=clock,
            store=store,
            alerting=alerting,
            loop=tasks.loop,
            record=recorder.record,
        ),
        drill_schedule=DrillScheduler(
            config,
            clock=clock,
            drills=drills,
            loop=tasks.loop,
            record=recorder.record,
            store=store,
        ),
        started_mono=clock.monotonic(),
        facts_dir=facts_dir,
    )
    bus.add_listener(_log_event)
    register_collectors(registry, parts, clock.monotonic)
    add_checks(parts)
    return parts


def _exited(services: dict[str, ServiceRuntime], tasks: Tasks, name: str, st: ExitStatus) -> None:
    tasks.job(services[name].process_exited(st))


def _log_event(published: Published) -> None:
    """Every recorded event is one log line: the sentence a person reads, and its kind."""
    event = published.event
    log.info(event.summary(), kind=event.kind, seq=published.seq)


def _past_durations(history: StepHistory, service: str, step: str) -> list[float]:
    return list(history.get((service, step), ()))


def _local_url(address: tuple[str, int]) -> str:
    """The API as this process reaches itself (a wildcard address through loopback)."""
    host, port = address
    if host in ("0.0.0.0", ""):  # noqa: S104 (naming the wildcard, not binding it)
        host = "127.0.0.1"
    elif host == "::" or ":" in host:
        host = "[::1]" if host == "::" else f"[{host}]"
    return f"http://{host}:{port}"


def _api_url(host: str, port: int) -> str:
    """Where a person (the approval page's CLI command, its API call) reaches the API: a
    wildcard address is reached by this machine's name."""
    if host in ("0.0.0.0", "::"):  # noqa: S104 (naming the wildcard, not binding it)
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
