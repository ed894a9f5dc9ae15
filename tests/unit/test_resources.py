"""Resource detectors: config shape, one Signal per change of verdict, sentences people read."""

from __future__ import annotations

import asyncio
import random
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from paramedic.config.resources import (
    ResourcesConfig,
    format_size,
    parse_rate,
    parse_size,
)
from paramedic.core.errors import DetectionError
from paramedic.detect.resource_monitor import ProcessSample, ResourceMonitor, ResourceMonitors
from paramedic.detect.resources import MemoryLeakDetector
from paramedic.detect.signals import Signal
from paramedic.testing import FakeClock

MiB = 1024**2
GiB = 1024**3

EXAMPLE = """
sample_every: 1s
memory:
  window: 5m
  min_samples: 30
  limit: 2GiB
  warn_within: 6h
  min_slope: 1MiB/min
disk:
  - {path: /var/lib/trading, min_free: 10%}
  - {path: /var/log, min_free: 5GiB}
cpu:
  max_percent: 90
  for: 30s
metrics:
  - {name: order_latency_p99_us, above: 1000, for: 5s, kind: degradation}
  - {name: market_data_lag_us, above: 50000, for: 2s}
"""

Usage = namedtuple("Usage", "total used free")


def config(text: str = EXAMPLE, **changes: Any) -> ResourcesConfig:
    data = yaml.safe_load(text)
    data.update(changes)
    return ResourcesConfig.model_validate(data)


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        ResourcesConfig.model_validate(data)
    return [
        ".".join(str(p) for p in e["loc"]) + ": " + e["msg"].removeprefix("Value error, ")
        for e in caught.value.errors()
    ]


# --- config -----------------------------------------------------------------------------


def test_example_yaml_validates_into_seconds_and_bytes() -> None:
    """The documented shape loads; sizes become bytes, rates bytes/s, `for` is read."""
    cfg = config()
    assert cfg.memory is not None
    assert (300.0, 30, 2 * GiB, 6 * 3600.0) == (
        cfg.memory.window,
        cfg.memory.min_samples,
        cfg.memory.limit,
        cfg.memory.warn_within,
    )
    assert MiB / 60 == pytest.approx(cfg.memory.min_slope)
    assert (10.0, None) == (cfg.disk[0].min_free_percent, cfg.disk[0].min_free_bytes)
    assert (None, 5 * GiB) == (cfg.disk[1].min_free_percent, cfg.disk[1].min_free_bytes)
    assert cfg.cpu is not None
    assert (90.0, 30.0) == (cfg.cpu.max_percent, cfg.cpu.for_)
    assert [("order_latency_p99_us", 1000.0, 5.0), ("market_data_lag_us", 50000.0, 2.0)] == [
        (m.name, m.above, m.for_) for m in cfg.metrics
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"memory": {"limit": 2000, "warn_within": "1h"}},
            ["memory.limit: 2000 has no unit; write e.g. 512MiB or 2GiB"],
            id="bare-size",
        ),
        pytest.param(
            {"memory": {"limit": "2 gigs", "warn_within": "1h"}},
            [
                "memory.limit: '2 gigs' is not a size; write it with a unit, e.g. 512MiB, 2GiB"
                " (KiB/MiB/GiB are 1024-based, KB/MB/GB 1000-based)"
            ],
            id="bad-size",
        ),
        pytest.param(
            {"memory": {"limit": "2GiB"}},
            ["memory.warn_within: Field required"],
            id="warn-within-required",
        ),
        pytest.param(
            {"memory": {"limit": "2GiB", "warn_within": "1h", "min_slope": "1MiB"}},
            [
                "memory.min_slope: '1MiB' is not a growth rate; write size/time,"
                " e.g. 1MiB/min, 100KiB/s, 50MB/h"
            ],
            id="rate-without-time",
        ),
        pytest.param(
            {"disk": [{"path": "/data", "min_free": "150%"}]},
            ["disk.0.min_free: '150%': a percentage must be between 0% and 100%"],
            id="percent-over-100",
        ),
        pytest.param(
            {"disk": [{"path": "/data", "min_free": 10}]},
            ["disk.0.min_free: 10 has no unit; write a percentage (10%) or a size (5GiB)"],
            id="bare-min-free",
        ),
        pytest.param(
            {"disk": [{"path": "data", "min_free": "10%"}]},
            ["disk.0.path: data is relative and there is no config folder to resolve it from"],
            id="relative-path",
        ),
        pytest.param(
            {"cpu": {"max_percent": 120, "for": "30s"}},
            ["cpu.max_percent: Input should be less than or equal to 100"],
            id="cpu-over-100",
        ),
        pytest.param(
            {"metrics": [{"name": "lag", "above": 1, "below": 0, "for": "1s"}]},
            ["metrics.0: metric lag: give exactly one of above or below"],
            id="two-bounds",
        ),
        pytest.param(
            {"metrics": [{"name": "lag", "above": 1, "for": "1s", "kind": "oops"}]},
            [
                "metrics.0.kind: Input should be 'crash', 'hang', 'degradation',"
                " 'network_partition', 'memory_leak', 'disk_full' or 'db_connection_loss'"
            ],
            id="unknown-kind",
        ),
        pytest.param(
            {"cpu": {"max_percent": 50}},
            ["cpu.for: Field required"],
            id="cpu-for-required",
        ),
        pytest.param(
            {"disk": [{"path": "/a", "min_free": "1%"}, {"path": "/a", "min_free": "2%"}]},
            [": disk paths must be unique; repeated: /a"],
            id="duplicate-disk",
        ),
        pytest.param(
            {"sample_every": "20s", "memory": {"limit": "1GiB", "warn_within": "1h"}},
            [
                ": memory.window 5 min holds only 16 samples at sample_every 20 s, fewer than"
                " memory.min_samples 30"
            ],
            id="window-too-short",
        ),
    ],
)
def test_config_mistakes_name_the_field(data: dict[str, Any], expected: list[str]) -> None:
    """Each mistake is reported at its key path with a sentence saying what to write."""
    assert expected == errors_of(data)


