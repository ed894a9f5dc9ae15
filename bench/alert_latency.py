"""Alert delivery: paramedic's alert pipeline against Debian's Alertmanager, same run.

Both deliver to one loopback webhook receiver, a separate process (aiohttp on uvloop) that
stamps ``time.monotonic_ns()`` when a request's body has arrived and sends ``path|id|stamp``
on a Unix datagram socket to this script (throughput alerts only as a running count every
100 receipts). CLOCK_MONOTONIC is one clock for every process, so "received" is the
receiver's stamp and no loop of ours adds to it.

* Alertmanager (Debian ``prometheus-alertmanager``, clustering off, storage in a temp dir):
  ``group_by: ['...']`` (every alert its own group, as the alerts carry a unique ``bench_id``
  label), ``group_wait: 0s``, a webhook receiver without ``send_resolved``. An event is
  ``POST /api/v2/alerts``; t0 is stamped right before the POST.
* paramedic: an in-process ``AlertingService`` built as ``runtime/app.py`` builds it: a real
  ``SQLiteStore`` (``synchronous=full``, WAL, fsync'd commits) in a temp dir, an
  ``EventBus`` and ``OrderedRecorder`` on it, a ``webhook`` channel (HMAC-signed) on the
  channels' keep-alive ``HttpPool``, the outbox worker running. Every alert routes to
  contact ``oncall`` whose one channel is that webhook; severity P1 (never grouped or rate
  limited), distinct (type, source) so no dedup. An event is ``await raise_alert(alert)``:
  the alert row and its notification row are one fsync'd commit before the POST is
  attempted, as the issue requires. t0 is stamped right before the call.

Measures (i) event -> webhook received latency, sequential, trials alternating
Alertmanager / paramedic so both see the same machine load (median, p99 over N), and the
median of paramedic's store commit alone, between the trials (the disk's floor); (ii)
throughput: 5,000 distinct alerts, a bounded number in flight, alerts/s from the first
submit to the last receipt; Alertmanager gets batches of 64 alerts per POST (what
Prometheus sends), paramedic 256 concurrent ``raise_alert`` calls; Alertmanager is paused
(SIGSTOP) during paramedic's run, as its aggregation groups keep ticking; (iii) memory:
Alertmanager's peak RSS (kernel VmHWM of its pid, cross-checked by psutil sampling every
20 ms) against the growth of this process's peak RSS (VmHWM reset through
/proc/self/clear_refs before paramedic's pieces are built) while paramedic runs.

Usage: python bench/alert_latency.py [--trials N] [--alerts N] [--inflight N] [--deadline S]
[--synchronous full|normal] [--store-dir DIR] [--loop uvloop|asyncio] [--alertmanager PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import structlog
from pydantic import SecretStr

from paramedic.alerting.channels.webhook import WebhookChannel
from paramedic.alerting.model import Alert
from paramedic.alerting.service import AlertingService
from paramedic.checks import HttpPool
from paramedic.config.alerting import AlertingConfig
from paramedic.core.bus import EventBus
from paramedic.core.clock import SystemClock
from paramedic.runtime.recorder import OrderedRecorder
from paramedic.runtime.store_trouble import StoreTrouble
from paramedic.store.outbox import AuditRow
from paramedic.store.sqlite import SQLiteStore

RECEIVER = r"""
import asyncio, json, socket, sys, time
from aiohttp import web

sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
target = sys.argv[1]
every = int(sys.argv[2])
stamp = time.monotonic_ns
counted = {}

async def handle(request):
    body = await request.read()
    now = stamp()
    data = json.loads(body)
    if request.path == "/am":
        ids = [a["labels"]["bench_id"] for a in data["alerts"]]
    else:
        ids = [data["labels"]["bench_id"]]
    for i in ids:
        if i.startswith("tp-"):
            # throughput alerts are counted here; the bench hears only every `every`-th, so
            # collecting receipts costs neither side's process anything per alert
            n = counted[request.path] = counted.get(request.path, 0) + 1
            if n % every == 0:
                sock.sendto(f"{request.path}|tp:{n}|{now}".encode(), target)
        else:
            sock.sendto(f"{request.path}|{i}|{now}".encode(), target)
    return web.Response(text="ok")

async def main():
    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()

try:
    import uvloop
    uvloop.run(main())
except ImportError:
    asyncio.run(main())
"""


RECEIPT_EVERY = 100  # --alerts must be a multiple of this


def fs_type(path: Path) -> str:
    """The filesystem under `path` (the longest mount point that holds it)."""
    best, kind = "", "?"
    for line in Path("/proc/mounts").read_text().splitlines():
        _dev, mount, fstype, *_ = line.split()
        where = str(path.resolve())
        inside = where == mount or where.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best):
            best, kind = mount, fstype
    return kind


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def vm_hwm_mb(pid: int | str = "self") -> float:
    """Peak resident set size as the kernel counts it (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int | None = None) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


