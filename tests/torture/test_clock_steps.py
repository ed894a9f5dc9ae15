"""Wall-clock steps of +1 h and -1 h while rungs, an approval and an ack are pending.

A real `paramedic run` under libfaketime (Debian `faketime`), with only wall time faked
(`FAKETIME_DONT_FAKE_MONOTONIC=1`): like an NTP step, CLOCK_MONOTONIC runs on, and it is the
same clock this test reads, so paramedic's timeline `mono` and the receiver's arrival times
compare directly. The wall clock is stepped +1 h, then to -1 h, while

(a) a P0's short ladder (oncall +0, backup-oncall +6 s, team-lead +10 s, to a loopback
    webhook) has two rungs pending,
(b) an approval with an 8 s timeout is pending (a cold restart that needs a human),
(c) an acknowledgement lasting 8 s (`ack_ttl`) is pending on another P0.

Each fires on its monotonic schedule: not early by the +1 h step, not postponed (or never)
by the -1 h one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.integration.runner import RunningParamedic, config_file, until
from tests.torture import long_run

pytestmark = pytest.mark.integration

LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
TOKEN = "operator-token-0123456789"
EARLY = 0.05  # a timer never fires before its time (this absorbs rounding of the store)
LATE = 1.5 if long_run() else 2.5  # a loaded 2-core CI machine; a step would be 3600 s off
ROUNDS = 3 if long_run() else 1
RUNGS = (6.0, 10.0)  # the P0 ladder after oncall; the wall steps at +1 s and +2.5 s
WAIT = 8.0  # the approval timeout and the ack_ttl
# Due after the restart even on a loaded machine (restarting takes a few seconds there);
# `make torture` keeps the wider spacing its figures in docs/reliability.md were taken with.
RESTART_RUNGS = (20.0, 30.0) if long_run() else (12.0, 20.0)


class TimedReceiver(LoopbackReceiver):
    """Records the monotonic arrival time of each request (the clock paramedic shares)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, dict[str, Any]]] = []

    async def _handle(self, request: web.Request) -> web.Response:
        answer = await super()._handle(request)
        self.arrivals.append((time.monotonic(), self.requests[-1].json()))
        return answer


def write_config(tmp_path: Path, hook_url: str, rungs: tuple[float, float] = RUNGS) -> Path:
    ladder = [
        ("oncall", "0s", 1),
        ("backup-oncall", f"{rungs[0]:g}s", 2),
        ("team-lead", f"{rungs[1]:g}s", 3),
    ]
    steps = ", ".join(
        f"{{name: {n}, after: {a}, contacts: [{n}], level: {lvl}}}" for n, a, lvl in ladder
    )
    return config_file(
        tmp_path,
        f"""channels:
  hook: {{webhook: {{url: "{hook_url}/hook", secret_env: HOOK_SECRET}}}}
alerting:
  contacts:
    oncall: {{channels: [hook]}}
    backup-oncall: {{channels: [hook]}}
    team-lead: {{channels: [hook]}}
  escalation:
    ack_ttl: {WAIT:g}s
    policies:
      P0: {{steps: [{steps}]}}
recovery:
  approval:
    timeout: {WAIT:g}s
    require: {{market_open: [cold, manual], market_closed: [cold, manual]}}
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, "-c", "import signal; signal.pause()"]
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
  feed:
    tier: 1
    process:
      argv: [{sys.executable!r}, "-c", "raise SystemExit(3)"]
      restart: {{policy: always, initial_backoff: 20ms, max_backoff: 50ms, burst: 1,
                 window: 60s}}
""",
    )


