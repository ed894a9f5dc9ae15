"""The receiver is down for real seconds while a real `paramedic run` pages about a real crash.

A tier-1 engine crashes until its restart policy gives up (a human must act: a P0 that stays
firing). The on-call's channel (`pagerduty`, a signed webhook) points at a loopback port
that refuses connections for OUTAGE real seconds (30 in the long run, 5 in `make test`),
then listens again. The default backup of `pagerduty` is `phone`, a webhook to a second
receiver that stays up. Proves: the backup is paged after exactly `channel_failures` (3)
failed attempts of the on-call's page, not before; once the receiver returns, every
notification is delivered, each under the idempotency key it was created with.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.integration.runner import RunningParamedic, config_file, until
from tests.torture import long_run

pytestmark = pytest.mark.integration

OUTAGE = 30.0 if long_run() else 5.0
ENV = {"HOOK_SECRET": "hook-secret-0123456789"}


def write_config(tmp_path: Path, hook_url: str, phone_url: str) -> Path:
    return config_file(
        tmp_path,
        f"""channels:
  pagerduty: {{webhook: {{url: "{hook_url}/hook", secret_env: HOOK_SECRET}}}}
  phone: {{webhook: {{url: "{phone_url}/phone", secret_env: HOOK_SECRET}}}}
alerting:
  escalation: {{channel_failures: 3}}
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, "-c", "raise SystemExit(3)"]
      restart: {{policy: always, initial_backoff: 20ms, max_backoff: 50ms, burst: 2,
                 window: 60s}}
""",
        operator=None,
    )


def read(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


async def test_real_receiver_down_then_back(tmp_path: Path) -> None:
    db = tmp_path / "var" / "p.db"
    async with LoopbackReceiver() as hook, LoopbackReceiver() as phone:
        await hook.close()  # refused until start() reopens the same port
        config = write_config(tmp_path, hook.url, phone.url)
        p = RunningParamedic(config, env=ENV)
        try:
            await asyncio.to_thread(p.wait_started)
            down_since = time.monotonic()
            # the restart policy gives up: a P0 that stays firing; its page fails, retried
            await until(
                "no pagerduty attempt failed",
                lambda: (
                    db.exists()
                    and read(
                        db,
                        "SELECT count(*) FROM attempts a JOIN notifications n"
                        " ON n.id = a.notification_id WHERE n.channel = 'pagerduty'"
                        " AND a.outcome != 'delivered'",
                    )[0][0]
                ),
                20,
            )
            await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_since)))
            assert [] == [r for r in hook.requests]
            await hook.start()
            back = time.monotonic()
            await until(
                "notifications still pending",
                lambda: (
                    0
                    == read(db, "SELECT count(*) FROM notifications WHERE status = 'pending'")[0][0]
                ),
                OUTAGE * 1.2 + 30,
            )
            settled = time.monotonic() - back
        finally:
            p.ensure_dead()

    rows = read(
        db,
        "SELECT id, alert_id, channel, idempotency_key, status, created_wall FROM notifications",
    )
    webhooks = [r for r in rows if r[2] in ("pagerduty", "phone")]
    assert webhooks
    assert [] == [r for r in webhooks if r[4] != "delivered"]
    received: dict[str, set[str]] = {}
    for request in hook.requests + phone.requests:
        received.setdefault(request.json()["id"], set()).add(request.headers["Idempotency-Key"])
    assert {r[0]: {r[3]} for r in webhooks} == received  # once each, under its first key
    # The backup (phone) page of each alert came after exactly 3 failed pagerduty attempts.
    attempts = read(
        db,
        "SELECT n.alert_id, a.started_wall, a.outcome FROM attempts a JOIN notifications n"
        " ON n.id = a.notification_id WHERE n.channel = 'pagerduty' ORDER BY a.started_wall",
    )
    # (Later phone rows are rungs fired early by more failures: team-lead's channel is phone.)
    first_phone: dict[str, tuple[Any, ...]] = {}
    for row in sorted(webhooks, key=lambda r: r[5]):
        if row[2] == "phone":
            first_phone.setdefault(row[1], row)
    backups = list(first_phone.values())
    assert backups
    assert all(":oncall:phone:" in key for _n, _a, _c, key, _s, _w in backups), backups
    for _nid, alert_id, _ch, _key, _st, created in backups:
        failed_before = [
            a for a in attempts if a[0] == alert_id and a[2] != "delivered" and a[1] <= created
        ]
        assert 3 == len(failed_before), (alert_id, failed_before)
    failed = sum(1 for a in attempts if a[2] != "delivered")
    print(
        f"\nreceiver down {OUTAGE:.0f} s (real paramedic run): {len(webhooks)} webhook"
        f" notifications, {len(attempts)} pagerduty attempts ({failed} failed),"
        f" {len(backups)} backup page(s) after exactly 3 failures, all delivered {settled:.1f} s"
        " after the receiver returned"
    )