class Sampler(threading.Thread):
    """psutil RSS of a set of pids every 20 ms; the maximum seen per pid."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0.0)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.02):
            for name, proc in self.procs.items():
                with contextlib.suppress(psutil.Error):
                    self.peak[name] = max(self.peak[name], proc.memory_info().rss / 2**20)


class Receipts:
    """Datagrams from the receiver process: one future per expected (path, id); throughput
    alerts (`tp-` ids) only as a running count every RECEIPT_EVERY receipts."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 2**20)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.waiting: dict[str, asyncio.Future[int]] = {}
        self.stamps: dict[str, int] = {}
        self.count: dict[str, int] = {"/am": 0, "/pm": 0}
        self.target: dict[str, tuple[int, asyncio.Future[int]]] = {}

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._read)

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(256)
            except BlockingIOError:
                return
            path, key, stamp = data.decode().split("|")
            if key.startswith("tp:"):
                self.count[path] = int(key[3:])
                goal = self.target.get(path)
                if goal is not None and self.count[path] >= goal[0] and not goal[1].done():
                    goal[1].set_result(int(stamp))
                continue
            full = f"{path}|{key}"
            self.stamps[full] = int(stamp)
            future = self.waiting.pop(full, None)
            if future is not None and not future.done():
                future.set_result(int(stamp))

    def expect(self, path: str, key: str) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting[f"{path}|{key}"] = future
        return future

    def expect_count(self, path: str, total: int) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.target[path] = (self.count[path] + total, future)
        return future

    def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


@contextlib.asynccontextmanager
async def receiver_process(tmp: Path) -> AsyncIterator[tuple[str, Receipts, int]]:
    receipts = Receipts(tmp / "receipts.sock")
    receipts.start()
    script = tmp / "receiver.py"
    script.write_text(RECEIVER)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(tmp / "receipts.sock"),
        str(RECEIPT_EVERY),
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    try:
        yield f"http://127.0.0.1:{int(line)}", receipts, proc.pid
    finally:
        proc.terminate()
        await proc.wait()
        receipts.close()


@contextlib.asynccontextmanager
async def alertmanager(binary: str, tmp: Path, hook_url: str) -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    config = {
        "route": {
            "receiver": "hook",
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {"name": "hook", "webhook_configs": [{"url": hook_url, "send_resolved": False}]}
        ],
    }
    (tmp / "am.yml").write_text(json.dumps(config))
    (tmp / "am-data").mkdir()
    log = (tmp / "am.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={tmp / 'am.yml'}",
        f"--storage.path={tmp / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(500):  # an external binary: no event to wait on, poll 20 ms x 10 s
                if proc.returncode is not None:
                    msg = f"alertmanager exited: {(tmp / 'am.log').read_text()[-1500:]}"
                    raise SystemExit(msg)
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(base + "/-/ready") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.02)
            else:
                raise SystemExit("alertmanager not ready within 10 s")
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.close()


def alerting_config() -> AlertingConfig:
    """Every alert to one contact whose one channel is the webhook; P1 ladder of one rung
    (the route already paged that contact, so the +0 rung sends nothing more)."""
    return AlertingConfig.model_validate(
        {
            "replace_defaults": True,  # exactly this policy, no default receivers besides
            "contacts": {"oncall": {"display": "bench", "channels": ["hook"]}},
            "routes": {"receivers": ["oncall"]},
            "escalation": {
                "policies": {
                    "P1": {
                        "steps": [
                            {"name": "oncall", "after": "0s", "contacts": ["oncall"], "level": 1}
                        ]
                    }
                }
            },
        }
    )


def bench_alert(key: str) -> Alert:
    return Alert(
        id=f"bench:{key}",
        type="bench",
        source=f"bench-{key}",
        severity="P1",
        title=f"bench alert {key}",
        labels={"service": "bench", "bench_id": key},
        what="a benchmark alert",
        when_wall=time.time(),
        status="firing",
        severity_reason="bench",
    )


