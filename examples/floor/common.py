"""What every service of the demo trading floor shares: a JSON HTTP server, the
/health body, authenticated heartbeats from the service's own loop, and a clean stop on
SIGTERM/SIGINT. Stdlib only besides paramedic.client (the heartbeat sender)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Route = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]
# A POST route that needs the request as sent (a signed body is checked byte for byte).
RawRoute = Callable[[dict[str, str], bytes], tuple[int, dict[str, Any]]]


def get_json(url: str, timeout: float = 0.3, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST `body`) `url` and its JSON answer; None when it does not answer 2xx."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


def health_body(components: dict[str, bool], metrics: dict[str, float]) -> dict[str, Any]:
    """The /health shape (what paramedic's checks/health.py parses)."""
    healthy = all(components.values())
    return {
        "healthy": healthy,
        "timestamp": int(time.time() * 1000),
        "components": components,
        "metrics": metrics,
    }


class FloorService:
    """One floor process: routes by method and path, a `tick()` run by the main loop every
    `period` seconds (which also sends the heartbeat: a stuck loop is a silent heartbeat)."""

    name = "service"
    period = 0.01

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hung = False
        self.get: dict[str, Route] = {"/health": self._health, "/livez": self._livez}
        self.post: dict[str, Route] = {}
        self.raw_post: dict[str, RawRoute] = {}

    def components(self) -> dict[str, bool]:
        return {}

    def metrics(self) -> dict[str, float]:
        return {}

    def tick(self) -> None:
        """One pass of the service's loop."""

    def _health(self, _body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            body = health_body(self.components(), self.metrics())
        return (200 if body["healthy"] else 503), body

    def _livez(self, _body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        while self.hung:  # a hung service answers nothing
            time.sleep(0.05)
        return 200, {"alive": True}

    def serve(self, port: int) -> None:
        """Serve on 127.0.0.1:`port` and run the loop until SIGTERM/SIGINT."""
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        server.daemon_threads = True
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sender = start_heartbeats()
        print(f"{self.name}: http://127.0.0.1:{server.server_port}/health", flush=True)
        while not stop.is_set():
            if not self.hung:
                if sender is not None:
                    sender.beat()
                self.tick()
            stop.wait(self.period)
        if sender is not None:
            sender.stop()
        server.shutdown()
        print(f"{self.name}: stopped cleanly", flush=True)


def _handler(svc: FloorService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._route(svc.get)

        def do_POST(self) -> None:
            raw = svc.raw_post.get(self.path)
            if raw is None:
                self._route(svc.post)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(*raw({k.lower(): v for k, v in self.headers.items()}, body))

        def _route(self, routes: dict[str, Route]) -> None:
            route = routes.get(self.path)
            if route is None:
                self._send(404, {"error": f"no {self.command} {self.path}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length)) if length else {}
            except ValueError:
                self._send(400, {"error": "body is not JSON"})
                return
            self._send(*route(body if isinstance(body, dict) else {}))

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


def start_heartbeats() -> Any:
    """paramedic's heartbeat sender, named by the service paramedic started us as."""
    target = os.environ.get("PARAMEDIC_HEARTBEAT_ADDR")
    if not target:
        return None
    from paramedic.client import HeartbeatSender

    key = Path(os.environ["PARAMEDIC_HEARTBEAT_KEY_FILE"]).read_bytes().strip()
    host, _, port = target.rpartition(":")
    service = os.environ.get("PARAMEDIC_SERVICE", "floor")
    sender = HeartbeatSender(host, int(port), service, key, expect_beats=True)
    sender.start()
    return sender
