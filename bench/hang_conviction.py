"""How late is a hang convicted? Real sender process, real UDP, real event loop.

A child process runs ``paramedic.client.HeartbeatSender`` (100 ms) and calls ``beat()`` in a
loop; this process runs ``HeartbeatReceiver`` + ``HeartbeatMonitor`` on ``SystemClock``
(uvloop when importable) on 127.0.0.1. Each trial lets it beat for a random 50-150 ms (so the
stop lands at a random phase of the heartbeat), SIGSTOPs it, and measures

    delay = conviction time - (receive time of the last heartbeat + timeout)

then SIGCONTs it and waits for the recovery signal. In the same run, a reference monitor polls
the last receive time every 100 ms (the usual "check every interval" design) and its delay is
measured on the same stops. Usage: python bench/hang_conviction.py [--trials N]
[--detector timeout|phi] [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import time

from paramedic.core.clock import SystemClock
from paramedic.detect.failure_detector import (
    FailureDetector,
    PhiAccrualDetector,
    TimeoutDetector,
)
from paramedic.detect.heartbeat import HeartbeatReceiver
from paramedic.detect.heartbeat_monitor import HeartbeatMonitor
from paramedic.detect.signals import Signal
from paramedic.wire import Heartbeat, KeyRing

SERVICE = "engine"
INTERVAL = 0.1
TIMEOUT = 0.3
POLL = 0.1

CHILD = """
import sys, time
from paramedic.client import HeartbeatSender
sender = HeartbeatSender("127.0.0.1", int(sys.argv[1]), "engine", bytes.fromhex(sys.argv[2]),
                         interval=0.1, stall_after=30.0)
sender.start()
while True:
    sender.beat()
    time.sleep(0.001)
"""


class Recorder:
    """Signals as they come, with a future the trial loop awaits for the next one it wants."""

    def __init__(self) -> None:
        self.signals: list[Signal] = []
        self.waiting: tuple[bool, asyncio.Future[Signal]] | None = None

    def __call__(self, sig: Signal) -> None:
        self.signals.append(sig)
        if sig.source != "heartbeat" or self.waiting is None:
            return
        ok, future = self.waiting
        if sig.ok is ok and not future.done():
            future.set_result(sig)

    async def next(self, ok: bool, within: float) -> Signal:
        future: asyncio.Future[Signal] = asyncio.get_running_loop().create_future()
        self.waiting = (ok, future)
        try:
            async with asyncio.timeout(within):
                return await future
        finally:
            self.waiting = None


class LastReceived:
    """The receive time of the newest heartbeat, stamped before the monitor sees it."""

    def __init__(self, monitor: HeartbeatMonitor) -> None:
        self.at: float | None = None
        self._monitor = monitor

    def __call__(self, beat: Heartbeat) -> None:
        self.at = time.monotonic()
        self._monitor.on_beat(beat, self.at)


async def poller(last: LastReceived, seen: asyncio.Future[float], phase: float) -> None:
    """Reference: the check-every-interval monitor; records its first conviction per stop.

    Restarted at a random phase for every stop: a real poller's phase has nothing to do
    with when a service hangs (here SIGCONT would otherwise lock the sender to it).
    """
    await asyncio.sleep(phase)
    while True:
        await asyncio.sleep(POLL)
        now = time.monotonic()
        if last.at is not None and now - last.at >= TIMEOUT:
            seen.set_result(now)
            return


def summary(name: str, values_ms: list[float]) -> str:
    q = statistics.quantiles(values_ms, n=100, method="inclusive")
    return (
        f"{name:<38} {len(values_ms):>6} {statistics.fmean(values_ms):>8.2f} {q[49]:>8.2f} "
        f"{q[98]:>8.2f} {max(values_ms):>8.2f} {min(values_ms):>8.2f}"
    )


async def bench(trials: int, detector_name: str) -> None:
    clock = SystemClock()
    recorder = Recorder()
    monitor = HeartbeatMonitor(clock, recorder)
    detector: FailureDetector = (
        TimeoutDetector(TIMEOUT) if detector_name == "timeout" else PhiAccrualDetector(INTERVAL)
    )
    monitor.add_service(SERVICE, detector, INTERVAL, startup_grace=10.0)
    key = os.urandom(32)
    last = LastReceived(monitor)
    receiver = HeartbeatReceiver(
        KeyRing({SERVICE: {0: key}}), host="127.0.0.1", port=0, on_beat=last
    )
    await receiver.start()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(receiver.address[1]),
        key.hex(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    poll_task: asyncio.Task[None] | None = None
    delays: list[float] = []
    poll_delays: list[float] = []
    detection: list[float] = []
    rng = random.Random(1)
    try:
        await recorder.next(True, 10.0)
        for _ in range(trials):
            await asyncio.sleep(rng.uniform(0.05, 0.15))
            seen: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            poll_task = asyncio.create_task(poller(last, seen, rng.uniform(0.0, POLL)))
            os.kill(child.pid, signal.SIGSTOP)
            convicted = await recorder.next(False, 5.0)
            last_rx = last.at
            assert last_rx is not None
            if detector_name == "timeout":
                expected = last_rx + TIMEOUT
            else:
                deadline = detector.deadline()
                assert deadline is not None
                expected = deadline
            delays.append((convicted.at - expected) * 1000)
            detection.append((convicted.at - last_rx) * 1000)
            # Let the reference poller see this silence too before resuming the child.
            polled = await asyncio.wait_for(seen, 5.0)
            poll_delays.append((polled - (last_rx + TIMEOUT)) * 1000)
            await poll_task
            os.kill(child.pid, signal.SIGCONT)
            await recorder.next(True, 5.0)
    finally:
        if poll_task is not None and not poll_task.done():
            poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll_task
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
        await child.wait()
        monitor.close()
        await receiver.stop()

    unexpected = [s for s in recorder.signals if not s.ok and s.source != "heartbeat"]
    rule = f"timeout {TIMEOUT * 1000:.0f} ms" if detector_name == "timeout" else "phi 8"
    print(
        f"{trials} SIGSTOPs of a HeartbeatSender child ({INTERVAL * 1000:.0f} ms), "
        f"detector {rule}, loop {type(asyncio.get_running_loop()).__module__}"
    )
    header = (
        f"{'conviction delay past deadline (ms)':<38} {'n':>6} {'mean':>8} {'p50':>8} "
        f"{'p99':>8} {'max':>8} {'min':>8}"
    )
    print(header)
    print("-" * len(header))
    print(summary("HeartbeatMonitor (timer at deadline)", delays))
    print(summary(f"reference: poll every {POLL * 1000:.0f} ms", poll_delays))
    print(summary("detection time from last heartbeat", detection))
    print(
        f"(the reference polls for a {TIMEOUT * 1000:.0f} ms silence; "
        "its delay is measured against last heartbeat + that timeout)"
    )
    print(
        f"hang signals {sum(1 for s in recorder.signals if not s.ok)} for {trials} stops; "
        f"other bad signals {len(unexpected)}; receiver rejections "
        f"{sum(receiver.rejections.values())}; hook errors {receiver.hook_errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--detector", choices=("timeout", "phi"), default="timeout")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            args.loop = "asyncio"
        else:
            uvloop.run(bench(args.trials, args.detector))
            return
    asyncio.run(bench(args.trials, args.detector))


if __name__ == "__main__":
    main()
