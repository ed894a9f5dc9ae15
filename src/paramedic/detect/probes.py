"""Probe runners with Kubernetes semantics, turning attempts into `Signal`s.

A runner probes every `period` after `initial_delay`, on the injected `Clock`. Its verdict
starts unknown; `failure_threshold` consecutive failures make it *failed* and
`success_threshold` consecutive successes make it *passing*. A signal is emitted only when the
verdict changes (the first verdict counts as a change, so ServiceHealth learns a probe exists
and is passing), never per attempt: a probe every 500 ms must not flood the timeline.

Failure kinds follow what each role means: a liveness failure is a `hang` (the process is there
but not answering), a readiness failure a `degradation` (alive but not fit to trade), a
startup failure a `crash` (it never came up). As in Kubernetes, the startup probe gates the
others: liveness and readiness do not run until it has succeeded, and it stops once it has.
Unlike Kubernetes, a startup probe that has failed keeps probing: the decision to restart
belongs to recovery, and if the service comes up late the gate opens and an ok signal says so.

A probe with a `startup_grace` (ServiceProbes gives one to liveness and readiness when the
service has no startup probe) holds the failures of a process it has not seen pass once since
its (re)start: that is a boot, not a failure, and it is said so once in the log ("not ready
yet: 1.2 s since start, ..."). If the grace runs out before a first pass, the failure is a
`degradation` whose sentence says the process never passed since it started: the process is
running (an exit would be a crash, seen at once by the watchdog) and was never seen working,
so it did not stop working (a hang, which the watchdog would kill: a slow boot killed in a
loop); "running but not fit to trade" is what is known.

`reset()` is for a process restart: counters and gating begin again, `initial_delay` is counted
from the reset, but the last verdict is kept so that a restart that cures the service emits one
ok signal and a restart that changes nothing emits none.

With `read_health`, the body of an HTTP probe is also read as the seed's `/health` JSON:
each component that turns false (or back to true) emits a `health:<component>` signal, and
every reading is handed to `on_health` for the latency and resource detectors. Components are
presumed healthy until reported otherwise, so a healthy service emits no component signals.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence

import aiohttp
import structlog

from paramedic.checks import CheckAction, CheckResult, HealthReport, describe, run_check
from paramedic.config.checks import HttpCheck
from paramedic.config.probes import HealthReading, ProbeConfig
from paramedic.core.clock import Clock
from paramedic.core.errors import DetectionError
from paramedic.core.text import duration
from paramedic.detect.signals import FailureKind, Signal, SignalSink

__all__ = ["HealthCallback", "ProbeRunner", "ServiceProbes"]

log = logging.getLogger(__name__)
# What an operator reads in paramedic's own log (a boot held), like the watchdog's lines.
slog = structlog.get_logger("paramedic.probes")

HealthCallback = Callable[[str, HealthReport], None]
"""Called with (service, report) on every `/health` reading."""

_ROLE_KIND: dict[str, FailureKind] = {
    "liveness": "hang",
    "readiness": "degradation",
    "startup": "crash",
}


def _build_action(
    probe: ProbeConfig, session: aiohttp.ClientSession | None, now: Callable[[], float]
) -> CheckAction:
    """The attempt a probe config asks for, run by the check kit; HTTP needs the session."""
    check = probe.action
    if isinstance(check, HttpCheck) and session is None:
        msg = f"probe {probe.name}: an http probe needs the shared aiohttp session"
        raise DetectionError(msg)
    return functools.partial(run_check, check, session, now=now)


class ProbeRunner:
    """One probe of one service: its loop, its counters and its verdict.

    `action` replaces the I/O built from the config (tests use a scripted fake); `gate` is an
    event the loop waits on after `initial_delay` (the service's startup probe sets it);
    `on_started` is called when a startup probe has succeeded and stops.
    """

    def __init__(
        self,
        service: str,
        probe_config: ProbeConfig,
        clock: Clock,
        sink: SignalSink,
        session: aiohttp.ClientSession | None,
        on_health: HealthCallback | None = None,
        *,
        health: HealthReading | None = None,
        action: CheckAction | None = None,
        gate: asyncio.Event | None = None,
        on_started: Callable[[], None] | None = None,
        startup_grace: float = 0.0,
    ) -> None:
        self.service = service
        self.config = probe_config
        self._clock = clock
        self._sink = sink
        self._on_health = on_health
        self._health = health or HealthReading()
        self._action = action or _build_action(probe_config, session, clock.monotonic)
        self._gate = gate
        self._on_started = on_started
        self._startup_grace = startup_grace
        self._since = clock.monotonic()  # the (re)start of the process, for the grace
        self._ever_passed = False
        self._held = ""
        self._label = describe(probe_config.action)
        self._source = f"probe:{probe_config.name}"
        self._verdict: bool | None = None
        self._successes = 0
        self._failures = 0
        self._components: dict[str, bool] = {}
        self._last_result: CheckResult | None = None
        self._last_health_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def passing(self) -> bool | None:
        """The verdict: True passing, False failed, None not yet established."""
        return self._verdict

    @property
    def last_result(self) -> CheckResult | None:
        return self._last_result

    @property
    def held(self) -> str:
        """Why failures are being held as a boot (empty when none are)."""
        return self._held

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Begin probing; `initial_delay` counts from now. Needs a running loop."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"probe {self.service}/{self.name}"
        )
        self._tasks.add(self._task)
        self._task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Cancel the loop (a running command is killed with its group) and wait for it."""
        for task in list(self._tasks):
            task.cancel(msg=f"probe {self.service}/{self.name} stopped")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._task = None

    def reset(self, age: float = 0.0) -> None:
        """The process restarted: counters, delay and verdict begin again.

        A new process has to be verified afresh; its first verdict is reported even if it
        equals the old one, which is what tells ServiceHealth the new process passed. `age`
        is how long the process has been running already (one attached to, not spawned): its
        startup grace counts from its real start.
        """
        self._successes = 0
        self._failures = 0
        self._verdict = None
        self._since = self._clock.monotonic() - age
        self._ever_passed = False
        self._held = ""
        if self._task is not None:
            self._task.cancel(msg=f"probe {self.service}/{self.name} reset")
            self._task = None
            self.start()

    async def _loop(self) -> None:
        cfg = self.config
        if cfg.initial_delay > 0:
            await self._clock.sleep(cfg.initial_delay)
        if self._gate is not None:
            await self._gate.wait()
        while True:
            due = self._clock.monotonic() + cfg.period
            await self.run_once()
            if cfg.role == "startup" and self._successes >= cfg.success_threshold:
                if self._on_started is not None:
                    self._on_started()
                return
            delay = due - self._clock.monotonic()
            if delay > 0:
                await self._clock.sleep(delay)

    async def run_once(self) -> CheckResult:
        """One attempt and its bookkeeping; never raises except on cancellation."""
        try:
            async with asyncio.timeout(self.config.timeout):
                result = await self._action()
        except TimeoutError:
            timeout = self.config.timeout
            took = duration(timeout)
            result = CheckResult(False, f"{self._label} timed out after {took}", timeout)
        except Exception as exc:  # an attempt that blows up is a failed attempt
            result = CheckResult(False, f"{self._label} raised {type(exc).__name__}: {exc}", 0.0)
        try:
            self._record(result)
        except Exception:  # a faulty sink or callback must not end the probe loop
            log.exception("probe %s/%s: recording a result failed", self.service, self.name)
        return result

    def _record(self, result: CheckResult) -> None:
        cfg = self.config
        self._last_result = result
        if result.ok:
            self._successes += 1
            self._failures = 0
        else:
            self._failures += 1
            self._successes = 0
        # The specific cause first: "exchange: false" from the body must reach ServiceHealth
        # before the generic "readiness failed" it explains.
        if result.health_error != self._last_health_error:
            self._last_health_error = result.health_error
            if result.health_error is not None:
                log.warning("probe %s/%s: %s", self.service, self.name, result.health_error)
        booting = not self._ever_passed and self._startup_grace > 0
        if result.ok:
            self._ever_passed = True
            self._held = ""
        elif booting and self._hold(result):
            return  # what a booting process's /health says is held with its failure
        if result.health is not None:
            self._read_health(result.health)
        verdict = self._verdict
        if result.ok and self._successes >= cfg.success_threshold:
            verdict = True
        elif not result.ok and self._failures >= cfg.failure_threshold:
            verdict = False
        if verdict is not None and verdict != self._verdict:
            self._verdict = verdict
            self._emit_verdict(verdict, result, booting=booting)

    def _hold(self, result: CheckResult) -> bool:
        """A failure before the first pass: held while the grace lasts (said once per start)."""
        elapsed = self._clock.monotonic() - self._since
        if elapsed >= self._startup_grace:
            return False
        if not self._held:
            cfg = self.config
            state = "ready" if cfg.role == "readiness" else "live"
            self._held = (
                f"not {state} yet: {duration(elapsed)} since start, {cfg.role} probe {cfg.name}:"
                f" {result.sentence} (startup grace {duration(self._startup_grace)})"
            )
            slog.info(f"{self.service}: {self._held}", service=self.service, probe=cfg.name)
        return True

    def _emit_verdict(self, passing: bool, result: CheckResult, *, booting: bool = False) -> None:
        cfg = self.config
        if passing:
            reason = f"{cfg.role} probe {cfg.name} passed: {result.sentence}"
            kind: FailureKind | None = None
        elif booting:
            elapsed = self._clock.monotonic() - self._since
            reason = (
                f"{cfg.role} probe {cfg.name} has not passed once in {duration(elapsed)} since the"
                f" process started (startup grace {duration(self._startup_grace)}):"
                f" {result.sentence}"
            )
            kind = "degradation"
        else:
            reason = (
                f"{cfg.role} probe {cfg.name} failed {self._failures} times in a row:"
                f" {result.sentence}"
            )
            kind = _ROLE_KIND[cfg.role]
        self._sink(
            Signal(
                service=self.service,
                source=self._source,
                ok=passing,
                reason=reason,
                at=self._clock.monotonic(),
                kind=kind,
            )
        )

    def _read_health(self, report: HealthReport) -> None:
        for component, healthy in report.components.items():
            if self._components.get(component, True) == healthy:
                continue
            self._components[component] = healthy
            self._sink(
                Signal(
                    service=self.service,
                    source=f"health:{component}",
                    ok=healthy,
                    reason=f"/health reports {component}: {'true' if healthy else 'false'}",
                    at=report.at,
                    kind=None if healthy else self._health.kind_for(component),
                )
            )
        if self._on_health is not None:
            self._on_health(self.service, report)


class ServiceProbes:
    """A service's probes, with the startup probe gating liveness and readiness."""

    def __init__(
        self,
        service: str,
        probes: Sequence[ProbeConfig],
        clock: Clock,
        sink: SignalSink,
        session: aiohttp.ClientSession | None,
        on_health: HealthCallback | None = None,
        *,
        health: HealthReading | None = None,
        actions: Mapping[str, CheckAction] | None = None,
    ) -> None:
        self.service = service
        self._started = asyncio.Event()
        has_startup = any(p.role == "startup" for p in probes)
        actions = actions or {}
        self.runners: dict[str, ProbeRunner] = {}
        for probe in probes:
            is_startup = probe.role == "startup"
            self.runners[probe.name] = ProbeRunner(
                service,
                probe,
                clock,
                sink,
                session,
                on_health,
                health=health,
                action=actions.get(probe.name),
                gate=self._started if has_startup and not is_startup else None,
                on_started=self._started.set if is_startup else None,
                # A startup probe, when there is one, is the boot's grace for the others.
                startup_grace=0.0 if has_startup else probe.grace,
            )

    @property
    def started(self) -> bool:
        """Whether the startup probe has succeeded since the last (re)start (True if none)."""
        has_startup = any(r.config.role == "startup" for r in self.runners.values())
        return self._started.is_set() or not has_startup

    def start(self) -> None:
        for runner in self.runners.values():
            runner.start()

    async def stop(self) -> None:
        await asyncio.gather(*(runner.stop() for runner in self.runners.values()))

    def reset(self, age: float = 0.0) -> None:
        """The process restarted (`age` seconds ago): startup must succeed again."""
        self._started.clear()
        for runner in self.runners.values():
            runner.reset(age)
