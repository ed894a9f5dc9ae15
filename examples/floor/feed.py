"""The floor's market data feed: publishes a price per symbol (`GET /prices`), which the
trading engine reads; /health reports its tick rate and staleness."""

from __future__ import annotations

import argparse
import random
import sys
import time

from common import FloorService

SYMBOLS = ("AAPL", "MSFT", "NVDA", "ESZ6")


class Feed(FloorService):
    name = "feed"
    period = 0.05

    def __init__(self) -> None:
        super().__init__()
        self.prices = dict.fromkeys(SYMBOLS, 100.0)
        self.seq = 0
        self.last_tick = time.monotonic()
        self.get["/prices"] = lambda _b: (200, {"seq": self.seq, "prices": dict(self.prices)})

    def tick(self) -> None:
        with self.lock:
            for symbol in SYMBOLS:
                self.prices[symbol] = round(self.prices[symbol] * random.uniform(0.999, 1.001), 4)
            self.seq += 1
            self.last_tick = time.monotonic()

    def components(self) -> dict[str, bool]:
        return {"market_data": time.monotonic() - self.last_tick < 1.0}

    def metrics(self) -> dict[str, float]:
        return {
            "ticks_total": self.seq,
            "market_data_lag_us": round((time.monotonic() - self.last_tick) * 1e6, 1),
            "symbols": len(SYMBOLS),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8102)
    Feed().serve(parser.parse_args().port)
    sys.exit(0)