def events(db: Path, kind: str) -> list[tuple[float, float, str | None, str]]:
    """(mono, wall, service, payload) of every timeline event of `kind`."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT mono, wall, service, payload FROM timeline WHERE kind = ? ORDER BY seq",
            [kind],
        ).fetchall()


def faked_wall_clock(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The file that sets paramedic's wall-clock offset (write "+3600" to step it an hour
    ahead) and the environment that runs paramedic under libfaketime, monotonic time real."""
    fake = tmp_path / "faketime"
    fake.write_text("+0\n")
    env = {
        "OPS_TOKEN": TOKEN,
        "HOOK_SECRET": "hook-secret-0123456789",
        "LD_PRELOAD": str(LIB),
        "FAKETIME_TIMESTAMP_FILE": str(fake),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    return fake, env


def on_time(what: str, fired: float, due: float) -> float:
    """Lateness of a timer fired at `fired` (monotonic) that was due at `due`."""
    late = fired - due
    assert -EARLY <= late <= LATE, f"{what}: fired {late:+.2f} s from its monotonic due time"
    return late


@pytest.mark.skipif(not LIB.exists(), reason=f"libfaketime missing ({LIB}: apt install faketime)")
@pytest.mark.parametrize("round_", range(ROUNDS))
async def test_wall_clock_steps_neither_fire_early_nor_cancel(tmp_path: Path, round_: int) -> None:
    db = tmp_path / "var" / "p.db"
    fake, env = faked_wall_clock(tmp_path)
    real_offset = time.time() - time.monotonic()
    async with TimedReceiver() as hook:
        p = RunningParamedic(write_config(tmp_path, hook.url), env=env)
        try:
            url = await asyncio.to_thread(p.wait_started)
            client = httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
            )
            # (a), (b): the engine is killed: a P0 with its ladder, and an approval request.
            spawned = await until("engine spawned", lambda: events(db, "process.spawned"), 20)
            pid = next(
                int(json.loads(payload)["pid"])
                for _m, _w, service, payload in spawned
                if service == "engine"
            )
            os.kill(pid, signal.SIGKILL)
            [(killed, *_)] = await until(
                "approval requested", lambda: events(db, "approval.requested"), 20
            )
            # (c) feed crash-looped until its restart policy gave up: a P0 that stays. It is
            # acknowledged for ack_ttl.
            feed_alert = await until(
                "feed's first page",
                lambda: next(
                    (b["alert_id"] for _t, b in hook.arrivals if b["labels"]["service"] == "feed"),
                    None,
                ),
                20,
            )
            acked = await client.post(f"/api/alerts/{feed_alert}/ack", json={"reason": "on it"})
            assert 200 == acked.status_code, acked.text
            await asyncio.sleep(max(0.0, killed + 1.0 - time.monotonic()))
            fake.write_text("+3600\n")  # NTP steps the wall clock an hour ahead ...
            stepped_ahead = time.monotonic()
            await asyncio.sleep(max(0.0, killed + 2.5 - time.monotonic(), 1.0))
            fake.write_text("-3600\n")  # ... then two hours back
            stepped_back = time.monotonic()
            await until(
                "team-lead rung",
                lambda: [
                    t
                    for t, b in hook.arrivals
                    # the ladder's rung, not the approval page the team lead gets at once
                    if ":team-lead:" in b["idempotency_key"] and ":approval:" not in b["alert_id"]
                ],
                20,
            )
            await until("approval timeout", lambda: events(db, "approval.timed_out"), 20)
            await until("ack expiry", lambda: events(db, "alert.ack_expired"), 20)
            await client.aclose()
        finally:
            p.ensure_dead()

    raised = {payload_alert(payload): mono for mono, _w, _s, payload in events(db, "alert.raised")}
    engine_alert = next(a for a in raised if a != feed_alert and a.endswith(":failure"))
    late: dict[str, float] = {}
    for rung, after in zip(("backup-oncall", "team-lead"), RUNGS, strict=True):
        [arrived] = [
            t
            for t, b in hook.arrivals
            if b["alert_id"] == engine_alert and f":{rung}:" in b["idempotency_key"]
        ]
        late[rung] = on_time(rung, arrived, raised[engine_alert] + after)
    [(req_mono, _w, _s, _p)] = events(db, "approval.requested")
    [(timed_out, timed_out_wall, _s, _p)] = events(db, "approval.timed_out")
    late["approval"] = on_time("approval timeout", timed_out, req_mono + WAIT)
    [(ack_mono, _w, _s, _p)] = events(db, "alert.acknowledged")
    [(expired, _w, _s, _p)] = events(db, "alert.ack_expired")
    late["ack"] = on_time("ack expiry", expired, ack_mono + WAIT)
    repaged = [t for t, b in hook.arrivals if "ack-expired" in b["idempotency_key"]]
    assert repaged, "the lapsed ack did not page again"
    late["ack page"] = on_time("ack expiry page", repaged[0], ack_mono + WAIT)
    # The steps took: paramedic's wall clock read an hour behind when the approval timed out.
    assert abs(timed_out_wall - (timed_out + real_offset) + 3600) < 5
    # Both steps landed while everything above was pending.
    assert (
        stepped_ahead
        < stepped_back
        < min(raised[engine_alert] + RUNGS[0], req_mono + WAIT, ack_mono + WAIT)
    )
    print(
        f"\nwall clock +1 h at +{stepped_ahead - killed:.1f} s, -1 h at"
        f" +{stepped_back - killed:.1f} s after the kill; lateness against the monotonic"
        " schedule: " + ", ".join(f"{k} {v * 1000:+.0f} ms" for k, v in late.items())
    )


