"""The floor's simulated exchange connection: the session to the venue that the trading
engine and the order gateway send through. `POST /chaos/disconnect` drops the session (its
/health then reports `exchange: false` until it is restarted or healed), so an exchange
outage can be drilled; `POST /chaos/heal` reconnects."""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any

from common import FloorService


class Exchange(FloorService):
    name = "exchange"

    def __init__(self) -> None:
        super().__init__()
        self.connected = True
        self.acks = 0
        self.get["/session"] = lambda _b: (200, {"connected": self.connected})
        self.post["/chaos/disconnect"] = self._set(False)
        self.post["/chaos/heal"] = self._set(True)

    def _set(self, connected: bool) -> Any:
        def route(_body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            with self.lock:
                self.connected = connected
            return 200, {"connected": connected}

        return route

    def tick(self) -> None:
        if self.connected:
            self.acks += 1

    def components(self) -> dict[str, bool]:
        return {"exchange": self.connected}

    def metrics(self) -> dict[str, float]:
        up = 3 if self.connected else 0
        return {
            "exchange_connections_up": up,
            "exchange_connections_total": 3,
            "order_ack_latency_us": round(random.uniform(40, 90), 1),
            "acks_total": self.acks,
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8101)
    Exchange().serve(parser.parse_args().port)
    sys.exit(0)