def test_relative_disk_path_is_taken_from_the_config_folder() -> None:
    """As everywhere in the config, a relative path is relative to the config file's folder."""
    cfg = ResourcesConfig.model_validate(
        {"disk": [{"path": "../var", "min_free": "5%"}]}, context={"base_dir": "/etc/paramedic"}
    )
    assert Path("/etc/var") == cfg.disk[0].path


def test_window_holding_just_enough_samples_is_accepted() -> None:
    """5m at one sample per 10s holds 31 samples: enough for min_samples 30."""
    cfg = ResourcesConfig.model_validate(
        {"sample_every": "10s", "memory": {"limit": "1GiB", "warn_within": "1h"}}
    )
    assert cfg.memory is not None
    assert 30 == cfg.memory.min_samples


def test_sizes_and_rates_parse_both_unit_families() -> None:
    """KiB/MiB/GiB count in 1024s, KB/MB/GB in 1000s; rates take /s, /min, /h."""
    assert [1536, 1000, 5 * 1000**3, 2 * GiB, 7] == [
        parse_size(s) for s in ("1.5KiB", "1KB", "5GB", "2 GiB", "7B")
    ]
    assert [MiB / 60, 100 * 1024, 50e6 / 3600] == pytest.approx(
        [parse_rate(s) for s in ("1MiB/min", "100KiB/s", "50MB/h")]
    )
    assert ["812 MiB", "2 GiB", "4.2 MiB", "512 B", "1.5 GiB", "-3 MiB"] == [
        format_size(n) for n in (812 * MiB, 2 * GiB, 4.2 * MiB, 512, 1.5 * GiB, -3 * MiB)
    ]


# --- memory -----------------------------------------------------------------------------


def memory_detector(signals: list[Signal], **changes: Any) -> MemoryLeakDetector:
    cfg = config(**changes)
    assert cfg.memory is not None
    return MemoryLeakDetector("engine", cfg.memory, signals.append)


