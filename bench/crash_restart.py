"""Crash to incident and to replacement: paramedic against a bare respawn loop and supervisord.

A tiny Python child (``python -S child.py SOCK``) stamps ``time.monotonic_ns()`` as its first
statement and sends it, with its pid, on a Unix datagram socket: CLOCK_MONOTONIC is the same
clock in every process, so "ready" is the child's own stamp and no receiving loop's latency is
added to it. Each trial SIGKILLs the child at t0 (``monotonic_ns`` right before ``os.kill``).

* paramedic: a real in-process ``Paramedic`` built from YAML (SQLite store in a temp dir,
  ``synchronous: full`` as shipped, uvloop when importable), restart policy ``always`` with
  ``stable_after: 0s`` (every restart is immediate) and a burst limit the trials cannot hit.
  Bus listener stamps give crash -> ``process.exited`` / ``failure.detected`` /
  ``process.spawned`` published (durable); wrappers around the ManagedProcess stamp the pidfd
  notice and the return of ``spawn()``; the child's stamp gives crash -> replacement ready.
* bare: in the same loop, the same child spawned by a minimal supervisor using the same
  mechanism (``subprocess.Popen`` with ``close_fds`` and ``start_new_session``, a pidfd on
  ``loop.add_reader``, respawn at once in the reader callback). Its trials alternate with
  paramedic's, so both see the same machine load. paramedic's overhead is the difference of
  the percentiles of crash -> ready (p50 - p50, p99 - p99).
* supervisord (PyPI ``supervisor``, ``autorestart=true startsecs=0``) supervising the same
  child; crash -> ready measured the same way.

Usage: python bench/crash_restart.py [--trials N] [--supervisord-trials N]
[--synchronous full|normal] [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from paramedic.config import parse_config
from paramedic.core.bus import Published
from paramedic.runtime.app import Paramedic
from paramedic.runtime.build import build

CHILD = """\
import time
t = time.monotonic_ns()
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"%d %d" % (os.getpid(), t), sys.argv[1])
s.close()
time.sleep(3600)
"""

TARGET_INCIDENT_MS = 2.0
TARGET_OVERHEAD_MS = 2.0
TARGET_RATIO = 50.0


class Announcements:
    """Readiness datagrams (pid, child's monotonic_ns) from one Unix socket, awaitable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._read)

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(64)
            except BlockingIOError:
                return
            pid, stamp = data.split()
            self.queue.put_nowait((int(pid), int(stamp)))

    async def next(self, within: float = 10.0) -> tuple[int, int]:
        return await asyncio.wait_for(self.queue.get(), within)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


class BareSupervisor:
    """The reference: respawn on pidfd readability, nothing recorded, nothing decided."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.popen: subprocess.Popen[bytes] | None = None
        self.pidfd = -1
        self.stopping = False
        self.spawned_ns = 0

    def spawn(self) -> None:
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        self.spawned_ns = time.monotonic_ns()
        self.pidfd = os.pidfd_open(self.popen.pid)
        asyncio.get_running_loop().add_reader(self.pidfd, self._reap)

    def _reap(self) -> None:
        assert self.popen is not None
        asyncio.get_running_loop().remove_reader(self.pidfd)
        os.close(self.pidfd)
        self.popen.wait()
        if not self.stopping:
            self.spawn()

    async def stop(self) -> None:
        self.stopping = True
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            await asyncio.to_thread(self.popen.wait)


class Stamps:
    """Bus listener: the monotonic_ns at which each event kind was first published."""

    def __init__(self) -> None:
        self.at: dict[str, int] = {}
        self.waiters: dict[str, asyncio.Future[int]] = {}

    def reset(self) -> None:
        self.at.clear()

    def __call__(self, published: Published) -> None:
        now = time.monotonic_ns()
        kind = published.event.kind
        self.at.setdefault(kind, now)
        future = self.waiters.pop(kind, None)
        if future is not None and not future.done():
            future.set_result(now)

    async def wait(self, kind: str, within: float = 10.0) -> int:
        if kind in self.at:
            return self.at[kind]
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiters[kind] = future
        return await asyncio.wait_for(future, within)


def paramedic_yaml(argv: list[str], synchronous: str) -> str:
    return textwrap.dedent(
        f"""\
        api:
          listen: 127.0.0.1:0
        store:
          path: p.db
          synchronous: {synchronous}
        services:
          child:
            process:
              argv: {argv!r}
              stop_timeout: 1s
              restart:
                policy: always
                stable_after: 0s
                burst: 1000
                window: 1s
            health:
              up_after: 1
              evaluate_every: 10ms
              flap_window: 10ms
              flap_changes: 100
        """
    )


def supervisord_conf(tmp: Path, argv: list[str]) -> Path:
    conf = tmp / "supervisord.conf"
    conf.write_text(
        textwrap.dedent(
            f"""\
            [unix_http_server]
            file={tmp}/supervisor.sock

            [supervisord]
            nodaemon=true
            logfile={tmp}/supervisord.log
            pidfile={tmp}/supervisord.pid
            childlogdir={tmp}
            loglevel=warn

            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

            [supervisorctl]
            serverurl=unix://{tmp}/supervisor.sock

            [program:child]
            command={" ".join(argv)}
            autostart=true
            autorestart=true
            startsecs=0
            startretries=1000000
            stopsignal=TERM
            stopwaitsecs=2
            stdout_logfile=NONE
            stderr_logfile=NONE
            """
        )
    )
    return conf


def ms(ns: int) -> float:
    return ns / 1e6


def pct(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[98], max(values)


async def run_paramedic_and_bare(
    tmp: Path, argv_for: Callable[[Path], list[str]], trials: int, synchronous: str
) -> dict[str, list[float]]:
    rng = random.Random(1)
    p_ready = Announcements(tmp / "p.sock")
    b_ready = Announcements(tmp / "b.sock")
    config = parse_config(
        paramedic_yaml(argv_for(p_ready.path), synchronous), env=dict(os.environ), base_dir=tmp
    )
    paramedic = Paramedic(build(config, base_dir=tmp))
    stamps = Stamps()
    paramedic.parts.bus.add_listener(stamps)
    proc = paramedic.parts.processes["child"]
    marks: dict[str, int] = {}

    # Stamps around ManagedProcess without touching it: the pidfd notice and spawn() return.
    original_on_exit = proc._on_exit
    assert original_on_exit is not None

    def on_exit(status: Any) -> None:
        marks.setdefault("notice", time.monotonic_ns())
        original_on_exit(status)

    proc._on_exit = on_exit
    original_spawn = proc.spawn

    def spawn() -> int:
        pid = original_spawn()
        marks.setdefault("spawn", time.monotonic_ns())
        return pid

    proc.spawn = spawn  # type: ignore[method-assign]

    bare = BareSupervisor(argv_for(b_ready.path))
    out: dict[str, list[float]] = {
        k: []
        for k in (
            "notice",
            "exited",
            "incident",
            "spawn",
            "spawned",
            "ready",
            "bare_spawn",
            "bare_ready",
        )
    }
    await paramedic.start()
    try:
        bare.spawn()
        pid, _ = await p_ready.next()
        bare_pid, _ = await b_ready.next()
        await stamps.wait("service.up")
        for _ in range(trials):
            # paramedic trial
            await asyncio.sleep(rng.uniform(0.02, 0.05))
            stamps.reset()
            marks.clear()
            t0 = time.monotonic_ns()
            os.kill(pid, signal.SIGKILL)
            new_pid, ready = await p_ready.next()
            assert new_pid != pid
            pid = new_pid
            spawned = await stamps.wait("process.spawned")
            await stamps.wait("failure.cleared")  # up again: the next crash opens an incident
            out["notice"].append(ms(marks["notice"] - t0))
            out["exited"].append(ms(stamps.at["process.exited"] - t0))
            out["incident"].append(ms(stamps.at["failure.detected"] - t0))
            out["spawn"].append(ms(marks["spawn"] - t0))
            out["spawned"].append(ms(spawned - t0))
            out["ready"].append(ms(ready - t0))
            # bare trial, same loop, same load
            await asyncio.sleep(rng.uniform(0.02, 0.05))
            t0 = time.monotonic_ns()
            os.kill(bare_pid, signal.SIGKILL)
            new_pid, ready = await b_ready.next()
            assert new_pid != bare_pid
            bare_pid = new_pid
            out["bare_spawn"].append(ms(bare.spawned_ns - t0))
            out["bare_ready"].append(ms(ready - t0))
    finally:
        await bare.stop()
        await paramedic.stop("bench over")
        p_ready.close()
        b_ready.close()
    return out


async def run_supervisord(
    tmp: Path, argv_for: Callable[[Path], list[str]], trials: int
) -> list[float]:
    ready_sock = Announcements(tmp / "s.sock")
    conf = supervisord_conf(tmp, argv_for(ready_sock.path))
    bindir = Path(sys.executable).parent
    daemon = subprocess.Popen(  # noqa: ASYNC220 (waited on in a thread below)
        [str(bindir / "supervisord"), "-n", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: list[float] = []
    pid = 0
    rng = random.Random(2)
    try:
        pid, _ = await ready_sock.next(within=15.0)
        for _ in range(trials):
            await asyncio.sleep(rng.uniform(0.02, 0.05))
            t0 = time.monotonic_ns()
            os.kill(pid, signal.SIGKILL)
            new_pid, ready = await ready_sock.next(within=15.0)
            assert new_pid != pid
            pid = new_pid
            results.append(ms(ready - t0))
    finally:
        ctl = await asyncio.create_subprocess_exec(
            str(bindir / "supervisorctl"),
            "-c",
            str(conf),
            "shutdown",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await ctl.wait()
        try:
            await asyncio.wait_for(asyncio.to_thread(daemon.wait), 10.0)
        except TimeoutError:
            daemon.terminate()
            await asyncio.to_thread(daemon.wait)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 0)
                os.kill(pid, signal.SIGKILL)  # should not happen: supervisord stops it
                print(f"warning: supervisord left child {pid} running; killed it")
        ready_sock.close()
    return results


def row(name: str, values: list[float]) -> str:
    p50, p99, mx = pct(values)
    return f"{name:<52} {len(values):>5} {p50:>9.3f} {p99:>9.3f} {mx:>9.3f}"


async def bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="paramedic-crash-") as name:
        tmp = Path(name)
        child = tmp / "child.py"
        child.write_text(CHILD)

        def argv_for(sock: Path) -> list[str]:
            return [sys.executable, "-S", str(child), str(sock)]

        p = await run_paramedic_and_bare(tmp, argv_for, args.trials, args.synchronous)
        s = (
            await run_supervisord(tmp, argv_for, args.supervisord_trials)
            if args.supervisord_trials
            else []
        )

    loop_name = type(asyncio.get_running_loop()).__module__
    print(
        f"{args.trials} SIGKILLs of a `python -S` child (paramedic and bare alternating), "
        f"{len(s)} under supervisord; loop {loop_name}, store synchronous={args.synchronous}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    header = f"{'crash (SIGKILL) -> ... (ms)':<52} {'n':>5} {'p50':>9} {'p99':>9} {'max':>9}"
    print(header)
    print("-" * len(header))
    print(row("paramedic: pidfd exit noticed (_reap -> on_exit)", p["notice"]))
    print(row("paramedic: process.exited published (durable)", p["exited"]))
    print(row("paramedic: failure.detected published (incident)", p["incident"]))
    print(row("paramedic: replacement spawn() returned", p["spawn"]))
    print(row("paramedic: process.spawned published (durable)", p["spawned"]))
    print(row("paramedic: replacement ready (child's own stamp)", p["ready"]))
    print(row("bare Popen+pidfd loop: replacement spawn() returned", p["bare_spawn"]))
    print(row("bare Popen+pidfd loop: replacement ready", p["bare_ready"]))
    if s:
        print(row("supervisord 4 (autorestart, startsecs=0): ready", s))
    print()
    _, inc99, _ = pct(p["incident"])
    r50, r99, _ = pct(p["ready"])
    b50, b99, _ = pct(p["bare_ready"])
    sp50, sp99, _ = pct(p["spawn"])
    bs50, bs99, _ = pct(p["bare_spawn"])
    over50, over99 = r50 - b50, r99 - b99
    checks = [
        (
            f"crash -> incident p99 <= {TARGET_INCIDENT_MS:g} ms",
            f"{inc99:.3f} ms",
            inc99 <= TARGET_INCIDENT_MS,
        ),
        (
            f"overhead over bare spawn p99 <= {TARGET_OVERHEAD_MS:g} ms (ready p99 - bare p99)",
            f"{over99:.3f} ms (p50 {over50:.3f} ms; spawn() p99 {sp99 - bs99:.3f} ms,"
            f" p50 {sp50 - bs50:.3f} ms)",
            over99 <= TARGET_OVERHEAD_MS,
        ),
    ]
    if s:
        s50, s99, _ = pct(s)
        ratio50, ratio99 = s50 / r50, s99 / r99
        checks.append(
            (
                f"supervisord / paramedic crash -> ready >= {TARGET_RATIO:g}x (p50)",
                f"{ratio50:.1f}x (p99 {ratio99:.1f}x; {s50:.1f} / {r50:.2f} ms)",
                ratio50 >= TARGET_RATIO,
            )
        )
    for what, value, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {what}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--supervisord-trials", type=int, default=20)
    parser.add_argument("--synchronous", choices=("full", "normal"), default="full")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            args.loop = "asyncio"
        else:
            uvloop.run(bench(args))
            return
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
