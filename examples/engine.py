"""A small example trading engine for paramedic's demo and tests.

It serves a /health like the seed's (section 1.2), sends authenticated heartbeats with
paramedic's client, and can be told to misbehave through /chaos so each failure kind can be
shown: exit (crash), hang (stop its trading loop), latency (raise p99), disconnect (exchange
down), dbdown (database down), leak (grow memory), diskfull (its disk component false; map
`disk: disk_full` in the service's `health.components`), heal (undo all but exit). Stdlib only
besides paramedic.client.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LEAK_CAP_MB = 400  # the demo leaks about 100 MB/s; stop before it hurts the machine


class Engine:
    """The state a real engine would have, reduced to what its health endpoint reports."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.unstuck = threading.Event()
        self.heal()

    def heal(self) -> None:
        self.components = {
            "market_data": True,
            "exchange": True,
            "database": True,
            "orders": True,
            "risk": True,
            "disk": True,
            "positions": True,  # positions reconciled with the exchange's
        }
        self.latency_p99_us = 180.0
        self.hung = False
        self.unstuck.set()
        self.unstuck.clear()
        self.leak: list[bytes] = []
        self.leaking = False

    def health(self) -> tuple[bool, dict[str, Any]]:
        with self.lock:
            components = dict(self.components)
            p99 = self.latency_p99_us * random.uniform(0.95, 1.05)
        healthy = all(components.values()) and p99 < 1000
        return healthy, {
            "healthy": healthy,
            "timestamp": int(time.time() * 1000),
            "components": components,
            "metrics": {
                "order_latency_p99_us": round(p99, 1),
                "market_data_lag_us": round(random.uniform(20, 60), 1),
                "cpu_usage_pct": round(random.uniform(5, 15), 1),
                "memory_usage_pct": round(random.uniform(20, 25) + len(self.leak) / 100, 1),
                "open_orders": random.randint(20, 30),
                "exchange_connections_up": 3 if components["exchange"] else 0,
                "exchange_connections_total": 3,
            },
        }

    def chaos(self, action: str) -> str:
        with self.lock:
            if action == "exit":
                os._exit(3)
            if action == "hang":
                self.hung = True
            elif action == "latency":
                self.latency_p99_us = 5000.0
            elif action == "disconnect":
                self.components["exchange"] = False
            elif action == "dbdown":
                self.components["database"] = False
            elif action == "diskfull":
                self.components["disk"] = False
            elif action == "leak":
                self.leaking = True
            elif action == "heal":
                self.heal()
            else:
                return f"unknown action {action!r}"
        return f"ok: {action}"


def make_handler(engine: Engine) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/livez":
                # Liveness is cheap and says only "the engine's loop is not stuck"; a lost
                # exchange is for /health (restarting the engine would not reconnect it).
                if engine.hung:
                    engine.unstuck.wait(60)  # a stuck engine answers nothing
                self._send(200, {"alive": True})
            elif self.path in ("/health", "/ready"):
                healthy, body = engine.health()
                self._send(200 if healthy else 503, body)
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path.startswith("/chaos/"):
                self._send(200, {"result": engine.chaos(self.path.removeprefix("/chaos/"))})
            else:
                self._send(404, {"error": "not found"})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8081, help="port of /health (0: any)")
    parser.add_argument(
        "--start-delay", type=float, default=0.0, help="seconds to wait first (a slow boot)"
    )
    parser.add_argument(
        "--heartbeat",
        default=os.environ.get("PARAMEDIC_HEARTBEAT_ADDR"),
        help="host:port of paramedic's heartbeat receiver",
    )
    args = parser.parse_args()
    time.sleep(args.start_delay)

    engine = Engine()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(engine))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sender = start_heartbeats(args.heartbeat)
    print(f"engine: /health on http://127.0.0.1:{server.server_port}", flush=True)

    # The trading loop: beat() from the hot path proves this thread, not just a side thread, runs.
    while not stop.is_set():
        if not engine.hung:
            if sender is not None:
                sender.beat()
            if engine.leaking and len(engine.leak) < LEAK_CAP_MB:
                engine.leak.append(b"x" * 1_000_000)  # touched pages: real RSS
        stop.wait(0.01)
    if sender is not None:
        sender.stop()
    server.shutdown()
    print("engine: stopped cleanly", flush=True)
    return 0


def start_heartbeats(target: str | None) -> Any:
    if not target:
        return None
    from paramedic.client import HeartbeatSender

    key_file = os.environ["PARAMEDIC_HEARTBEAT_KEY_FILE"]
    key = Path(key_file).read_bytes().strip()
    host, _, port = target.rpartition(":")
    service = os.environ.get("PARAMEDIC_SERVICE", "engine")
    sender = HeartbeatSender(host, int(port), service, key, expect_beats=True)
    sender.start()
    return sender


if __name__ == "__main__":
    sys.exit(main())