def test_steady_leak_is_convicted_once_with_the_time_left() -> None:
    """4 MiB/min from 800 MiB: one memory_leak signal at half a window, naming the ETA."""
    signals: list[Signal] = []
    detector = memory_detector(signals)
    for i in range(600):
        detector.observe(800 * MiB + 4 * MiB * i / 60, at=1000.0 + i)
    assert 1 == len(signals)
    signal = signals[0]
    assert ("engine", "resource:memory", False, "memory_leak", 1150.0) == (
        signal.service,
        signal.source,
        signal.ok,
        signal.kind,
        signal.at,
    )
    # At t=150 s RSS is 810 MiB; (2048 - 810) / 4 = 309.5 min to go.
    assert (
        "RSS 810 MiB growing 4 MiB/min (R² 1.00); reaches limit 2 GiB in 5 h 9 min" == signal.reason
    )


def test_leak_that_stops_clears_once() -> None:
    """When growth stops, the verdict goes back to ok once the window forgets the climb."""
    signals: list[Signal] = []
    detector = memory_detector(signals)
    for i in range(300):
        detector.observe(800 * MiB + 4 * MiB * i / 60, at=float(i))
    plateau = 800 * MiB + 4 * MiB * 299 / 60
    for i in range(300, 900):
        detector.observe(plateau, at=float(i))
    assert [(False, "memory_leak"), (True, None)] == [(s.ok, s.kind) for s in signals]
    # Hysteresis: it clears when the limit is beyond twice warn_within, not at the first wobble.
    assert (
        "RSS 820 MiB growing 1.7 MiB/min (R² 0.75); reaches limit 2 GiB in 12 h,"
        " beyond the 6 h warning"
    ) == signals[1].reason


def test_noisy_flat_memory_is_not_a_leak() -> None:
    """±20 MiB of noise around 800 MiB has a slope now and then but no fit: no signal."""
    rng = random.Random(11)
    signals: list[Signal] = []
    detector = memory_detector(signals)
    for i in range(1200):
        detector.observe(800 * MiB + rng.gauss(0, 20 * MiB), at=float(i))
    assert [] == signals


def test_slow_growth_far_from_the_limit_is_not_convicted() -> None:
    """Growing 2 MiB/min, 2 GiB is ~10 h away: beyond warn_within 6h, so no signal yet."""
    signals: list[Signal] = []
    detector = memory_detector(signals)
    for i in range(600):
        detector.observe(800 * MiB + 2 * MiB * i / 60, at=float(i))
    assert [] == signals
    assert "beyond the 6 h warning" in detector.reason


def test_warm_up_shorter_than_half_a_window_is_not_judged() -> None:
    """A start-up climb over the first two minutes of a 5 min window convicts nobody."""
    signals: list[Signal] = []
    detector = memory_detector(signals)
    for i in range(120):
        detector.observe(100 * MiB + 10 * MiB * i, at=float(i))
    assert [] == signals


def test_over_the_limit_is_convicted_even_when_flat() -> None:
    """RSS already above the limit is a memory problem whatever its slope."""
    signals: list[Signal] = []
    detector = memory_detector(signals)
    for i in range(200):
        detector.observe(2.5 * GiB, at=float(i))
    assert ["RSS 2.5 GiB is over the limit 2 GiB"] == [s.reason for s in signals]


# --- the monitor: process, cpu, disk ----------------------------------------------------


class FakeProcess:
    """A process whose RSS and CPU seconds the test sets before each sample."""

    def __init__(self) -> None:
        self.pid: int | None = 100
        self.started = 1.0
        self.rss = 800 * MiB
        self.cpu_seconds = 0.0

    def probe(self, pid: int) -> ProcessSample | None:
        if pid != self.pid:
            return None
        return ProcessSample(self.rss, self.cpu_seconds, self.started)


