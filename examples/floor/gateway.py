"""The floor's order gateway: takes orders and sends them through the exchange connection.
Its /health reports orders sent and whether the exchange session is up (a metric: an exchange
outage is the exchange's failure, which paramedic's `depends_on` attributes; the gateway
queues meanwhile)."""

from __future__ import annotations

import argparse
import random
import sys
import time

from common import FloorService, get_json


class Gateway(FloorService):
    name = "gateway"
    period = 0.02

    def __init__(self, exchange: str) -> None:
        super().__init__()
        self.exchange = exchange
        self.sent = 0
        self.queued = 0
        self.exchange_up = True
        self.last_poll = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        if now - self.last_poll >= 0.2:
            self.last_poll = now
            session = get_json(f"{self.exchange}/session")
            self.exchange_up = bool(session and session.get("connected"))
        with self.lock:
            if self.exchange_up:
                self.sent += 1 + self.queued
                self.queued = 0
            else:
                self.queued += 1

    def components(self) -> dict[str, bool]:
        return {"orders": True}

    def metrics(self) -> dict[str, float]:
        return {
            "orders_sent_total": self.sent,
            "orders_queued": self.queued,
            "exchange_connected": 1 if self.exchange_up else 0,
            "order_latency_p99_us": round(random.uniform(150, 220), 1),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8105)
    parser.add_argument("--exchange", default="http://127.0.0.1:8101")
    args = parser.parse_args()
    Gateway(args.exchange).serve(args.port)
    sys.exit(0)
