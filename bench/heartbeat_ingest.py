"""Authenticated heartbeat ingest on one core: drain rate and loss under offered load.

A sender process (bench/hb_sender.py) builds datagrams with paramedic's ``encode`` and sends
them on 127.0.0.1; the receiver runs in this process.

* drain: the receiver's socket buffer is filled while nothing reads it (the event loop is
  blocked on purpose while the sender fills it), then the clock starts and the receiver drains
  it; the last datagram is an end marker from a service of its own whose first heartbeat makes
  the monitor emit a signal, which stops the clock without adding work to the common path.
  Rounds alternate between (1) the reference: a bare blocking ``recvfrom`` loop calling the
  same ``decode`` with the same ``KeyRing`` and ``ReplayGuard`` plus a dict update, (2)
  paramedic's ``HeartbeatReceiver`` + ``HeartbeatMonitor.on_beat`` (wired as in
  runtime/heartbeats.py, self-pause guard included) on uvloop, (3) the same on the default
  asyncio loop. Reported: median and best rate over the rounds, and (2)/(1).
* offered load: the sender paces RATE heartbeats/s (1 ms batches) for SECONDS over
  SERVICES services into (2); every datagram has a fresh per-service sequence, so
  loss = sent - accepted exactly; kernel drops are read from /proc/net/snmp.

Usage: python bench/heartbeat_ingest.py [--rounds N] [--services N] [--rate R]
[--seconds S] [--skip-drain] [--skip-load]
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from paramedic.core.clock import SystemClock
from paramedic.detect.failure_detector import TimeoutDetector
from paramedic.detect.heartbeat import HeartbeatReceiver
from paramedic.detect.heartbeat.receiver import DEFAULT_RCVBUF_BYTES
from paramedic.detect.heartbeat.replay import ReplayGuard
from paramedic.detect.heartbeat_monitor import HeartbeatMonitor
from paramedic.detect.self_pause import SelfPauseGuard
from paramedic.detect.signals import Signal
from paramedic.wire import (
    DEFAULT_MAX_SKEW_NS,
    HEADER_SIZE,
    TAG_SIZE,
    Heartbeat,
    HmacKey,
    KeyRing,
    decode,
)
from paramedic.wire.layout import HEAD

SENDER = Path(__file__).with_name("hb_sender.py")
TARGET_RATE = 200_000
TARGET_RATIO = 0.80
SERVICES = 1000  # set from --services: the ids the sender uses, as a config would name them


def ring(key: bytes, *extra: str) -> KeyRing:
    """The shared key for the sender's services (and the end marker), as the runtime builds
    it: the shared key serves configured ids only."""
    names = [f"svc-{i:05d}" for i in range(SERVICES)]
    return KeyRing(shared={0: key}, shared_services=[*names, *extra])


class SenderProcess:
    def __init__(self, key: bytes, services: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SENDER), key.hex(), str(services)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def reply(self) -> list[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().split()

    def close(self) -> None:
        self.command("quit")
        self.proc.wait(5)


def udp_drops() -> tuple[int, int]:
    """(InErrors, RcvbufErrors) from /proc/net/snmp: datagrams the kernel dropped."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    udp = [line for line in lines if line[0] == "Udp:"]
    fields = dict(zip(udp[0][1:], map(int, udp[1][1:]), strict=True))
    return fields["InErrors"], fields["RcvbufErrors"]


