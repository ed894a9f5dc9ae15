"""Acceptance (issue 11): 20 kill -9s of a real `paramedic run` while alerts are raised through
every intake, each followed by a restart on the same store.

Intakes: a supervised child that crashes every ~0.2 s (failure events from the process
detector) and Alertmanager's webhook (posted straight to paramedic, firing then resolved,
one alertname per pair, so every accepted post must leave its own `signal.changed`). Pages go
to a recording loopback receiver through a signed webhook. After the last restart settles:

- 0 accepted inputs lost: every webhook post answered 200 has its signal on the timeline,
  and every `failure.detected` has its alert row;
- 0 idempotency keys lost: every notification row not cancelled was delivered, and the
  receiver got its key;
- duplicates only for attempts in flight at a kill: a key received n > 1 times has at least
  n - 1 attempts recorded `unknown` (started, outcome cut off by a kill). The counts are
  printed (`pytest -s`) for docs/architecture.md.

`PARAMEDIC_KILLS` sets the number of kills (20 by default; `make torture`-style runs may ask
for more).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.integration.runner import config_file, started, until

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
ENV = {"OPS_TOKEN": TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}
KILLS = int(os.environ.get("PARAMEDIC_KILLS", "20"))
# Crashes 0.2 s after each start, until the test creates `calm`; then it runs on, so that
# the last run settles without new failures. A kill -9 of paramedic leaves its child behind:
# the child ends when it is orphaned, so the test leaves no process running.
CRASHER = (
    "import os, time\n"
    "parent = os.getppid()\n"
    "time.sleep(0.2)\n"
    "if not os.path.exists('calm'): raise SystemExit(3)\n"
    "while os.getppid() == parent: time.sleep(0.05)\n"
)


def pending(db: Path) -> int:
    count: int = read(db, "SELECT count(*) FROM notifications WHERE status = 'pending'")[0][0]
    return count


class Quiet:
    """Settled: nothing pending, no alert still open whose failure has cleared (its resolve
    would be queued next), and the timeline unchanged for `QUIET_S` (ten evaluation periods:
    a signal that changed is followed by its clear within one). A resolve
    follows a clear by a few evaluation periods, so "nothing pending" alone can be true in
    the instant before it is queued; a stop then leaves that resolve pending (durable, sent
    at the next start), which the test would count as lost."""

    QUIET_S = 0.5

    def __init__(self, db: Path) -> None:
        self.db = db
        self.last_seq = -1
        self.since = time.monotonic()

    def __call__(self) -> bool:
        seq = read(self.db, "SELECT coalesce(max(seq), 0) FROM timeline")[0][0]
        if seq != self.last_seq:
            self.last_seq, self.since = seq, time.monotonic()
        unchanged = time.monotonic() - self.since >= self.QUIET_S
        open_cleared = read(
            self.db,
            "SELECT count(*) FROM alerts a WHERE a.state != 'resolved' AND EXISTS (SELECT 1"
            " FROM timeline t WHERE t.kind = 'failure.cleared'"
            " AND json_extract(t.payload, '$.incident') = a.incident)",
        )[0][0]
        return unchanged and open_cleared == 0 and pending(self.db) == 0


def write_config(tmp_path: Path, hook_url: str) -> Path:
    return config_file(
        tmp_path,
        f"""channels:
  pagerduty: {{webhook: {{url: "{hook_url}/hook", secret_env: HOOK_SECRET}}}}
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, "-c", {CRASHER!r}]
      restart: {{policy: always, initial_backoff: 20ms, max_backoff: 100ms, burst: 1000,
                 window: 1s}}
    health: {{up_after: 1, evaluate_every: 50ms, flap_changes: 100, flap_window: 1s}}
  gateway:
    tier: 1
    health: {{up_after: 1, evaluate_every: 50ms, flap_changes: 100, flap_window: 1s}}