def am_alert(key: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": "BenchAlert", "service": "bench", "bench_id": key},
        "annotations": {"summary": f"bench alert {key}"},
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench(args: argparse.Namespace) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    binary = args.alertmanager or shutil.which("prometheus-alertmanager")
    if not binary:
        raise SystemExit("install Debian's prometheus-alertmanager (apt-get install ...)")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="paramedic-alert-bench-") as name:
        tmp = Path(name)
        async with (
            receiver_process(tmp) as (hook, receipts, receiver_pid),
            alertmanager(binary, tmp, hook + "/am") as (am_base, am_pid),
            aiohttp.ClientSession() as am_client,
        ):
            am_url = am_base + "/api/v2/alerts"

            async def am_send(alerts: list[dict[str, Any]]) -> None:
                async with am_client.post(am_url, json=alerts) as response:
                    if response.status != 200:
                        raise SystemExit(f"alertmanager said {response.status}")

            # paramedic, built in this process after the peak RSS counter is reset
            Path("/proc/self/clear_refs").write_text("5")  # noqa: ASYNC240 (procfs, no disk)
            pm_base_rss = rss_mb()
            store_dir = Path(args.store_dir) if args.store_dir else tmp
            store = SQLiteStore(store_dir / f"bench-{os.getpid()}.db", synchronous=args.synchronous)
            await store.open()
            bus = EventBus(store)
            recorder = OrderedRecorder(
                bus, store, StoreTrouble(f"store {store.path}", SystemClock())
            )
            tasks: set[asyncio.Task[Any]] = set()

            def job(coro: Awaitable[Any]) -> None:
                task = asyncio.ensure_future(coro)
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            pm_http = HttpPool()
            channel = WebhookChannel(
                "hook", pm_http, url=hook + "/pm", secret=SecretStr("bench-secret-0123456789")
            )
            alerting = AlertingService(
                alerting_config(),
                clock=SystemClock(),
                store=store,
                channels={"hook": channel},
                submit=recorder.submit,
                job=job,
            )
            await alerting.start()
            job(recorder.run())
            job(alerting.run())
            sampler = Sampler({"alertmanager": am_pid, "paramedic": os.getpid()})
            sampler.start()

            async def am_one(key: str) -> float:
                arrived = receipts.expect("/am", key)
                t0 = time.monotonic_ns()
                await am_send([am_alert(key)])
                return (await asyncio.wait_for(arrived, 10) - t0) / 1e6

            async def pm_one(key: str) -> float:
                arrived = receipts.expect("/pm", key)
                t0 = time.monotonic_ns()
                await alerting.raise_alert(bench_alert(key))
                return (await asyncio.wait_for(arrived, 10) - t0) / 1e6

            for i in range(args.warmup):
                await am_one(f"warm-{i}")
                await pm_one(f"warm-{i}")
            am_lat: list[float] = []
            pm_lat: list[float] = []
            # The floor under paramedic's latency on this disk: one fsync'd commit of a small
            # row, handed to the writer and back, measured between the trials (every other
            # one) so that it sees the same store: a fresh SQLite WAL grows by appends until
            # its first checkpoint (each fdatasync then also commits the file's new size) and
            # is overwritten in place after that, ~0.2 ms cheaper per commit on this disk.
            commits: list[float] = []
            for i in range(args.trials):
                # alternate who goes first so neither always runs right after the other's send
                if i % 2:
                    am_lat.append(await am_one(f"lat-{i}"))
                    pm_lat.append(await pm_one(f"lat-{i}"))
                else:
                    pm_lat.append(await pm_one(f"lat-{i}"))
                    am_lat.append(await am_one(f"lat-{i}"))
                    await asyncio.sleep(0.0015)
                    t0 = time.monotonic_ns()
                    await store.audit(AuditRow(time.time(), "bench", "commit-floor", str(i), ""))
                    commits.append((time.monotonic_ns() - t0) / 1e6)

            async def throughput(
                path: str, total: int, submit: Callable[[int], Awaitable[None]], step: int
            ) -> tuple[float, int]:
                """alerts/s at the receiver and how many arrived; a side that cannot finish
                within --deadline is stopped there and rated on what arrived."""
                base = receipts.count[path]
                done = receipts.expect_count(path, total)
                starts = iter(range(0, total, step))

                async def worker() -> None:
                    # a fixed set of submitters pulling the next batch: `inflight` alerts in
                    # flight without thousands of coroutines queued on a semaphore
                    for start in starts:
                        await submit(start)

                t0 = time.monotonic_ns()
                workers = max(1, args.inflight // step)
                feed = asyncio.gather(*(worker() for _ in range(workers)))
                try:
                    last = await asyncio.wait_for(asyncio.shield(done), args.deadline)
                except TimeoutError:
                    feed.cancel()
                    await asyncio.gather(feed, return_exceptions=True)
                    got = receipts.count[path] - base
                    return got / ((time.monotonic_ns() - t0) / 1e9), got
                await feed
                return total / ((last - t0) / 1e9), total

            n = args.alerts

            async def am_batch(start: int) -> None:
                await am_send([am_alert(f"tp-{k}") for k in range(start, min(n, start + 64))])

            async def pm_single(k: int) -> None:
                await alerting.raise_alert(bench_alert(f"tp-{k}"))

            am_tp, am_got = await throughput("/am", n, am_batch, 64)
            # Alertmanager keeps ticking every aggregation group it holds (one per alert
            # here) each group_interval: measured at ~30% of a CPU on this 2-vCPU machine
            # while paramedic ran. Pause it so each side's throughput run has the machine
            # to itself (paramedic has nothing left running once its alerts are out).
            os.kill(am_pid, signal.SIGSTOP)
            try:
                pm_tp, pm_got = await throughput("/pm", n, pm_single, 1)
            finally:
                os.kill(am_pid, signal.SIGCONT)
            await asyncio.sleep(0.3)  # let trailing attempt records land before reading peaks
            outcomes = dict(alerting.notifications_total)
            sampler.halt.set()
            sampler.join()
            am_hwm = vm_hwm_mb(am_pid)
            pm_hwm = vm_hwm_mb()
            am_now = rss_mb(am_pid)
            recv_hwm = vm_hwm_mb(receiver_pid)
            stored = await store.alerts(limit=100_000)
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await pm_http.close()
            await store.close()
            if args.store_dir:  # the temp dir cleans itself; a given dir keeps only its own
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{store.path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 (all closed)

    am_med, pm_med = statistics.median(am_lat), statistics.median(pm_lat)
    am_p99, pm_p99 = pct(am_lat, 0.99), pct(pm_lat, 0.99)
    pm_growth = pm_hwm - pm_base_rss
    rows = [
        ("event -> webhook, median (ms)", am_med, pm_med, "<= AM", pm_med <= am_med),
        ("event -> webhook, p99 (ms)", am_p99, pm_p99, "(report)", None),
        (
            "paramedic's fsync'd commit alone, median (ms)",
            am_med,
            statistics.median(commits),
            "(report: the floor)",
            None,
        ),
        (
            f"throughput, alerts/s ({am_got} / {pm_got} of {n} received)",
            am_tp,
            pm_tp,
            ">= AM",
            pm_tp >= am_tp and pm_got == n,
        ),
        (
            "peak RSS (MiB): AM VmHWM vs paramedic growth",
            am_hwm,
            pm_growth,
            "<= AM/2",
            pm_growth <= am_hwm / 2,
        ),
        (
            "peak RSS (MiB): AM vs whole bench process",
            am_hwm,
            pm_hwm,
            "<= AM/2 (strict)",
            pm_hwm <= am_hwm / 2,
        ),
    ]
    print(f"alertmanager: {args.version} ({binary})")
    print(
        f"python {sys.version.split()[0]}, loop {args.loop}, sqlite synchronous={args.synchronous},"
        f" store on {fs_type(store_dir)} ({store_dir}),"
        f" load {load[0]:.2f} {load[1]:.2f}, {os.cpu_count()} CPUs; trials {args.trials},"
        f" throughput alerts {n}, in flight {args.inflight}"
    )
    print(
        f"alerts stored by paramedic: {len(stored)}; notification attempts by outcome:"
        f" {sorted(outcomes.items())}; receiver peak RSS {recv_hwm:.1f} MiB"
    )
    print()
    print("| measure | Alertmanager | paramedic | paramedic / AM | target | verdict |")
    print("|---|---|---|---|---|---|")
    for label, am, pm, target, ok in rows:
        verdict = "-" if ok is None else ("PASS" if ok else "MISS")
        print(f"| {label} | {am:.3f} | {pm:.3f} | {pm / am:.2f}x | {target} | {verdict} |")
    print()
    print(
        f"latency percentiles (ms) AM p10/p50/p90/max {pct(am_lat, 0.1):.3f}/{am_med:.3f}/"
        f"{pct(am_lat, 0.9):.3f}/{max(am_lat):.3f}; paramedic {pct(pm_lat, 0.1):.3f}/{pm_med:.3f}/"
        f"{pct(pm_lat, 0.9):.3f}/{max(pm_lat):.3f}"
    )
    print(
        f"memory (MiB): AM VmHWM {am_hwm:.1f}, sampled peak {sampler.peak['alertmanager']:.1f},"
        f" at end {am_now:.1f}; this process before paramedic {pm_base_rss:.1f}, VmHWM after"
        f" {pm_hwm:.1f}, sampled peak {sampler.peak['paramedic']:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--inflight", type=int, default=256)
    parser.add_argument(
        "--deadline", type=float, default=60.0, help="seconds each side gets for --alerts"
    )
    parser.add_argument("--synchronous", choices=("full", "normal"), default="full")
    parser.add_argument(
        "--store-dir",
        default=None,
        help="where paramedic's SQLite store lives (default: the temp dir); e.g. /dev/shm to"
        " take the disk's fsync out and compare the pipelines alone",
    )
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--alertmanager", default=None, help="path of the binary")
    args = parser.parse_args()
    if args.alerts % RECEIPT_EVERY:
        parser.error(f"--alerts must be a multiple of {RECEIPT_EVERY}")
    binary = args.alertmanager or shutil.which("prometheus-alertmanager")
    if binary:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
        args.version = (done.stdout or done.stderr).splitlines()[0]
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
