"""Torture (issue 10): kill -9 of a real `paramedic run` at random moments across incidents,
recoveries, escalations and pending deliveries, restarted on the same store each time.

Real children: an engine (a recovery plan of a ~300 ms command step, `restart_process`,
`wait_healthy` on its readiness probe; the engine answers /health ~0.5 s after it starts)
and a plain supervised worker. Pages go through a signed webhook to a recording loopback
receiver that is slow (0-250 ms) and, at times, down (503). The P0 ladder has short rungs
(+1 s, +2 s, +4 s) so escalations are due while paramedic dies and comes back.

Each cycle: restart paramedic; maybe kill the engine (an incident and its recovery); maybe
take the receiver down for a while; maybe resolve a manual incident as a human would; then
kill -9 paramedic at a random moment. After the last cycle paramedic runs on and settles.
Asserted, and printed (`pytest -s`) for docs/reliability.md:

- 0 duplicated children: a sampler counts each service's live processes (by a marker word
  in their argv, from /proc) every 20 ms through the whole run: never more than one;
  the worker is back to exactly one after every restart;
- 0 lost pages: every alert recorded has its trigger at the receiver, by idempotency key;
- resends only for attempts in flight at a kill: a key received again after an answer that
  was not a retryable failure needs a kill between the two arrivals and an attempt recorded
  `unknown` (also in GET /api/alerts); no key reached the receiver that the store does not
  hold (so no resend under a new key);
- every rung fires within 1 s of its schedule (alert opened + rung offset), or within 1 s of
  the restart when it fell due while paramedic was down, and never early;
- every incident ends HEALTHY, RECOVERED or MANUAL_RECOVERY with its sentence (or
  RECOVERY_FAILED superseded by a relapse's incident that is itself at rest: see `at_rest`),
  and /recovery/status, /api/incidents and the resumption endpoint agree.

Seeded: the seed is printed; `PARAMEDIC_TORTURE_SEED=<n>` replays the same random moments.
`make torture` runs 50 kills, `make test` a short run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import free_port
from tests.integration.runner import RunningParamedic, pid_alive
from tests.torture import long_run

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
ENV = {"OPS_TOKEN": TOKEN, "HOOK_SECRET": "hook-secret-0123456789"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KILLS = 50 if long_run() else 6
RUNGS = {"backup-oncall": 1.0, "team-lead": 2.0, "cto": 4.0}  # the P0 ladder under test
# P0 pages that have no ladder of their own: a recovery's escalation pages (each level is a
# page of its own), approval pages, progress notices and the all-clear.
_NO_LADDER = (":escalation:", ":approval:", ":progress:", ":all-clear")
TIMER_BOUND_S = 1.0
SETTLED = {"HEALTHY", "RECOVERED", "MANUAL_RECOVERY"}


def at_rest(incident: dict[str, Any], listed: list[dict[str, Any]]) -> bool:
    """HEALTHY, RECOVERED or MANUAL_RECOVERY with its sentence; or RECOVERY_FAILED because the
    service relapsed within the watch period and a later incident (named in the sentence,
    itself at rest) owns the recovery: the state machine's design for a relapse, with or
    without a kill (reported as a finding, counted as `superseded_by_relapse`)."""
    sentence: str = incident["sentence"]
    if not sentence:
        return False
    if incident["state"] in SETTLED:
        return True
    later = [i for i in listed if i["id"] in sentence and i["id"] != incident["id"]]
    return (
        incident["state"] == "RECOVERY_FAILED"
        and sentence.startswith("relapsed within the watch period")
        and len(later) == 1
        and at_rest(later[0], listed)
    )


# Binds its port after a 0.5 s boot (so `wait_healthy` takes a while), answers /health. It
# survives its parent's death (paramedic re-adopts it), so the fixture ends it by marker.
ENGINE = """
import http.server, sys, time
time.sleep(0.5)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer.allow_reuse_address = True
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""
SLEEPER = "import signal; signal.pause()"
STEP = "import time; time.sleep(0.3)"


@dataclass
class Arrival:
    wall: float
    key: str
    body: dict[str, Any]
    answer: int | None = None  # None: paramedic went away before the answer


