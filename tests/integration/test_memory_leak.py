"""Real children, real RSS: a leaking process is convicted with an ETA; a flat one is not."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from paramedic.config.resources import ResourcesConfig
from paramedic.core.clock import SystemClock
from paramedic.detect.resource_monitor import ProcessSample, PsutilProbe, ResourceMonitor
from paramedic.detect.signals import Signal

pytestmark = pytest.mark.integration

# Touch every page (bytearray * n writes them): a calloc'd zero buffer would not be resident.
LEAKY = """
import sys, time
hoard = []
print("ready", flush=True)
while len(hoard) < 150:  # 2 MB every 50 ms, capped at 300 MB
    hoard.append(bytearray(b"\\x01") * 2_000_000)
    time.sleep(0.05)
time.sleep(60)
"""

FLAT = """
import time
ballast = bytearray(b"\\x01") * 50_000_000
print("ready", flush=True)
while True:  # a busy-ish service whose memory does not move
    sum(range(10_000))
    time.sleep(0.01)
"""

CONFIG = {
    "sample_every": "100ms",
    "memory": {
        "window": "2s",
        "min_samples": 10,
        "limit": "1GiB",
        "warn_within": "1m",
        "min_slope": "1MiB/s",
    },
}


@asynccontextmanager
async def child(code: str) -> AsyncIterator[int]:
    """A Python child that has printed "ready"; killed and reaped on the way out."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(10.0):
            assert b"ready\n" == await proc.stdout.readline()
        yield proc.pid
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


class Watch:
    """A monitor on a real pid, with events for its first signal and for N samples taken."""

    def __init__(self, pid: int, samples_wanted: int = 0) -> None:
        self.signals: list[Signal] = []
        self.signalled = asyncio.Event()
        self.sampled = asyncio.Event()
        self.samples_wanted = samples_wanted
        self.costs: list[float] = []
        probe = PsutilProbe()

        def counting_probe(p: int) -> ProcessSample | None:
            got = probe(p)
            if self.monitor.samples >= self.samples_wanted:
                self.sampled.set()
            return got

        self.monitor = ResourceMonitor(
            "engine",
            ResourcesConfig.model_validate(CONFIG),
            SystemClock(),
            self._on_signal,
            lambda: pid,
            process_probe=counting_probe,
        )

    def _on_signal(self, signal: Signal) -> None:
        self.signals.append(signal)
        self.signalled.set()

    async def until(self, event: asyncio.Event) -> None:
        """Run the monitor on the real clock until `event` is set."""
        task = asyncio.create_task(self.monitor.run())
        try:
            await event.wait()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_growing_child_is_convicted_and_flat_child_is_not() -> None:
    """Run both at once: the leaker (40 MB/s) is a memory_leak with a projected time to 1 GiB
    within ~1-2 s; the flat child, watched for 30 samples (two full windows and more), is
    never flagged."""
    async with child(LEAKY) as leaky_pid, child(FLAT) as flat_pid:
        leaky = Watch(leaky_pid)
        flat = Watch(flat_pid, samples_wanted=30)
        async with asyncio.timeout(8.0):
            await asyncio.gather(leaky.until(leaky.signalled), flat.until(flat.sampled))
    assert 1 == len(leaky.signals)
    signal = leaky.signals[0]
    assert ("resource:memory", False, "memory_leak") == (signal.source, signal.ok, signal.kind)
    assert "reaches limit 1 GiB in " in signal.reason, signal.reason
    assert signal.reason.startswith("RSS "), signal.reason
    assert [] == flat.signals, flat.monitor.detectors[0].reason
    # One sample (psutil RSS + CPU of one pid) stays far below a millisecond on the loop.
    assert flat.monitor.last_cost < 0.005