""",
        operator="am",
    )


class Poster(threading.Thread):
    """Posts Alertmanager webhooks until stopped: GwN firing, then GwN resolved, N counting
    up across runs; remembers what was answered 200 (accepted: must be durable)."""

    def __init__(self, url: str, first: int) -> None:
        super().__init__(daemon=True)
        self.url = url + "/api/v1/alertmanager"
        self.n = first
        self.accepted: list[tuple[str, bool]] = []  # (source, ok)
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            while not self.stop.is_set():
                for status in ("firing", "resolved"):
                    name = f"Gw{self.n}"
                    body = {
                        "version": "4",
                        "status": status,
                        "alerts": [
                            {
                                "status": status,
                                "labels": {
                                    "alertname": name,
                                    "service": "gateway",
                                    "kind": "network_partition",
                                    "severity": "critical",
                                },
                                "annotations": {"summary": f"gateway unreachable ({name})"},
                            }
                        ],
                    }
                    try:
                        answer = client.post(self.url, json=body)
                    except httpx.HTTPError:
                        return  # paramedic was killed
                    if answer.status_code == 200 and answer.json()["accepted"] == 1:
                        self.accepted.append((f"alertmanager:{name}", status == "resolved"))
                self.n += 1


class SlowReceiver(LoopbackReceiver):
    """Takes 20 ms to answer, as a real receiver across a network might: a kill then often
    lands while a page is in flight, which is the case the resend rule is about."""

    async def _handle(self, request: web.Request) -> web.Response:
        await asyncio.sleep(0.02)
        return await super()._handle(request)


def read(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


async def test_20_kill_9s_lose_nothing_and_resend_only_what_was_in_flight(
    tmp_path: Path,
) -> None:
    rng = random.Random(11)
    db = tmp_path / "var" / "p.db"
    accepted: list[tuple[str, bool]] = []
    async with SlowReceiver() as hook:
        config = write_config(tmp_path, hook.url)
        n = 0
        for _ in range(KILLS):
            p = await started(config, ENV)
            try:
                poster = Poster(p.url, n)
                poster.start()
                # The kill lands at a random instant of the run: that is the experiment.
                await asyncio.sleep(rng.uniform(0.1, 0.4))
                p.signal(signal.SIGKILL)
                await asyncio.to_thread(p.wait, 10)
                await asyncio.to_thread(poster.join, 10)
                accepted += poster.accepted
                n = poster.n + 1
            finally:
                p.ensure_dead()
        (tmp_path / "calm").touch()
        last = await started(config, ENV)
        try:
            # Settle: every notification delivered (or cancelled by a resolve). Another
            # process: polled, bounded.
            await until("no notification pending, nothing left to resolve", Quiet(db), 30)
            last.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(last.wait, 15)
        finally:
            last.ensure_dead()
        received = Counter(r.headers["Idempotency-Key"] for r in hook.requests)

    # 0 accepted inputs lost: each accepted post left its own signal on the timeline ...
    signals = {
        (source, bool(ok))
        for source, ok in read(
            db,
            "SELECT json_extract(payload, '$.source'), json_extract(payload, '$.ok')"
            " FROM timeline WHERE kind = 'signal.changed' AND service = 'gateway'",
        )
    }
    lost_inputs = [a for a in accepted if a not in signals]
    assert [] == lost_inputs
    # ... and every failure recorded became its alert (once: the id is the incident's).
    failures = {
        f"{incident}:failure"
        for (incident,) in read(
            db,
            "SELECT json_extract(payload, '$.incident') FROM timeline"
            " WHERE kind = 'failure.detected'",
        )
    }
    alerts = {alert_id for (alert_id,) in read(db, "SELECT id FROM alerts")}
    assert set() == failures - alerts
    services = {
        s for (s,) in read(db, "SELECT DISTINCT service FROM timeline WHERE kind = 'alert.raised'")
    }
    assert {"engine", "gateway"} <= services  # both intakes raised alerts

    # 0 keys lost: every row that was to be sent was delivered, and the receiver has its key.
    rows = read(
        db,
        "SELECT n.idempotency_key, n.status,"
        " (SELECT count(*) FROM attempts a WHERE a.notification_id = n.id"
        "  AND a.outcome = 'unknown')"
        " FROM notifications n WHERE n.channel = 'pagerduty'",
    )
    assert set() == {status for _k, status, _u in rows} - {"delivered", "cancelled"}
    delivered = {key for key, status, _u in rows if status == "delivered"}
    assert set() == delivered - set(received)

    # Duplicates only for attempts in flight at a kill.
    unknown: Counter[str] = Counter()
    for key, _status, count in rows:
        unknown[key] += count
    duplicated = {key: times for key, times in received.items() if times > 1}
    unexplained = {k: t for k, t in duplicated.items() if t - 1 > unknown[k]}
    assert {} == unexplained
    print(
        f"\n{KILLS} kills: {len(accepted)} webhook posts accepted, {len(failures)} failures,"
        f" {len(delivered)} keys recorded delivered, {len(received)} keys received"
        f" ({sum(received.values())} requests),"
        f" {len(duplicated)} keys received twice or more"
        f" ({sum(t - 1 for t in duplicated.values())} extra requests),"
        f" {sum(unknown.values())} attempts of unknown outcome resent"
    )