@dataclass
class TortureReceiver(LoopbackReceiver):
    """A recording receiver that is slow (a seeded 0-250 ms per request) and down (503)
    while `down_until` is in the future; it records every arrival and what it answered."""

    rng: random.Random = field(default_factory=random.Random)
    down_until: float = 0.0
    arrivals: list[Arrival] = field(default_factory=list)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        got = Arrival(time.time(), request.headers.get("Idempotency-Key", ""), json.loads(body))
        self.arrivals.append(got)
        await asyncio.sleep(self.rng.uniform(0.0, 0.25))
        got.answer = 503 if time.time() < self.down_until else 200
        return web.Response(status=got.answer, text="ok")


def marker(tmp_path: Path, name: str) -> str:
    return f"paramedic-kill9-{name}-{os.getpid()}-{abs(hash(tmp_path)) % 10**8}"


def count(word: str) -> list[int]:
    """Live processes whose argv holds `word` (read from /proc: no paramedic API involved)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if word.encode() in argv and pid_alive(int(entry)):
            found.append(int(entry))
    return found


class Sampler(threading.Thread):
    """Counts each service's processes every 20 ms; remembers the most seen at once."""

    def __init__(self, words: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.words = words
        self.most: Counter[str] = Counter()
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            for service, word in self.words.items():
                self.most[service] = max(self.most[service], len(count(word)))
            self.samples += 1


@pytest.fixture
def words(tmp_path: Path) -> Iterator[dict[str, str]]:
    found = {s: marker(tmp_path, s) for s in ("engine", "worker", "step")}
    yield found
    for word in found.values():
        for pid in count(word):
            os.kill(pid, signal.SIGKILL)


def write_config(tmp_path: Path, hook_url: str, words: dict[str, str]) -> Path:
    engine = tmp_path / "engine.py"
    engine.write_text(ENGINE)
    port = free_port()
    rungs = ", ".join(
        f"{{name: {name}, after: {after:g}s, contacts: [{name}], level: {level}}}"
        for level, (name, after) in enumerate(RUNGS.items(), start=2)
    )
    contacts = "\n".join(
        f"    {name}: {{display: {name}, channels: [pagerduty]}}" for name in RUNGS
    )
    path = tmp_path / "paramedic.yaml"
    path.write_text(
        f"""
api:
  listen: 127.0.0.1:{free_port()}
  tokens: [{{name: ops, role: operator, token_env: OPS_TOKEN}}]
store: {{path: var/p.db}}
channels:
  pagerduty: {{webhook: {{url: "{hook_url}/hook", secret_env: HOOK_SECRET}}}}
alerting:
  contacts:
{contacts}
  escalation:
    channel_failures: 1000
    policies:
      P0: {{steps: [{rungs}]}}
recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
  decision: {{failures_limit: 1000}}
  watch_period: 300ms
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, {str(engine)!r}, "{port}", {words["engine"]}]
      log_file: var/engine.log
      stop_timeout: 2s
    probes:
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 100ms, timeout: 100ms}}
    health: {{up_after: 1, evaluate_every: 50ms, flap_changes: 100, flap_window: 1s}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Reload positions, timeout: 10s,
                command: {{argv: [{sys.executable!r}, -c, {STEP!r}, {words["step"]}]}}}}
            - {{name: Restart engine, timeout: 10s, restart_process: {{}}}}
            - {{name: Wait until healthy, timeout: 10s, wait_healthy: {{}}}}
      resumption:
        phases:
          - {{name: monitoring_only, size_multiplier: 0.0, duration: 100ms}}
          - {{name: reduced, size_multiplier: 0.1, duration: 200ms}}
          - {{name: normal, size_multiplier: 1.0}}
  worker:
    process:
      argv: [{sys.executable!r}, -c, {SLEEPER!r}, {words["worker"]}]
      log_file: var/worker.log
      stop_timeout: 2s
      restart: {{policy: always, initial_backoff: 10ms}}
"""
    )
    return path


def read(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def wait_until(what: str, condition: Any, within: float) -> Any:
    """Poll another process (there is no event to wait on across processes); bounded."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            msg = f"timed out after {within} s waiting for {what}"
            raise AssertionError(msg)
        time.sleep(0.1)


@dataclass
class Run:
    """The wall times paramedic was up: [announced, killed)."""

    spans: list[tuple[float, float]] = field(default_factory=list)

    def baseline(self, due: float) -> float:
        """When a timer due at `due` could fire: `due` if paramedic was up then, else the
        next start."""
        for up, down in self.spans:
            if up <= due < down:
                return due
            if due < up:
                return up
        return due

    def kills_between(self, a: float, b: float) -> int:
        return sum(1 for _up, down in self.spans[:-1] if a < down < b)


async def start(config: Path) -> tuple[RunningParamedic, float]:
    p = RunningParamedic(config, env=ENV)
    await asyncio.to_thread(p.wait_started)
    return p, time.time()


def incidents(p: RunningParamedic, sentences: bool = False) -> list[dict[str, Any]]:
    """/api/incidents; with `sentences`, each with the sentence of its last move (from its
    history at /api/incidents/{id})."""
    found: list[dict[str, Any]] = p.get("/api/incidents", headers=AUTH).json()["incidents"]
    for i in found if sentences else []:
        history = p.get(f"/api/incidents/{i['id']}", headers=AUTH).json()["history"]
        i["sentence"] = history[-1]["reason"] if history else i["reason"]
    return found


async def torture(tmp_path: Path, words: dict[str, str], kills: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    db = tmp_path / "var" / "p.db"
    run = Run()
    sampler = Sampler({"engine": words["engine"], "worker": words["worker"]})
    sampler.start()
    figures: Counter[str] = Counter()
    hook = TortureReceiver(rng=random.Random(seed + 1))
    async with hook:
        config = write_config(tmp_path, hook.url, words)
        for _ in range(kills):
            p, up = await start(config)
            try:
                # The worker survived the kill and was re-adopted: exactly one, at once.
                assert 1 == len(count(words["worker"]))
                if rng.random() < 0.3:
                    hook.down_until = time.time() + rng.uniform(0.3, 2.0)
                    figures["receiver outages"] += 1
                manual = [i for i in incidents(p) if i["state"] == "MANUAL_RECOVERY"]
                engine = count(words["engine"])
                if manual and rng.random() < 0.7:
                    # A human fixed it: the engine runs again (if paramedic left it dead, the
                    # relapse opens a new incident whose recovery restarts it).
                    for incident in manual:
                        p.post(
                            f"/api/incidents/{incident['id']}/resolve",
                            headers=AUTH,
                            json={"reason": "fixed by hand"},
                        )
                    figures["manual incidents resolved by a human"] += len(manual)
                elif len(engine) == 1 and rng.random() < 0.8:
                    await asyncio.sleep(rng.uniform(0.0, 0.5))
                    try:
                        os.kill(engine[0], signal.SIGKILL)
                        figures["engine crashes"] += 1
                    except ProcessLookupError:  # paramedic ended it meanwhile (a recovery)
                        figures["engine gone before the test's kill"] += 1
                # The kill lands at a random instant of the incident, its recovery, its
                # ladder and its deliveries: that is the experiment.
                await asyncio.sleep(rng.uniform(0.0, 3.0))
                down = time.time()
                p.signal(signal.SIGKILL)
                await asyncio.to_thread(p.wait, 10)
                run.spans.append((up, down))
            finally:
                p.ensure_dead()
        hook.down_until = 0.0
        last, up = await start(config)
        try:
            assert 1 == len(count(words["worker"]))

            # Settle: nothing pending, every incident in a resting state (or resolved by the
            # human when manual, so that the engine comes back).
            def settled() -> bool:
                listed = incidents(last, sentences=True)
                pending = read(db, "SELECT count(*) FROM notifications WHERE status='pending'")
                return pending[0][0] == 0 and all(at_rest(i, listed) for i in listed)

            try:
                await asyncio.to_thread(wait_until, "a settled state", settled, 30)
            except AssertionError:
                stuck = [(i["id"], i["state"]) for i in incidents(last)]
                msg = f"seed {seed}: not settled after 30 s: {stuck}"
                raise AssertionError(msg) from None
            await asyncio.sleep(1.0)  # let a relapse or a late timer show itself
            listed = incidents(last, sentences=True)
            status = last.get("/recovery/status", params={"service": "engine"}, headers=AUTH)
            sizing = last.get("/api/services/engine/resumption", headers=AUTH).json()
            api_alerts = last.get("/api/alerts", params={"limit": 1000}, headers=AUTH).json()
            final_engines = len(count(words["engine"]))
            last.signal(signal.SIGTERM)
            assert 0 == await asyncio.to_thread(last.wait, 15)
            run.spans.append((up, time.time()))
        finally:
            last.ensure_dead()
        sampler.stop.set()
        sampler.join()
        arrivals = list(hook.arrivals)

    return judge(
        db, seed, kills, run, sampler, figures, arrivals,
        listed, status.json(), sizing, api_alerts, final_engines,
    )  # fmt: skip


def judge(
    db: Path,
    seed: int,
    kills: int,
    run: Run,
    sampler: Sampler,
    figures: Counter[str],
    arrivals: list[Arrival],
    listed: list[dict[str, Any]],
    status: dict[str, Any],
    sizing: dict[str, Any],
    api_alerts: dict[str, Any],
    final_engines: int,
) -> dict[str, Any]:
    """Every assertion of the module docstring; returns the figures."""
    problems: list[str] = []
    by_key: dict[str, list[Arrival]] = defaultdict(list)
    for a in arrivals:
        by_key[a.key].append(a)

    # 0 duplicated children.
    if sampler.most["engine"] > 1 or sampler.most["worker"] > 1:
        problems.append(f"duplicated children: most seen at once {dict(sampler.most)}")

    # 0 lost pages: every alert's trigger(s) on the webhook reached the receiver.
    rows = read(
        db,
        "SELECT n.id, n.alert_id, n.action, n.idempotency_key, n.status, a.severity,"
        " a.opened_wall, a.state, a.updated_wall FROM notifications n"
        " JOIN alerts a ON a.id = n.alert_id WHERE n.channel = 'pagerduty'",
    )
    alerts = {r[0] for r in read(db, "SELECT id FROM alerts")}
    triggers = {r[1]: r for r in rows if r[2] == "trigger"}
    lost = sorted(a for a in alerts if not any(r[1] == a and r[3] in by_key for r in rows))
    if lost:
        problems.append(f"lost pages (alerts whose page never arrived): {lost}")
    stored_keys = {r[3] for r in rows}
    strangers = sorted(set(by_key) - stored_keys)
    if strangers:
        problems.append(f"keys at the receiver the store does not hold: {strangers}")

    # Resends only for attempts in flight at a kill.
    unknown = Counter(
        key
        for (key,) in read(
            db,
            "SELECT n.idempotency_key FROM attempts t JOIN notifications n"
            " ON n.id = t.notification_id WHERE t.outcome = 'unknown'",
        )
    )
    shown_unknown = Counter(
        n["idempotency_key"]
        for alert in api_alerts["alerts"]
        for n in alert["notifications"]
        for attempt in n["attempts"]
        if attempt["outcome"] == "unknown"
    )
    resends: Counter[str] = Counter()
    for key, seen in by_key.items():
        for before, after in itertools.pairwise(seen):
            if before.answer is not None and before.answer >= 500:
                continue  # an ordinary retry of a failed attempt
            resends[key] += 1
            if not run.kills_between(before.wall, after.wall):
                problems.append(
                    f"{key} resent with no kill between the two arrivals"
                    f" ({before.wall:.3f} answered {before.answer}, {after.wall:.3f};"
                    f" kills at {[round(d, 3) for _u, d in run.spans]};"
                    f" rows {[(r[0], r[4]) for r in rows if r[3] == key]})"
                )
        if resends[key] > unknown[key]:
            problems.append(f"{key} resent {resends[key]} times, {unknown[key]} unknown attempts")
        if resends[key] and shown_unknown[key] != unknown[key]:
            problems.append(f"{key}: GET /api/alerts shows {shown_unknown[key]} unknown attempts")

    # Every rung on time: fired within 1 s of when it could fire, never early; a rung due
    # while its alert was open (by more than the bound) must have fired.
    lateness: list[float] = []
    rungs_due_while_down = 0
    for alert_id, row in triggers.items():
        if row[5] != "P0" or any(m in alert_id for m in _NO_LADDER):
            continue
        opened, state, updated = row[6], row[7], row[8]
        for contact, offset in RUNGS.items():
            due = opened + offset
            keys = [r[3] for r in rows if r[1] == alert_id and f":trigger:{contact}:" in r[3]]
            fired = sorted(a.wall for k in keys for a in by_key.get(k, []))
            if not fired:
                ended = updated if state == "resolved" else float("inf")
                if due + TIMER_BOUND_S < ended and due + TIMER_BOUND_S < run.spans[-1][1]:
                    problems.append(f"{alert_id}: rung {contact} due at {due:.3f} never fired")
                continue
            baseline = run.baseline(due)
            rungs_due_while_down += baseline != due
            lateness.append(fired[0] - baseline)
            if fired[0] < due - 0.05:
                problems.append(f"{alert_id}: rung {contact} fired {due - fired[0]:.3f} s early")
    late = sorted(lateness)
    worst = late[-1] if late else 0.0
    p99 = late[min(len(late) - 1, int(0.99 * len(late)))] if late else 0.0
    if worst > TIMER_BOUND_S:
        problems.append(f"a rung fired {worst:.3f} s after it could (bound {TIMER_BOUND_S} s)")

    # Every incident at rest, with its sentence; the three views agree.
    states = Counter(i["state"] for i in listed)
    for i in listed:
        if not at_rest(i, listed):
            problems.append(f"incident {i['id']} ended {i['state']} ({i['sentence']!r})")
    newest = next((i for i in listed if i["service"] == "engine"), None)
    if newest is not None:
        if status["state"] != newest["state"] or not status.get("status_message"):
            problems.append(f"/recovery/status {status['state']} but newest incident {newest}")
        shared = ("phase", "size_multiplier", "should_trade")
        said = newest["resumption"]
        if said is None:  # no resumption: trading normally when closed, else halted
            if sizing["should_trade"] != (newest["state"] == "HEALTHY"):
                problems.append(f"resumption {sizing} for incident {newest}")
        elif {k: said.get(k) for k in shared} != {k: sizing.get(k) for k in shared}:
            problems.append(f"resumption {sizing} but /api/incidents says {said}")
        if newest["state"] == "MANUAL_RECOVERY" and sizing["should_trade"]:
            problems.append(f"manual incident but the resumption endpoint says trade: {sizing}")

    result = {
        "seed": seed,
        "kills": kills,
        "most_engines_at_once": sampler.most["engine"],
        "most_workers_at_once": sampler.most["worker"],
        "child_samples": sampler.samples,
        "final_engines": final_engines,
        "alerts": len(alerts),
        "lost_pages": len(lost),
        "keys_received": len(by_key),
        "requests_received": len(arrivals),
        "resends": sum(resends.values()),
        "unknown_attempts": sum(unknown.values()),
        "rungs_fired": len(lateness),
        "rungs_due_while_down": rungs_due_while_down,
        "timer_lateness_max_s": round(worst, 3),
        "timer_lateness_p99_s": round(p99, 3),
        "incidents": len(listed),
        "final_states": dict(states),
        "superseded_by_relapse": states["RECOVERY_FAILED"],
        **figures,
    }
    print(f"\nkill -9 torture: {json.dumps(result)}")
    assert [] == problems, f"seed {seed}: {problems}"
    return result


@pytest.mark.timeout(1800 if long_run() else 240)
def test_kill_9_of_paramedic_at_random_moments(tmp_path: Path, words: dict[str, str]) -> None:
    """See the module docstring: `KILLS` kill -9s, then the five promises checked."""
    given = os.environ.get("PARAMEDIC_TORTURE_SEED")
    seed = int(given) if given else random.SystemRandom().randrange(2**31)
    print(f"\nkill -9 torture: seed {seed} (replay: PARAMEDIC_TORTURE_SEED={seed})")
    result = asyncio.run(torture(tmp_path, words, KILLS, seed))
    assert KILLS == result["kills"]