def monitor(
    signals: list[Signal],
    clock: FakeClock,
    proc: FakeProcess,
    disks: dict[str, Any] | None = None,
    text: str = EXAMPLE,
) -> ResourceMonitor:
    def disk_usage(path: str) -> Any:
        value = (disks or {}).get(path, Usage(100 * GiB, 0, 50 * GiB))
        if isinstance(value, Exception):
            raise value
        return value

    return ResourceMonitor(
        "engine",
        config(text),
        clock,
        signals.append,
        lambda: proc.pid,
        process_probe=proc.probe,
        disk_usage=disk_usage,
        cpu_count=2,
    )


def leak_until_convicted(mon: ResourceMonitor, clock: FakeClock, proc: FakeProcess) -> None:
    for _ in range(200):
        proc.rss += 4 * MiB // 60
        mon.sample()
        clock.advance(1.0)


def test_new_pid_after_restart_resets_the_trend_and_clears_the_leak() -> None:
    """A restart is not a leak: the verdict clears once and the trend starts over."""
    signals: list[Signal] = []
    clock, proc = FakeClock(), FakeProcess()
    mon = monitor(signals, clock, proc)
    leak_until_convicted(mon, clock, proc)
    assert ["memory_leak"] == [s.kind for s in signals]
    proc.pid, proc.rss = 200, 300 * MiB
    mon.sample()
    assert 2 == len(signals)
    assert (True, "new process 200 (was 100): resource trends restarted") == (
        signals[1].ok,
        signals[1].reason,
    )
    assert mon.memory is not None
    assert 1 == len(mon.memory.trend)


def test_same_pid_with_a_new_start_time_is_a_new_process() -> None:
    """A reused pid is told apart by the kernel start time: the trend is reset all the same."""
    signals: list[Signal] = []
    clock, proc = FakeClock(), FakeProcess()
    mon = monitor(signals, clock, proc)
    leak_until_convicted(mon, clock, proc)
    proc.started = 99.0
    mon.sample()
    assert [False, True] == [s.ok for s in signals]
    assert (100, 99.0) == mon.identity


def test_process_gone_clears_and_forgets() -> None:
    """No pid (or a pid that vanished) clears the old verdict; the watchdog owns crashes."""
    signals: list[Signal] = []
    clock, proc = FakeClock(), FakeProcess()
    mon = monitor(signals, clock, proc)
    leak_until_convicted(mon, clock, proc)
    proc.pid = None
    mon.sample()
    mon.sample()
    assert [(False, "memory_leak"), (True, None)] == [(s.ok, s.kind) for s in signals]
    assert "process 100 is gone; resource trends reset" == signals[1].reason
    assert mon.identity is None


def test_cpu_held_high_for_the_hold_time_is_degradation() -> None:
    """1.9 CPU-s per second on 2 cores is 95%: after 30 s above 90% one signal; then ok."""
    signals: list[Signal] = []
    clock, proc = FakeClock(), FakeProcess()
    text = "sample_every: 1s\ncpu: {max_percent: 90, for: 30s}\n"
    mon = monitor(signals, clock, proc, text=text)
    mon.sample()  # the baseline: CPU is a rate between two samples
    for _ in range(40):
        clock.advance(1.0)
        proc.cpu_seconds += 1.9
        mon.sample()
    assert [("resource:cpu", "degradation", "CPU 95% > 90% for 30 s")] == [
        (s.source, s.kind, s.reason) for s in signals
    ]
    clock.advance(1.0)
    proc.cpu_seconds += 0.2
    mon.sample()
    assert (True, "CPU 10% back under 90%") == (signals[-1].ok, signals[-1].reason)
    assert 2 == len(signals)


