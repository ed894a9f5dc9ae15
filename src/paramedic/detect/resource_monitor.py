"""Sampling one service's resources on its own tick, and routing /health metrics to it.

One sample reads /proc/<pid>/stat and /proc/<pid>/statm through psutil and calls statvfs per
disk: about 0.15 ms in all on the 2 vCPU reference box, once a second, so it runs on the
event loop rather than paying a thread hop. statvfs on a hung network mount would block the
loop: watch local filesystems only.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import psutil

from paramedic.config.resources import (
    CpuConfig,
    MetricThreshold,
    ResourcesConfig,
)
from paramedic.core.clock import Clock
from paramedic.core.errors import DetectionError
from paramedic.detect.resources import (
    DiskDetector,
    MemoryLeakDetector,
    SustainedThreshold,
    Verdict,
)
from paramedic.detect.signals import SignalSink

__all__ = [
    "DiskProbe",
    "DiskUsage",
    "MetricsObserver",
    "ProcessProbe",
    "ProcessSample",
    "PsutilProbe",
    "ResourceMonitor",
    "ResourceMonitors",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """What one look at a process gives: RSS bytes, CPU seconds used so far, start time.

    `started` (the kernel's start time) tells a restarted process from the old one even if
    the pid was reused.
    """

    rss: int
    cpu_seconds: float
    started: float


class DiskUsage(Protocol):
    """The two fields of `shutil.disk_usage` we read."""

    @property
    def total(self) -> int: ...

    @property
    def free(self) -> int: ...


ProcessProbe = Callable[[int], ProcessSample | None]
DiskProbe = Callable[[str], DiskUsage]


class MetricsObserver(Protocol):
    """What a /health probe feeds metrics to (a `ResourceMonitor`, or a router of them)."""

    def observe_metrics(self, service: str, metrics: Mapping[str, float], at: float) -> None: ...


class PsutilProbe:
    """Reads a process through psutil, keeping the `Process` handle while the pid stays."""

    def __init__(self) -> None:
        self._proc: psutil.Process | None = None

    def __call__(self, pid: int) -> ProcessSample | None:
        try:
            if self._proc is None or self._proc.pid != pid:
                self._proc = psutil.Process(pid)
            proc = self._proc
            with proc.oneshot():
                if proc.status() == psutil.STATUS_ZOMBIE:
                    return None
                cpu = proc.cpu_times()
                return ProcessSample(
                    rss=proc.memory_info().rss,
                    cpu_seconds=cpu.user + cpu.system,
                    started=proc.create_time(),
                )
        except psutil.NoSuchProcess:  # includes ZombieProcess
            self._proc = None
            return None
        except psutil.AccessDenied as exc:
            msg = f"cannot read process {pid}: permission denied"
            raise DetectionError(msg) from exc


class ResourceMonitor:
    """Samples one service every `sample_every` and feeds the detectors its config asks for.

    The pid comes from `pid_getter` on every tick (the process supervisor owns it). A new
    pid, or the same pid with a new start time, is a restart: trends and CPU baselines start
    over and any verdict on the old process is cleared, because a restart is not a leak.
    """

    def __init__(
        self,
        service: str,
        config: ResourcesConfig,
        clock: Clock,
        sink: SignalSink,
        pid_getter: Callable[[], int | None],
        *,
        process_probe: ProcessProbe | None = None,
        disk_usage: DiskProbe = shutil.disk_usage,
        cpu_count: int | None = None,
    ) -> None:
        self.service = service
        self.config = config
        self._clock = clock
        self._pid_getter = pid_getter
        self._probe: ProcessProbe = process_probe if process_probe is not None else PsutilProbe()
        self._disk_usage = disk_usage
        self.cpu_count = cpu_count or os.cpu_count() or 1
        self.memory = MemoryLeakDetector(service, config.memory, sink) if config.memory else None
        self.disks = [DiskDetector(service, check, sink) for check in config.disk]
        self.cpu = self._cpu_detector(config.cpu, sink) if config.cpu else None
        self.metrics = {m.name: self._metric_detector(m, sink) for m in config.metrics}
        self.identity: tuple[int, float] | None = None
        self._cpu_base: tuple[float, float] | None = None  # (monotonic, cpu seconds)
        self.last_cost = 0.0
        self.samples = 0
        self.errors = 0
        self.last_error: str | None = None

    def _cpu_detector(self, cfg: CpuConfig, sink: SignalSink) -> SustainedThreshold:
        return SustainedThreshold(
            self.service,
            "resource:cpu",
            label="CPU",
            bound=cfg.max_percent,
            above=True,
            hold=cfg.for_,
            kind="degradation",
            sink=sink,
            unit="%",
        )

    def _metric_detector(self, m: MetricThreshold, sink: SignalSink) -> SustainedThreshold:
        above = m.above is not None
        bound = m.above if m.above is not None else m.below
        assert bound is not None
        return SustainedThreshold(
            self.service,
            f"metric:{m.name}",
            label=m.name,
            bound=bound,
            above=above,
            hold=m.for_,
            kind=m.kind,
            sink=sink,
        )

    @property
    def detectors(self) -> list[Verdict]:
        """Every verdict this monitor keeps, for a status page."""
        found: list[Verdict] = [*self.disks, *self.metrics.values()]
        if self.memory is not None:
            found.insert(0, self.memory)
        if self.cpu is not None:
            found.insert(1 if self.memory else 0, self.cpu)
        return found

    def observe_metrics(self, service: str, metrics: Mapping[str, float], at: float) -> None:
        """Metrics read from the service's /health; names without a threshold are ignored."""
        if service != self.service:
            msg = f"metrics for {service!r} sent to the monitor of {self.service!r}"
            raise DetectionError(msg)
        for name, detector in self.metrics.items():
            value = metrics.get(name)
            if value is not None and math.isfinite(value):
                detector.observe(float(value), at)

    def sample(self) -> None:
        """Take one sample of the process and the disks and feed the detectors.

        Cost measured on the 2 vCPU reference box (Python 3.11, psutil 7.2, under load):
        psutil RSS + CPU + start time of another pid in one `oneshot` ≈ 100 µs median (p99
        ≈ 215 µs; a bare read of /proc/<pid>/statm alone costs ≈ 22 µs here); one
        `shutil.disk_usage` ≈ 4 µs; the detectors ≈ 9 µs (sentences are built only when read
        or signalled). The whole call ≈ 150 µs median, 300 µs p99. `last_cost` holds the
        latest figure in seconds.
        """
        started = time.perf_counter()
        at = self._clock.monotonic()
        self.samples += 1
        if self.memory is not None or self.cpu is not None:
            self._sample_process(at)
        for disk in self.disks:
            try:
                usage = self._disk_usage(str(disk.check.path))
            except OSError as exc:
                self._error(f"disk {disk.check.path}: {exc.strerror or exc}")
                continue
            disk.observe(usage.total, usage.free, at)
        self.last_cost = time.perf_counter() - started

    def _error(self, text: str) -> None:
        self.errors += 1
        if text != self.last_error:  # once per new trouble, not once a second
            log.warning("resource monitor of %s: %s", self.service, text)
        self.last_error = text

    def _sample_process(self, at: float) -> None:
        pid = self._pid_getter()
        sample = self._probe(pid) if pid is not None else None
        if sample is None or pid is None:
            if self.identity is not None:
                self._restart(f"process {self.identity[0]} is gone; resource trends reset", at)
            self.identity = None
            return
        identity = (pid, sample.started)
        if identity != self.identity:
            if self.identity is not None:
                old = self.identity[0]
                self._restart(f"new process {pid} (was {old}): resource trends restarted", at)
            self.identity = identity
        if self.memory is not None:
            self.memory.observe(sample.rss, at)
        if self.cpu is not None:
            base = self._cpu_base
            self._cpu_base = (at, sample.cpu_seconds)
            if base is not None and at > base[0]:
                used = max(0.0, sample.cpu_seconds - base[1])
                percent = 100.0 * used / (at - base[0]) / self.cpu_count
                self.cpu.observe(round(percent, 1), at)

    def _restart(self, reason: str, at: float) -> None:
        self._cpu_base = None
        if self.memory is not None:
            self.memory.reset(reason, at)
        if self.cpu is not None:
            self.cpu.reset(reason, at)

    async def run(self) -> None:
        """Sample on a fixed schedule until cancelled; a failing tick is logged, not fatal."""
        period = self.config.sample_every
        next_at = self._clock.monotonic()
        while True:
            try:
                self.sample()
            except DetectionError as exc:
                self._error(str(exc))
            except Exception as exc:  # the edge of a tick: log it, keep sampling
                text = f"sample failed: {type(exc).__name__}: {exc}"
                if text != self.last_error:
                    log.exception("resource monitor of %s: %s", self.service, text)
                self.errors += 1
                self.last_error = text
            next_at += period
            now = self._clock.monotonic()
            if next_at < now:  # we were stalled: skip the missed ticks, do not burst
                next_at = now + period
            await self._clock.sleep(next_at - now)


class ResourceMonitors:
    """All services' monitors behind one `observe_metrics`, for the /health prober."""

    def __init__(self, monitors: Mapping[str, ResourceMonitor] | None = None) -> None:
        self.by_service: dict[str, ResourceMonitor] = dict(monitors or {})

    def add(self, monitor: ResourceMonitor) -> None:
        self.by_service[monitor.service] = monitor

    def observe_metrics(self, service: str, metrics: Mapping[str, float], at: float) -> None:
        """Route to the service's monitor; a service without thresholds has nothing to do."""
        monitor = self.by_service.get(service)
        if monitor is not None:
            monitor.observe_metrics(service, metrics, at)
