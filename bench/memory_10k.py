"""Resident memory of a real paramedic watching 10,000 heartbeat services.

Builds ``Paramedic`` from a generated YAML config (10,000 services, each with ``heartbeat:``;
one shared key on the top-level listener; SQLite store in a temp dir; uvloop), starts it,
and feeds heartbeats for every service from a sender process (bench/hb_sender.py, paramedic's
own ``encode``) on 127.0.0.1. RSS (psutil) is read before the config is parsed, after it is
built, after ``start()``, once every service has been heard, and at the end of the feed;
``ru_maxrss`` is the peak. The feed rate is what one sender core can encode and send with
paramedic's encoder and what the receiver keeps up with beside 10,000 evaluation tasks:
20,000/s = 2 Hz per service by default, services configured for that interval (timeout 5x).

Usage: python bench/memory_10k.py [--services N] [--rate R] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import structlog

from paramedic.config import parse_config
from paramedic.core.bus import Published
from paramedic.runtime.app import Paramedic
from paramedic.runtime.build import build

TARGET_MB = 200.0
SENDER = Path(__file__).with_name("hb_sender.py")


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def config_yaml(services: int, interval_ms: int) -> str:
    lines = [
        "api:",
        "  listen: 127.0.0.1:0",
        "store:",
        "  path: p.db",
        "heartbeat:",
        "  listen: 127.0.0.1:0",
        "  key_env: BENCH_HB_KEY",
        "services:",
    ]
    timeout = interval_ms * 5
    for i in range(services):
        lines.append(f"  svc-{i:05d}:")
        lines.append(
            f"    heartbeat: {{interval: {interval_ms}ms, timeout: {timeout}ms,"
            " startup_grace: 30s}"
        )
    return "\n".join(lines) + "\n"


async def bench(args: argparse.Namespace) -> None:
    marks: list[tuple[str, float]] = []
    gc.collect()
    marks.append(("paramedic imported, loop running (baseline)", rss_mb()))
    secret = os.urandom(24).hex()
    interval_ms = round(1000 * args.services / args.rate)
    with tempfile.TemporaryDirectory(prefix="paramedic-mem-") as name:
        tmp = Path(name)
        t = time.perf_counter()
        config = parse_config(
            config_yaml(args.services, interval_ms),
            env={**os.environ, "BENCH_HB_KEY": secret},
            base_dir=tmp,
        )
        parse_s = time.perf_counter() - t
        marks.append(("config parsed and validated", rss_mb()))
        t = time.perf_counter()
        paramedic = Paramedic(build(config, base_dir=tmp))
        kinds: dict[str, int] = {}

        def count(published: Published) -> None:
            kinds[published.event.kind] = kinds.get(published.event.kind, 0) + 1

        paramedic.parts.bus.add_listener(count)
        build_s = time.perf_counter() - t
        marks.append(("Paramedic built", rss_mb()))
        t = time.perf_counter()
        await paramedic.start()
        start_s = time.perf_counter() - t
        marks.append(("started (10k evaluate tasks, 10k timers)", rss_mb()))
        assert paramedic.parts.heartbeats is not None
        receiver = paramedic.parts.heartbeats.receiver
        sender = subprocess.Popen(  # noqa: ASYNC220 (replies read in a thread)
            [sys.executable, str(SENDER), secret.encode().hex(), str(args.services)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert sender.stdin is not None
        assert sender.stdout is not None
        samples: list[float] = []
        try:
            sender.stdin.write(f"stream {receiver.address[1]} {args.rate} {args.seconds}\n")
            sender.stdin.flush()
            reply_task = asyncio.ensure_future(asyncio.to_thread(sender.stdout.readline))
            seen_all = False
            while not reply_task.done():
                await asyncio.sleep(0.5)
                samples.append(rss_mb())
                if not seen_all and paramedic.parts.heartbeats.monitor.heard >= args.services:
                    seen_all = True
                    marks.append(("every service heard once", rss_mb()))
            reply = reply_task.result().split()
            await asyncio.sleep(0.5)
            gc.collect()
            marks.append((f"steady state after {args.seconds:g} s of heartbeats", rss_mb()))
            up = sum(1 for s in paramedic.parts.services.values() if s.health.state == "up")
            max_lag = paramedic.parts.loop_monitor.max_lag
        finally:
            sender.stdin.write("quit\n")
            sender.stdin.flush()
            sender.wait(10)
            await paramedic.stop("bench over")
    sent, elapsed = int(reply[1]), float(reply[2])
    print(
        f"{args.services:,} heartbeat services (interval {interval_ms} ms, timeout "
        f"{interval_ms * 5} ms), real Paramedic from YAML on "
        f"{type(asyncio.get_running_loop()).__module__}; {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"config parse {parse_s:.2f} s, build {build_s:.2f} s, start {start_s:.2f} s; feed "
        f"{sent:,} heartbeats in {elapsed:.1f} s = {sent / elapsed:,.0f}/s "
        f"({sent / elapsed / args.services:.1f} Hz per service); accepted {receiver.accepted:,} "
        f"(lost {sent - receiver.accepted:,}); services up at the end {up:,}; max loop lag "
        f"{max_lag * 1000:.0f} ms; "
        f"events {dict(sorted(kinds.items()))}"
    )
    header = f"{'moment':<48} {'RSS MB':>8} {'delta':>8}"
    print(header)
    print("-" * len(header))
    base = marks[0][1]
    for what, value in marks:
        print(f"{what:<48} {value:>8.1f} {value - base:>+8.1f}")
    if samples:
        print(f"{'max RSS sampled during the feed (0.5 s)':<48} {max(samples):>8.1f}")
    print(f"{'ru_maxrss (peak)':<48} {maxrss_mb():>8.1f}")
    steady = marks[-1][1]
    print(
        f"per service: {(steady - base) * 2**20 / args.services / 1024:.1f} KiB "
        f"(steady state minus baseline, / {args.services:,})"
    )
    for what, value in (("steady state", steady), ("peak (ru_maxrss)", maxrss_mb())):
        print(
            f"{'PASS' if value <= TARGET_MB else 'MISS'}  RSS with {args.services:,} heartbeat "
            f"services <= {TARGET_MB:g} MB, {what}: {value:.1f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        import uvloop
    except ImportError:
        asyncio.run(bench(args))
    else:
        uvloop.run(bench(args))


if __name__ == "__main__":
    main()