def minimal_round(sender: SenderProcess, key: bytes, n: int, tag: str) -> tuple[int, float]:
    """The physical floor: recvfrom + one struct unpack + HMAC from saved states + dict."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, DEFAULT_RCVBUF_BYTES)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10.0)
    hkey = HmacKey(key)
    inner, outer = hkey.inner, hkey.outer
    last: dict[bytes, tuple[int, float]] = {}
    sender.command(f"fill {sock.getsockname()[1]} {n} {tag}")
    sender.reply()
    recvfrom = sock.recvfrom
    unpack = HEAD.unpack_from
    compare = hmac.compare_digest
    mono = time.monotonic
    end = tag.encode()
    accepted = 0
    t0 = time.perf_counter()
    while True:
        data, _addr = recvfrom(2048)
        fields = unpack(data)
        body_end = len(data) - TAG_SIZE
        i = inner.copy()
        i.update(data[:body_end])
        o = outer.copy()
        o.update(i.digest())
        if compare(o.digest(), data[body_end:]):
            accepted += 1
            service = data[HEADER_SIZE : HEADER_SIZE + fields[4]]
            last[service] = (fields[6], mono())
            if service == end:
                break
    elapsed = time.perf_counter() - t0
    sock.close()
    return accepted, elapsed


def bare_round(sender: SenderProcess, key: bytes, n: int, tag: str) -> tuple[int, float]:
    """Reference: a blocking recvfrom loop doing the receiver's decode + HMAC + replay work."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, DEFAULT_RCVBUF_BYTES)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10.0)
    keys = ring(key, tag)
    replay = ReplayGuard()
    last: dict[str, float] = {}
    sender.command(f"fill {sock.getsockname()[1]} {n} {tag}")
    sender.reply()
    recvfrom = sock.recvfrom
    now_ns = time.time_ns
    mono = time.monotonic
    accepted = 0
    t0 = time.perf_counter()
    while True:
        data, _addr = recvfrom(2048)
        beat = decode(data, keys, now_ns=now_ns(), max_skew_ns=DEFAULT_MAX_SKEW_NS, replay=replay)
        if type(beat) is Heartbeat:
            accepted += 1
            last[beat.service] = mono()
            if beat.service == tag:
                break
    elapsed = time.perf_counter() - t0
    sock.close()
    return accepted, elapsed


async def paramedic_round(
    sender: SenderProcess, key: bytes, services: int, n: int, tag: str
) -> tuple[int, float, int]:
    clock = SystemClock()
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def sink(sig: Signal) -> None:
        if sig.service == tag and sig.ok and not done.done():
            done.set_result(time.perf_counter())

    monitor = HeartbeatMonitor(clock, sink, guard=SelfPauseGuard(0.1))
    for i in range(services):
        monitor.add_service(f"svc-{i:05d}", TimeoutDetector(0.3), 0.1, startup_grace=3600.0)
    monitor.add_service(tag, TimeoutDetector(0.3), 0.1, startup_grace=3600.0)
    receiver = HeartbeatReceiver(ring(key, tag), host="127.0.0.1", port=0, on_beat=monitor.on_beat)
    await receiver.start()
    try:
        # Blocks the loop on purpose: the socket fills while nothing reads it.
        sender.command(f"fill {receiver.address[1]} {n} {tag}")
        sender.reply()
        t0 = time.perf_counter()
        t1 = await asyncio.wait_for(done, 30.0)
    finally:
        monitor.close()
        await receiver.stop()
    return receiver.accepted, t1 - t0, receiver.rcvbuf_granted