def payload_alert(payload: str) -> str:
    return str(json.loads(payload)["alert_id"])


@pytest.mark.skipif(not LIB.exists(), reason=f"libfaketime missing ({LIB}: apt install faketime)")
@pytest.mark.parametrize("step", ["+3600", "-3600"] if long_run() else ["-3600"])
async def test_a_kill_9_after_a_wall_step_keeps_the_rungs_on_time(
    tmp_path: Path, step: str
) -> None:
    """feed gives up (a P0 that stays, rungs pending at RESTART_RUNGS: after the restart,
    even on a loaded machine); the wall clock steps
    `step`; paramedic is killed -9 and restarted on the same boot. No rung fires early (the
    +1 h step made them look overdue to a restart that rebased on wall time), and each rung
    due after the restart fires on its monotonic time (not an hour late after -1 h)."""
    db = tmp_path / "var" / "p.db"
    fake, env = faked_wall_clock(tmp_path)
    async with TimedReceiver() as hook:
        config = write_config(tmp_path, hook.url, RESTART_RUNGS)
        first = RunningParamedic(config, env=env)
        try:
            await asyncio.to_thread(first.wait_started)
            # feed crash-loops until its restart policy gives up: a P0 that stays firing.
            alert_id = await until(
                "feed's first page",
                lambda: next(
                    (b["alert_id"] for _t, b in hook.arrivals if b["labels"]["service"] == "feed"),
                    None,
                ),
                20,
            )
            [raised] = await until(
                "feed's alert recorded",
                lambda: [
                    m
                    for m, _w, _s, p in events(db, "alert.raised")
                    if json.loads(p)["alert_id"] == alert_id
                ],
                20,
            )
            fake.write_text(f"{step}\n")
            first.signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        finally:
            first.ensure_dead()
        second = RunningParamedic(config, env=env)
        try:
            await asyncio.to_thread(second.wait_started)
            restarted = time.monotonic()

            def first_arrival(rung: str) -> float | None:
                return next(
                    (
                        t
                        for t, b in hook.arrivals
                        if b["alert_id"] == alert_id and f":{rung}:" in b["idempotency_key"]
                    ),
                    None,
                )

            await until("team-lead rung", lambda: first_arrival("team-lead"), 40)
        finally:
            second.ensure_dead()
    # The last rung fell due after the restart: the run tested the rebase, not only catch-up.
    assert raised + RESTART_RUNGS[1] > restarted, f"the restart took {restarted - raised:.1f} s"
    late = {}
    for rung, after in zip(("backup-oncall", "team-lead"), RESTART_RUNGS, strict=True):
        arrived = first_arrival(rung)
        assert arrived is not None, rung
        due = raised + after
        if due >= restarted:
            late[rung] = on_time(rung, arrived, due)
        else:  # fell due while paramedic was down: once, at the restart, never before due
            assert arrived >= due - EARLY, f"{rung} fired {due - arrived:.2f} s early"
            late[rung] = arrived - due
    print(
        f"\nwall clock {step} s, kill -9 and restart {restarted - raised:.1f} s after the alert;"
        " lateness against the monotonic schedule: "
        + ", ".join(f"{k} {v * 1000:+.0f} ms" for k, v in late.items())
    )
