"""Does a crowd of event-stream clients move the hang conviction delay? Same run, A/B.

A real ``paramedic run`` supervises one heartbeat service, ``engine`` (100 ms interval,
300 ms timeout, the timeout detector, as bench/hang_conviction.py). This process sends the
engine's heartbeats itself (paramedic's ``encode``, over UDP on 127.0.0.1) and, to make it
hang, stops sending at a random phase (50-150 ms after the previous trial's recovery), then
resumes once paramedic has convicted it and waits for ``failure.cleared``. Per trial:

    delay = failure.detected's own time stamp (the event's ``mono``, read from the store by
            its seq: CLOCK_MONOTONIC is one clock for every process)
            - (the monotonic send time of the last heartbeat + 300 ms)

and, as a second figure, the same with the moment the event reached this process's own stream
client (the record durable, published, written to the socket) instead of the event's stamp.

Trials run in blocks that alternate between 0 and ``--clients`` (100) more Server-Sent Events
clients connected to ``GET /api/events/stream``: a separate process of raw asyncio sockets
that reads and counts every byte (each gets every event of every trial), opened before a
block, closed after it. Usage:
python bench/sse_hang_p99.py [--trials 300] [--clients 100] [--block 25]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from paramedic.core.jsoncodec import loads
from paramedic.wire import encode

INTERVAL = 0.1
TIMEOUT = 0.3
FROZEN_NOTE = " (gc.freeze() after its imports)"
# `paramedic run` with every object alive after its imports moved out of the collector's
# reach (gc.freeze): an experiment on where the tail comes from, not how paramedic ships.
FROZEN = (
    "import gc, runpy, sys; import paramedic.cli.main; gc.freeze();"
    " sys.argv[0] = 'paramedic'; runpy.run_module('paramedic.cli', run_name='__main__')"
)

# The crowd: N raw-socket stream readers in their own process. Commands on stdin
# ("open PORT N", "close", "quit"), one reply line each.
CROWD = r"""
import asyncio, sys

async def reader(port, opened, counts, i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0], head
    opened.release()
    try:
        while True:
            chunk = await r.read(65536)
            if not chunk:
                return
            counts[i] += len(chunk)
    finally:
        w.close()

async def main():
    loop = asyncio.get_running_loop()
    tasks, counts = [], []
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        cmd, *args = line.split() or ["quit"]
        if cmd == "open":
            port, n = int(args[0]), int(args[1])
            opened = asyncio.Semaphore(0)
            counts = [0] * n
            tasks = [asyncio.create_task(reader(port, opened, counts, i)) for i in range(n)]
            for _ in range(n):
                await opened.acquire()
            print(f"open {n}", flush=True)
        elif cmd == "close":
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            print(f"closed {sum(counts)} {min(counts) if counts else 0}", flush=True)
            tasks = []
        else:
            return

asyncio.run(main())
"""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Beats:
    """The engine's heartbeats, sent from this loop every 100 ms while `on`."""

    def __init__(self, port: int, key: bytes) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", port))
        self.key, self.instance, self.seq = key, os.urandom(16), 0
        self.on = True
        self.last = 0.0

    async def run(self) -> None:
        while True:
            if self.on:
                self.seq += 1
                data = encode(
                    service="engine",
                    key=self.key,
                    key_id=0,
                    instance=self.instance,
                    seq=self.seq,
                    sent_ns=time.time_ns(),
                )
                self.sock.send(data)
                self.last = time.monotonic()
            await asyncio.sleep(INTERVAL)