def test_disk_below_min_free_and_back() -> None:
    """4.1% free against 10% is disk_full once; freed space clears; a read error is counted."""
    signals: list[Signal] = []
    clock, proc = FakeClock(), FakeProcess()
    disks: dict[str, Any] = {"/var/lib/trading": Usage(100 * GiB, 0, int(4.1 * GiB))}
    mon = monitor(
        signals, clock, proc, disks=disks, text="disk: [{path: /var/lib/trading, min_free: 10%}]"
    )
    mon.sample()
    mon.sample()
    disks["/var/lib/trading"] = OSError(5, "Input/output error")
    mon.sample()
    disks["/var/lib/trading"] = Usage(100 * GiB, 0, 40 * GiB)
    mon.sample()
    assert [
        (False, "disk_full", "disk /var/lib/trading 4.1% free, 4.1 GiB of 100 GiB (min 10%)"),
        (True, None, "disk /var/lib/trading 40.0% free, 40 GiB of 100 GiB (min 10%)"),
    ] == [(s.ok, s.kind, s.reason) for s in signals]
    assert (1, "disk /var/lib/trading: Input/output error") == (mon.errors, mon.last_error)


def test_disk_min_free_as_a_size() -> None:
    """min_free 5GiB: 3 GiB left is disk_full whatever the percentage."""
    signals: list[Signal] = []
    clock, proc = FakeClock(), FakeProcess()
    disks = {"/var/log": Usage(10 * GiB, 0, 3 * GiB)}
    mon = monitor(
        signals, clock, proc, disks=disks, text="disk: [{path: /var/log, min_free: 5GiB}]"
    )
    mon.sample()
    assert ["disk /var/log 3 GiB free, 30.0% of 10 GiB (min 5 GiB)"] == [s.reason for s in signals]


# --- metric thresholds ------------------------------------------------------------------


def test_metric_above_for_its_hold_time_signals_once_and_clears() -> None:
    """p99 above 1000 µs for 5 s is degradation, said once; back under clears it."""
    signals: list[Signal] = []
    clock, proc = FakeClock(), FakeProcess()
    mon = monitor(signals, clock, proc)
    for i in range(8):
        mon.observe_metrics("engine", {"order_latency_p99_us": 5012, "other": 1}, at=100.0 + i)
    mon.observe_metrics("engine", {"order_latency_p99_us": 640}, at=108.0)
    assert [
        ("metric:order_latency_p99_us", False, "degradation", 105.0,
         "order_latency_p99_us 5012 > 1000 for 5 s"),
        ("metric:order_latency_p99_us", True, None, 108.0,
         "order_latency_p99_us 640 back under 1000"),
    ] == [(s.source, s.ok, s.kind, s.at, s.reason) for s in signals]  # fmt: skip


def test_metric_spikes_shorter_than_the_hold_time_are_ignored() -> None:
    """Above, below, above: each dip restarts the count, so nothing is convicted."""
    signals: list[Signal] = []
    clock, proc = FakeClock(), FakeProcess()
    mon = monitor(signals, clock, proc)
    for i in range(20):
        lag = 90_000.0 if i % 2 == 0 else 10.0
        mon.observe_metrics("engine", {"market_data_lag_us": lag}, at=float(i))
    assert [] == signals


def test_metrics_routed_by_service_and_refused_at_the_wrong_monitor() -> None:
    """The router feeds each service's monitor; a monitor refuses another service's metrics."""
    signals: list[Signal] = []
    clock, proc = FakeClock(), FakeProcess()
    mon = monitor(signals, clock, proc)
    router = ResourceMonitors()
    router.add(mon)
    router.observe_metrics("engine", {"market_data_lag_us": 60_000}, at=0.0)
    router.observe_metrics("engine", {"market_data_lag_us": 60_000}, at=2.0)
    router.observe_metrics("gateway", {"market_data_lag_us": 60_000}, at=2.0)
    assert ["market_data_lag_us 60000 > 50000 for 2 s"] == [s.reason for s in signals]
    with pytest.raises(DetectionError, match="'gateway' sent to the monitor of 'engine'"):
        mon.observe_metrics("gateway", {}, at=3.0)


async def test_run_samples_on_the_clock_schedule() -> None:
    """run() takes a sample at start and one per sample_every of the injected clock."""
    signals: list[Signal] = []
    clock, proc = FakeClock(), FakeProcess()
    mon = monitor(signals, clock, proc)
    task = asyncio.create_task(mon.run())
    await asyncio.sleep(0)
    for _ in range(5):
        clock.advance(1.0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 6 == mon.samples