def capacity(sender: SenderProcess, key: bytes) -> int:
    """How many heartbeats the socket buffer holds with SO_RCVBUF as the receiver sets it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, DEFAULT_RCVBUF_BYTES)
    sock.bind(("127.0.0.1", 0))
    sender.command(f"fill {sock.getsockname()[1]} 60000 cap")
    sender.reply()
    sock.setblocking(False)
    held = 0
    while True:
        try:
            sock.recv(2048)
        except BlockingIOError:
            break
        held += 1
    sock.close()
    return held


def drain(args: argparse.Namespace, sender: SenderProcess, key: bytes) -> None:
    import uvloop

    cap = capacity(sender, key)
    n = int(cap * 0.9)
    rates: dict[str, list[float]] = {"minimal": [], "bare": [], "uvloop": [], "asyncio": []}
    short = dict.fromkeys(rates, 0)
    granted = 0
    for r in range(args.rounds):
        for name, blocking in (("minimal", minimal_round), ("bare", bare_round)):
            got, elapsed = blocking(sender, key, n, f"end-{name[0]}{r}")
            rates[name].append(got / elapsed)
            short[name] += n + 1 - got
        for name, run in (("uvloop", uvloop.run), ("asyncio", asyncio.run)):
            got, elapsed, granted = run(
                paramedic_round(sender, key, args.services, n, f"end-{name[0]}{r}")
            )
            rates[name].append(got / elapsed)
            short[name] += n + 1 - got
    print(
        f"drain: socket buffer holds {cap} heartbeats (SO_RCVBUF granted {granted} bytes, "
        f"rmem_max {Path('/proc/sys/net/core/rmem_max').read_text().strip()}); "
        f"{n} + 1 end marker per round, {args.rounds} rounds, {args.services} services, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    header = f"{'receiver (heartbeats/s drained)':<58} {'median':>9} {'best':>9} {'lost':>6}"
    print(header)
    print("-" * len(header))
    labels = {
        "minimal": "(0) floor: recvfrom + unpack + HMAC (saved states) + dict",
        "bare": "(1) reference: bare recvfrom + decode/HMAC/replay + dict",
        "uvloop": "(2) HeartbeatReceiver + HeartbeatMonitor, uvloop",
        "asyncio": "(3) HeartbeatReceiver + HeartbeatMonitor, asyncio loop",
    }
    for name, label in labels.items():
        values = rates[name]
        print(
            f"{label:<58} {statistics.median(values):>9,.0f} {max(values):>9,.0f} {short[name]:>6}"
        )
    uv, bare = statistics.median(rates["uvloop"]), statistics.median(rates["bare"])
    ratio = uv / bare
    verdict = "PASS" if uv >= TARGET_RATE else "MISS"
    print(
        f"{verdict}  uvloop drain >= {TARGET_RATE:,}/s: {uv:,.0f}/s "
        f"({uv / TARGET_RATE:.0%} of target)"
    )
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    print(
        f"{verdict}  (2)/(1) >= {TARGET_RATIO:.0%}: {ratio:.1%}; "
        f"(3)/(1) {statistics.median(rates['asyncio']) / bare:.1%}"
    )


async def offered(args: argparse.Namespace, sender: SenderProcess, key: bytes) -> None:
    clock = SystemClock()
    convicted: list[Signal] = []
    monitor = HeartbeatMonitor(
        clock, lambda s: None if s.ok else convicted.append(s), guard=SelfPauseGuard(0.1)
    )
    for i in range(args.services):
        monitor.add_service(f"svc-{i:05d}", TimeoutDetector(0.3), 0.1, startup_grace=3600.0)
    receiver = HeartbeatReceiver(ring(key), host="127.0.0.1", port=0, on_beat=monitor.on_beat)
    await receiver.start()
    try:
        before = udp_drops()
        sender.command(f"pace {receiver.address[1]} {args.rate} {args.seconds}")
        await asyncio.to_thread(sender.reply)  # "ready": pre-encoded, sending starts
        reply = await asyncio.to_thread(sender.reply)
        await asyncio.sleep(0.3)
        after = udp_drops()
    finally:
        monitor.close()
        await receiver.stop()
    sent, elapsed = int(reply[1]), float(reply[2])
    lost = sent - receiver.accepted
    print(
        f"\noffered load: {sent:,} heartbeats from {args.services} services in {elapsed:.2f} s = "
        f"{sent / elapsed:,.0f}/s achieved (asked {args.rate:,.0f}/s); receiver "
        f"HeartbeatReceiver + HeartbeatMonitor on {type(asyncio.get_running_loop()).__module__}"
    )
    rejected = {k: v for k, v in receiver.rejections.items() if v}
    print(
        f"accepted {receiver.accepted:,}, lost {lost:,} ({lost / max(sent, 1):.4%}), "
        f"rejected {rejected or 0}, kernel UDP drops during the run: InErrors "
        f"{after[0] - before[0]}, RcvbufErrors {after[1] - before[1]}"
    )
    ok = lost == 0 and sent / elapsed >= 0.98 * args.rate
    print(f"{'PASS' if ok else 'MISS'}  zero loss at {args.rate:,.0f}/s offered: lost {lost}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--skip-drain", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    global SERVICES
    SERVICES = args.services
    import uvloop

    key = os.urandom(32)
    sender = SenderProcess(key, args.services)
    try:
        if not args.skip_drain:
            drain(args, sender, key)
        if not args.skip_load:
            uvloop.run(offered(args, sender, key))
    finally:
        sender.close()


if __name__ == "__main__":
    main()