class Stream:
    """This process's own stream client: (arrival, event row) of every event."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()

    async def run(self, port: int) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await w.drain()
        await r.readuntil(b"\r\n\r\n")
        try:
            while True:
                line = await r.readline()
                if not line:
                    return
                if line.startswith(b"data: "):
                    self.queue.put_nowait((time.monotonic(), loads(line[6:])))
                # chunked framing lines and comments are skipped: data lines are whole
        finally:
            w.close()

    async def next(self, kind: str, within: float) -> tuple[float, dict[str, Any]]:
        async with asyncio.timeout(within):
            while True:
                at, row = await self.queue.get()
                if os.environ.get("BENCH_DEBUG"):
                    print(f"    {at:.3f} {row['kind']}: {row['summary']}")
                if row["kind"] == kind and row["service"] == "engine":
                    return at, row


class Crowd:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CROWD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def say(self, line: str) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return (await asyncio.to_thread(self.proc.stdout.readline)).strip()


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def wait_ready(url_port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    async with httpx.AsyncClient() as c:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit(f"paramedic exited: {log.read_text()[-2000:]}")  # noqa: ASYNC240
            with contextlib.suppress(httpx.HTTPError):
                r = await c.get(f"http://127.0.0.1:{url_port}/readyz")
                if r.status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit("paramedic not ready in 60 s")


async def bench(args: argparse.Namespace, tmp: Path) -> None:
    api, hb = free_port(), free_port(socket.SOCK_DGRAM)
    secret = os.urandom(24).hex()
    config = tmp / "paramedic.yaml"
    config.write_text(
        f"api: {{listen: '127.0.0.1:{api}'}}\nstore: {{path: p.db}}\n"
        f"heartbeat: {{listen: '127.0.0.1:{hb}', key_env: BENCH_HB_KEY}}\n"
        "services:\n  engine:\n"
        f"    heartbeat: {{interval: {INTERVAL * 1000:.0f}ms, timeout: {TIMEOUT * 1000:.0f}ms,"
        " startup_grace: 30s}\n"
        # Every trial a fresh incident: no flap damping (it would fold the repeats into one).
        "    health: {up_after: 1, evaluate_every: 50ms, flap_window: 0s}\n"
    )
    log = tmp / "paramedic.log"
    with open(log, "wb") as out:  # noqa: ASYNC230 (once, before anything is measured)
        proc = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-c", FROZEN, "run", "--config", str(config)]
            if args.gc_freeze
            else [sys.executable, "-m", "paramedic.cli", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=out,
            env={**os.environ, "BENCH_HB_KEY": secret},
        )
    crowd = Crowd()
    beats = Beats(hb, secret.encode())
    stream = Stream()
    tasks: list[asyncio.Task[None]] = []
    delays: dict[int, list[float]] = {0: [], args.clients: []}
    arrivals: dict[int, list[float]] = {0: [], args.clients: []}
    crowd_bytes: list[int] = []
    raw: list[tuple[int, int, float, float, float]] = []  # block, clients, delay, arrival, load
    loads_seen: list[float] = []
    rng = random.Random(1)
    try:
        await wait_ready(api, proc, log)
        tasks = [asyncio.create_task(beats.run()), asyncio.create_task(stream.run(api))]
        db = sqlite3.connect(f"file:{tmp / 'p.db'}?mode=ro", uri=True)
        await stream.next("service.up", 10.0)
        blocks = -(-args.trials // args.block) * 2
        for b in range(blocks):
            n = args.clients if (b // 1) % 2 == (b // 2) % 2 else 0  # ABBA: 100,0,0,100,...
            if n:
                reply = await crowd.say(f"open {api} {n}")
                assert reply == f"open {n}", reply
            loads_seen.append(os.getloadavg()[0])
            for _ in range(args.block):
                await asyncio.sleep(rng.uniform(0.05, 0.15))
                beats.on = False
                arrived, row = await stream.next("failure.detected", 5.0)
                last = beats.last
                (mono,) = db.execute(
                    "SELECT mono FROM timeline WHERE seq = ?", (row["seq"],)
                ).fetchone()
                delays[n].append((mono - (last + TIMEOUT)) * 1000)
                arrivals[n].append((arrived - (last + TIMEOUT)) * 1000)
                raw.append((b, n, delays[n][-1], arrivals[n][-1], os.getloadavg()[0]))
                beats.on = True
                await stream.next("failure.cleared", 5.0)
            if n:
                reply = await crowd.say("close")
                least = int(reply.split()[2])
                crowd_bytes.append(least)
            print(
                f"  block {b + 1}/{blocks}: {n:>3} clients, load {loads_seen[-1]:.2f}",
                flush=True,
            )
        db.close()
    finally:
        for t in tasks:
            t.cancel()
        with contextlib.suppress(Exception):
            await crowd.say("quit")
        crowd.proc.wait(10)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    print(
        f"\n{len(delays[0]) + len(delays[args.clients])} hangs of a heartbeat service "
        f"({INTERVAL * 1000:.0f} ms, timeout {TIMEOUT * 1000:.0f} ms) under a real `paramedic "
        f"run`{FROZEN_NOTE if args.gc_freeze else ''}, blocks of {args.block} alternating "
        f"0 / {args.clients} stream clients; "
        f"{os.cpu_count()} CPUs, load {min(loads_seen):.2f}-{max(loads_seen):.2f}; each crowd "
        f"client read >= {min(crowd_bytes):,} bytes per block"
    )
    header = (
        f"{'delay past deadline (ms)':<44} {'n':>5} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}"
    )
    print(header)
    print("-" * len(header))
    for label, data in (
        ("failure.detected stamped", delays),
        ("... reached a stream client", arrivals),
    ):
        for n in (0, args.clients):
            v = data[n]
            print(
                f"{label + f', {n} clients':<44} {len(v):>5} {pct(v, 50):>7.2f} {pct(v, 90):>7.2f}"
                f" {pct(v, 99):>7.2f} {max(v):>7.2f}"
            )
    if args.raw is not None:
        with args.raw.open("w") as f:
            f.write("block clients delay_ms arrival_ms load1\n")
            f.writelines(f"{b} {n} {d:.4f} {a:.4f} {ld:.2f}\n" for b, n, d, a, ld in raw)
    per_block = {
        n: [
            pct([r[2] for r in raw if r[0] == b], 90)
            for b in sorted({r[0] for r in raw if r[1] == n})
        ]
        for n in (0, args.clients)
    }
    for n, values in per_block.items():
        print(
            f"p90 of each block of {args.block}, {n} clients: "
            + " ".join(f"{v:.2f}" for v in values)
        )
    d = pct(delays[args.clients], 99) - pct(delays[0], 99)
    r = pct(delays[args.clients], 99) / pct(delays[0], 99)
    verdict = "PASS" if d <= 1.0 else "MISS"
    print(
        f"\np99 with {args.clients} clients - p99 without: {d:+.2f} ms ({r:.2f}x); p50 "
        f"{pct(delays[args.clients], 50) - pct(delays[0], 50):+.2f} ms. Target <= 1 ms: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300, help="per condition")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--block", type=int, default=25)
    parser.add_argument("--raw", type=Path, help="write every trial's figures to this file")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() in paramedic")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paramedic-sse-") as name:
        try:
            import uvloop
        except ImportError:
            asyncio.run(bench(args, Path(name)))
        else:
            uvloop.run(bench(args, Path(name)))


if __name__ == "__main__":
    main()
