"""Heartbeat load generator for the ingest and memory benchmarks (run by them, not by hand).

Usage: python bench/hb_sender.py KEY_HEX SERVICES [PREFIX [FIRST]]. Datagrams are built with
paramedic's own ``encode`` (service ids PREFIX00000.., numbered from FIRST, default 0; key id
0, one instance per service, sequence numbers rising per service) and sent to 127.0.0.1
only. Commands on stdin, one reply line each on stdout:

    fill PORT N TAG          send N heartbeats as fast as possible, then one heartbeat of
                             service TAG (the end marker); reply "sent N"
    pace PORT RATE SECONDS   pre-encode RATE*SECONDS heartbeats stamped with their planned
                             send time, reply "ready", then send them paced in 1 ms
                             batches; reply "sent N ELAPSED_S"
    stream PORT RATE SECONDS encode while sending (no pre-encoding: any length), paced;
                             reply "sent N ELAPSED_S"
    quit
"""

from __future__ import annotations

import os
import socket
import sys
import time

from paramedic.wire import encode


class Sender:
    def __init__(self, key: bytes, services: int, prefix: str, first: int = 0) -> None:
        self.key = key
        self.names = [f"{prefix}{i:05d}" for i in range(first, first + services)]
        self.instances = [os.urandom(16) for _ in range(services)]
        self.seq = [0] * services
        self.next = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)

    def beat(self, sent_ns: int) -> bytes:
        i = self.next
        self.next = (i + 1) % len(self.names)
        self.seq[i] += 1
        return encode(
            service=self.names[i],
            key=self.key,
            key_id=0,
            instance=self.instances[i],
            seq=self.seq[i],
            sent_ns=sent_ns,
        )

    def connect(self, port: int) -> None:
        self.sock.connect(("127.0.0.1", port))

    def send(self, data: bytes) -> bool:
        try:
            self.sock.send(data)
        except OSError:  # ENOBUFS / ECONNREFUSED: counted as not sent
            return False
        return True

    def fill(self, port: int, n: int, tag: str) -> int:
        self.connect(port)
        now = time.time_ns()
        batch = [self.beat(now) for _ in range(n)]
        sent = sum(self.send(d) for d in batch)
        end = encode(
            service=tag, key=self.key, key_id=0, instance=bytes(16), seq=1, sent_ns=time.time_ns()
        )
        self.send(end)
        return sent

    def _paced(self, rate: float, total: int, make: object) -> tuple[int, float]:
        sent = 0
        i = 0
        start = time.monotonic()
        while i < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            if due <= i:
                time.sleep(0.0002)
                continue
            while i < due:
                sent += self.send(make(i))  # type: ignore[operator]
                i += 1
        return sent, time.monotonic() - start

    def pace(self, port: int, rate: float, seconds: float) -> None:
        self.connect(port)
        total = int(rate * seconds)
        # Stamp each datagram with the wall time it is planned to leave (skew bound is 2 s).
        t_start = time.time_ns() + int(total * 8e3) + 200_000_000
        step = 1e9 / rate
        batch = [self.beat(t_start + int(i * step)) for i in range(total)]
        while time.time_ns() < t_start:
            time.sleep(0.001)
        reply("ready")
        sent, elapsed = self._paced(rate, total, batch.__getitem__)
        reply(f"sent {sent} {elapsed:.6f}")

    def stream(self, port: int, rate: float, seconds: float) -> None:
        self.connect(port)
        sent, elapsed = self._paced(rate, int(rate * seconds), lambda _i: self.beat(time.time_ns()))
        reply(f"sent {sent} {elapsed:.6f}")


def reply(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    key = bytes.fromhex(sys.argv[1])
    prefix = sys.argv[3] if len(sys.argv) > 3 else "svc-"
    sender = Sender(key, int(sys.argv[2]), prefix, int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "fill":
            reply(f"sent {sender.fill(int(args[0]), int(args[1]), args[2])}")
        elif cmd == "pace":
            sender.pace(int(args[0]), float(args[1]), float(args[2]))
        elif cmd == "stream":
            sender.stream(int(args[0]), float(args[1]), float(args[2]))
        elif cmd == "quit":
            return


if __name__ == "__main__":
    main()
