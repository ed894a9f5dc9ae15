"""Heartbeats for many services, each on its own jittered schedule (run by the soak test).

Usage: python jitter_sender.py PORT SERVICES INTERVAL_MS JITTER_MS SECONDS [PREFIX]
The key is read from the environment (SOAK_HB_KEY), never from the command line. Every
service beats every INTERVAL_MS +- JITTER_MS (uniform), from one heap of due times, to
127.0.0.1:PORT only, until SECONDS pass or SIGTERM. Then it prints "sent N late_max_ms":
late_max_ms is this sender's own worst lateness, so a slow sender is told from a false
conviction.
"""

from __future__ import annotations

import heapq
import os
import random
import signal
import socket
import sys
import time

from paramedic.wire import encode


def main() -> None:
    port, services, interval_ms, jitter_ms, seconds = (
        int(sys.argv[1]),
        int(sys.argv[2]),
        float(sys.argv[3]),
        float(sys.argv[4]),
        float(sys.argv[5]),
    )
    prefix = sys.argv[6] if len(sys.argv) > 6 else "svc-"
    key = os.environ["SOAK_HB_KEY"].encode()
    rng = random.Random(7)
    names = [f"{prefix}{i:05d}" for i in range(services)]
    instances = [os.urandom(16) for _ in range(services)]
    seqs = [0] * services
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.connect(("127.0.0.1", port))
    start = time.monotonic()
    end = start + seconds
    # Spread the first beats over one interval, as services started at different times would.
    due = [(start + rng.uniform(0, interval_ms / 1000), i) for i in range(services)]
    heapq.heapify(due)
    sent = 0
    late_max = 0.0
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    while due and not stopping:
        at, i = due[0]
        now = time.monotonic()
        if at > now:
            time.sleep(min(at - now, 0.002))
            continue
        heapq.heappop(due)
        late_max = max(late_max, now - at)
        seqs[i] += 1
        datagram = encode(
            service=names[i],
            key=key,
            key_id=0,
            instance=instances[i],
            seq=seqs[i],
            sent_ns=time.time_ns(),
        )
        try:
            sock.send(datagram)
            sent += 1
        except OSError:  # ENOBUFS: counted as not sent
            pass
        gap = (interval_ms + rng.uniform(-jitter_ms, jitter_ms)) / 1000
        if at + gap < end:
            heapq.heappush(due, (at + gap, i))
    sys.stdout.write(f"sent {sent} {late_max * 1000:.1f}\n")


if __name__ == "__main__":
    main()
