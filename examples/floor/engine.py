"""The floor's trading engine, as the primary (`--role primary`, service `engine`) or its hot
standby (`--role standby`, service `engine-standby`): two processes of this one program.

The primary trades (its positions change as fills come in), reads prices from the feed,
sends through the exchange connection, and writes a checkpoint every `--checkpoint-every`
seconds. The standby copies the primary's positions every 100 ms and answers the standby
check (`GET /standby`: `{"available", "synced", "lag_seconds"}`); `POST /promote` makes it
trade in the primary's place. A primary starting up takes its positions from, in order: a
checkpoint the warm restart staged (verified against its checksum), a promoted standby
(`POST /handback`, which makes it the standby again), or nothing (a cold start, flat).

Chaos: primary `POST /chaos/hang|latency|corrupt-checkpoint|stale-checkpoint|heal`,
standby `POST /chaos/lag|heal` (stop or resume copying positions).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import checkpoint
from common import FloorService, get_json

SYMBOLS = ("AAPL", "MSFT", "NVDA", "ESZ6")
SYNCED_WITHIN = 1.0  # seconds of lag a standby may have and still count as synced


class Engine(FloorService):
    name = "engine"

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        self.args = args
        self.role: str = args.role
        self.name = "engine" if args.role == "primary" else "engine-standby"
        self.peer: str = args.peer
        self.path = Path(args.checkpoint) if args.checkpoint else None
        self.seq = 0
        self.positions = dict.fromkeys(SYMBOLS, 0)
        self.restored: dict[str, Any] = {"from": "flat", "seq": 0, "verified": False}
        self.latency_us = 180.0
        self.checkpointing = True
        self.positions_ok = True
        self.lagging = False
        self.exchange_down_since: float | None = None
        self.prices_at = time.monotonic()
        now = time.monotonic()
        self.last_sync = now
        self.last = {"fill": now, "checkpoint": 0.0, "poll": 0.0, "sync": 0.0}
        self.get |= {"/positions": self._positions, "/standby": self._standby}
        self.post |= {"/promote": self._promote, "/handback": self._handback}
        for action in ("hang", "latency", "corrupt-checkpoint", "stale-checkpoint", "lag", "heal"):
            self.post[f"/chaos/{action}"] = self._chaos(action)
        if self.role == "primary":
            self._take_positions()

    def _take_positions(self) -> None:
        staged = self.path.with_suffix(".restore") if self.path else None
        if staged is not None and staged.exists():
            doc, why = checkpoint.read(staged)
            staged.unlink()
            if doc is not None:
                self.seq, self.positions = doc["seq"], doc["positions"]
                self.restored = {"from": "checkpoint", "seq": self.seq, "verified": True}
                print(f"engine: warm start from checkpoint seq {self.seq}, verified", flush=True)
                return
            print(f"engine: staged checkpoint refused: {why}", flush=True)
        taken = get_json(f"{self.peer}/handback", body={})
        if taken is not None and "positions" in taken:
            self.seq, self.positions = taken["seq"], taken["positions"]
            self.restored = {"from": "standby", "seq": self.seq, "verified": True}
            print(f"engine: took positions seq {self.seq} back from the standby", flush=True)
            return
        print("engine: cold start, flat", flush=True)

    def tick(self) -> None:
        now = time.monotonic()
        with self.lock:
            if self.role == "primary" and now - self.last["fill"] >= 0.05:
                self.last["fill"] = now
                symbol = random.choice(SYMBOLS)
                self.positions[symbol] += random.choice((-100, 100))
                self.seq += 1
            if self.role == "standby" and not self.lagging and now - self.last["sync"] >= 0.1:
                self.last["sync"] = now
                self._sync(now)
        if self.role == "primary" and self.name == "engine":
            self._primary_chores(now)

    def _sync(self, now: float) -> None:
        got = get_json(f"{self.peer}/positions", timeout=0.1)
        if got is not None and got.get("role") == "primary":
            self.seq, self.positions = got["seq"], got["positions"]
            self.last_sync = now

    def _primary_chores(self, now: float) -> None:
        if self.path is not None and now - self.last["checkpoint"] >= self.args.checkpoint_every:
            self.last["checkpoint"] = now
            if self.checkpointing:
                with self.lock:
                    seq, positions = self.seq, dict(self.positions)
                checkpoint.write(self.path, seq, positions)
            self.positions_ok = checkpoint.read(self.path)[0] is not None
        if now - self.last["poll"] >= 0.2:
            self.last["poll"] = now
            session = get_json(f"{self.args.exchange}/session", timeout=0.15)
            if session is not None and session.get("connected"):
                self.exchange_down_since = None
            elif self.exchange_down_since is None:
                self.exchange_down_since = now
            if get_json(f"{self.args.feed}/prices", timeout=0.15) is not None:
                self.prices_at = now

    def components(self) -> dict[str, bool]:
        if self.name != "engine":
            return {}
        down = self.exchange_down_since
        return {
            # Lost for a second before it counts: the exchange's own alert comes first.
            "exchange": down is None or time.monotonic() - down < 1.0,
            "market_data": time.monotonic() - self.prices_at < 2.0,
            "positions": self.positions_ok,
        }

    def metrics(self) -> dict[str, float]:
        return {
            "order_latency_p99_us": round(self.latency_us * random.uniform(0.95, 1.05), 1),
            "position_seq": self.seq,
            "gross_position": sum(abs(q) for q in self.positions.values()),
            "is_primary": 1 if self.role == "primary" else 0,
            "replication_lag_seconds": round(self._lag(), 3),
        }

    def _health(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, doc = super()._health(body)
        return status, doc | {"role": self.role, "restored": self.restored}

    def _lag(self) -> float:
        return 0.0 if self.role == "primary" else time.monotonic() - self.last_sync

    def _positions(self, _body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            return 200, {"role": self.role, "seq": self.seq, "positions": dict(self.positions)}

    def _standby(self, _body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.role != "standby":
                return 200, {"available": False, "detail": f"this process is the {self.role}"}
            lag = self._lag()
            synced = not self.lagging and lag < SYNCED_WITHIN
            return 200, {
                "available": True,
                "synced": synced,
                "lag_seconds": round(lag, 3),
                "seq": self.seq,
            }

    def _promote(self, _body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.role = "primary"
            print(f"{self.name}: promoted, trading from positions seq {self.seq}", flush=True)
            return 200, {"promoted": True, "seq": self.seq}

    def _handback(self, _body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.name == "engine" or self.role != "primary":
                return 409, {"error": "nothing to hand back: not a promoted standby"}
            self.role, self.last_sync = "standby", time.monotonic()
            print(f"{self.name}: handed positions seq {self.seq} back; standby", flush=True)
            return 200, {"seq": self.seq, "positions": dict(self.positions)}

    def _chaos(self, action: str) -> Any:
        def route(_body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            with self.lock:
                self._inject(action)
            return 200, {"result": f"ok: {action}"}

        return route

    def _inject(self, action: str) -> None:
        if action == "hang":
            self.hung = True
        elif action == "latency":
            self.latency_us = 5000.0
        elif action == "lag":
            self.lagging = True
        elif action in ("corrupt-checkpoint", "stale-checkpoint") and self.path is not None:
            self.checkpointing = False
            if action == "corrupt-checkpoint":
                doc = json.loads(self.path.read_text())
                doc["positions"][SYMBOLS[0]] += 1_000_000  # altered after its checksum
                self.path.write_text(json.dumps(doc))
                self.positions_ok = False
            else:
                old = time.time() - 600
                os.utime(self.path, (old, old))
        elif action == "heal":
            self.hung, self.lagging, self.checkpointing = False, False, True
            self.latency_us = 180.0
            self.last["checkpoint"] = 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=("primary", "standby"), default="primary")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--peer", default="http://127.0.0.1:8104", help="the other engine")
    parser.add_argument("--exchange", default="http://127.0.0.1:8101")
    parser.add_argument("--feed", default="http://127.0.0.1:8102")
    parser.add_argument("--checkpoint", default="", help="checkpoint file (primary)")
    parser.add_argument("--checkpoint-every", type=float, default=1.0, help="seconds")
    args = parser.parse_args()
    if args.checkpoint:
        Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
    Engine(args).serve(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
