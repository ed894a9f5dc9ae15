"""paramedic's own death never touches its children: kill -9 it, restart it on the same store,
and it supervises the very processes it left (no second copy), ends the commands it cannot
re-adopt, and leaves a stranger that inherited a recorded pid alone."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paramedic.core.clock import SystemClock
from paramedic.core.process_events import ProcessSpawned
from paramedic.process.identity import boot_id, identify
from paramedic.store.sqlite import SQLiteStore
from tests.conftest import free_port
from tests.integration.configs import engine_plan
from tests.integration.runner import RunningParamedic, config_file, pid_alive, wait_until

pytestmark = pytest.mark.integration

# A small engine: binds its TCP port (a second copy dies with "Address already in use"),
# answers /health, and on SIGUSR1 writes 2 MB to its stdout then a marker line.
ENGINE = """
import http.server, signal, sys
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health)
def flood(*_):
    for i in range(20000):
        print("x" * 99)
    print("flood done", flush=True)
signal.signal(signal.SIGUSR1, flood)
print("engine listening", flush=True)
server.serve_forever()
"""
SLEEPER = "import signal; signal.pause()"


def marker(tmp_path: Path, name: str) -> str:
    """A unique argv word, so the test can count the processes of one service."""
    return f"paramedic-adopt-{name}-{os.getpid()}-{abs(hash(tmp_path)) % 10**8}"


def count(word: str) -> list[int]:
    """Live processes whose command line holds `word`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if word.encode() in cmdline.split(b"\0") and pid_alive(int(entry)):
            found.append(int(entry))
    return found


def events(p: RunningParamedic, kind: str | None = None) -> list[dict[str, Any]]:
    all_events: list[dict[str, Any]] = p.get("/api/timeline", params={"limit": 1000}).json()[
        "events"
    ]
    return [e for e in all_events if kind is None or e["kind"] == kind]


@pytest.fixture
def cleanup() -> Iterator[list[Callable[[], None]]]:
    actions: list[Callable[[], None]] = []
    yield actions
    for action in reversed(actions):
        action()


def kill_all(word: str) -> None:
    for pid in count(word):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def engine_config(tmp_path: Path, port: int, engine: str, worker: str, extra: str = "") -> Path:
    script = tmp_path / "engine.py"
    script.write_text(ENGINE)
    return config_file(
        tmp_path,
        f"""shutdown_timeout: 10s
services:
  engine:
    process:
      argv: [{sys.executable!r}, {str(script)!r}, "{port}", {engine}]
      stop_timeout: 2s
      log_file: var/engine.log
      restart: {{policy: always, initial_backoff: 10ms}}
    probes:
      - {{name: ready, role: readiness, http: {{url: "http://127.0.0.1:{port}/health"}},
          period: 100ms, timeout: 100ms}}
    health: {{up_after: 1, evaluate_every: 50ms}}
  worker:
    process:
      argv: [{sys.executable!r}, -c, {SLEEPER!r}, {worker}]
      stop_timeout: 2s
{extra}
""",
        operator=None,
    )


def start(config: Path, cleanup: list[Callable[[], None]]) -> RunningParamedic:
    p = RunningParamedic(config)
    cleanup.append(p.ensure_dead)
    p.wait_started()
    return p


def test_kill_9_of_paramedic_then_restart_re_adopts_without_a_second_copy(
    tmp_path: Path, cleanup: list[Callable[[], None]]
) -> None:
    """kill -9 paramedic: the engine and the plain worker keep running and the engine keeps
    logging (2 MB after the kill land in its log file). Restarted on the same store,
    paramedic re-adopts both (the same pids, one process each, none spawned), readiness
    goes green on the adopted engine; a kill -9 of the adopted engine is noticed at once
    and restarted as usual; SIGTERM then leaves no process behind."""
    engine_word, worker_word = marker(tmp_path, "engine"), marker(tmp_path, "worker")
    cleanup.append(lambda: kill_all(engine_word))
    cleanup.append(lambda: kill_all(worker_word))
    config = engine_config(tmp_path, free_port(), engine_word, worker_word)

    first = start(config, cleanup)
    first.wait_for_line("engine: up")
    spawned = {e["service"]: e["payload"]["pid"] for e in events(first, "process.spawned")}
    for pid in spawned.values():  # its own session and group: nothing of paramedic's reaches it
        assert pid == os.getsid(pid) == os.getpgid(pid) != os.getpgid(first.proc.pid)
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)

    assert [spawned["engine"]] == count(engine_word)
    assert [spawned["worker"]] == count(worker_word)
    log = tmp_path / "var" / "engine.log"
    os.kill(spawned["engine"], signal.SIGUSR1)
    wait_until("the flood in the log", lambda: b"flood done" in log.read_bytes())
    assert log.stat().st_size > 2_000_000
    assert pid_alive(spawned["engine"])

    second = start(config, cleanup)
    second.wait_for_line("engine: up")  # readiness vouched for the adopted engine
    adopted = {e["service"]: e["payload"]["pid"] for e in events(second, "process.adopted")}
    assert spawned == adopted
    assert 2 == len(events(second, "process.spawned"))  # the first run's two, no more
    assert [spawned["engine"]] == count(engine_word)
    assert [spawned["worker"]] == count(worker_word)
    assert "Address already in use" not in log.read_text(errors="replace")

    killed_at = time.time()
    os.kill(spawned["engine"], signal.SIGKILL)
    exited = wait_until(
        "the adopted engine's exit",
        lambda: [
            e for e in events(second, "process.exited") if e["payload"]["pid"] == spawned["engine"]
        ],
    )
    assert "status unknown: re-adopted after paramedic restart" in exited[0]["summary"]
    assert exited[0]["wall"] - killed_at < 0.5
    replacement = wait_until(
        "the replacement engine", lambda: events(second, "process.spawned")[2:]
    )[0]["payload"]["pid"]
    wait_until("one engine again", lambda: count(engine_word) == [replacement])

    second.signal(signal.SIGTERM)
    assert 0 == second.wait(timeout=15)
    assert [] == count(engine_word)
    assert [] == count(worker_word)


def record_spawned(store_path: Path, service: str, pid: int, start_time: int) -> None:
    """Write the record a previous run would have left: `service` running as `pid`."""

    async def write() -> None:
        store = SQLiteStore(store_path)
        await store.open()
        try:
            await store.append(
                ProcessSpawned(
                    at=SystemClock().now(),
                    service=service,
                    pid=pid,
                    argv=("engine",),
                    start_time=start_time,
                    boot_id=boot_id(),
                )
            )
        finally:
            await store.close()

    asyncio.run(write())


def test_a_recycled_pid_is_neither_adopted_nor_killed(
    tmp_path: Path, cleanup: list[Callable[[], None]]
) -> None:
    """The store says the worker runs as pid N, and pid N is alive, but with another start
    time: a stranger got the number. It is not adopted and not signalled; a new worker is
    started and the timeline says why the old record was dropped."""
    worker_word = marker(tmp_path, "worker")
    cleanup.append(lambda: kill_all(worker_word))
    stranger = subprocess.Popen([sys.executable, "-c", SLEEPER])
    cleanup.append(lambda: (stranger.kill(), stranger.wait()))
    real = wait_until("the stranger's start time", lambda: identify(stranger.pid))
    config = engine_config(tmp_path, free_port(), marker(tmp_path, "engine"), worker_word)
    cleanup.append(lambda: kill_all(marker(tmp_path, "engine")))
    record_spawned(tmp_path / "var" / "p.db", "worker", stranger.pid, real.start_time + 7)

    p = start(config, cleanup)
    assert [] == events(p, "process.adopted")
    [lost] = [e for e in events(p, "process.exited") if e["payload"]["pid"] == stranger.pid]
    assert "now belongs to another process" in lost["summary"]
    [worker] = [
        e["payload"]["pid"] for e in events(p, "process.spawned") if e["service"] == "worker"
    ][1:]
    assert worker != stranger.pid
    assert [worker] == count(worker_word)
    p.signal(signal.SIGTERM)
    assert 0 == p.wait(timeout=15)
    assert stranger.poll() is None  # never signalled, not even at the stop


def test_a_step_command_cut_off_by_the_crash_is_ended_by_the_restart(
    tmp_path: Path, cleanup: list[Callable[[], None]]
) -> None:
    """kill -9 while a recovery step's command runs: the command (and its group) outlives
    paramedic, but the restart ends it and says so on the timeline; the step, whose outcome
    nobody knows, goes to a human as before."""
    step_word = marker(tmp_path, "step")
    cleanup.append(lambda: kill_all(step_word))
    reload = f"""\
            - {{name: Reload positions, timeout: 60s, command: {{argv:
                [{sys.executable!r}, -c, 'import time; time.sleep(60)', {step_word}]}}}}
"""
    config = config_file(tmp_path, engine_plan(reload), operator=None)
    first = start(config, cleanup)
    first.wait_for_line("engine: up")
    [engine] = first.child_pids()
    os.kill(engine, signal.SIGKILL)
    first.wait_for_line("step 1/1 started: Reload positions")
    [step] = wait_until("the step's command", lambda: count(step_word))
    # Its record is submitted, not awaited, by the step: killed before that commit, the
    # restart cannot know the command (a gap of ~1 ms the test does not aim at).
    wait_until("the step's record", lambda: events(first, "command.started"))
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert [step] == count(step_word)  # a SIGKILLed paramedic ends nothing itself

    second = start(config, cleanup)
    # SIGKILLed before the start was announced; the kernel may take a moment to reap it.
    wait_until("the step's command to end", lambda: not count(step_word), within=5)
    [ended] = events(second, "process.orphan_ended")
    assert step == ended["payload"]["pid"]
    assert (
        f"engine: command of recovery step 'Reload positions' (pid {step}) was still running"
        " from paramedic's previous run"
    ) in ended["summary"]
    assert "process group was killed" in ended["summary"]
    status = second.get("/recovery/status").json()
    assert "MANUAL_RECOVERY" == status["state"]
    second.signal(signal.SIGTERM)
    assert 0 == second.wait(timeout=15)


def test_a_step_command_whose_record_was_lost_is_ended_all_the_same(
    tmp_path: Path, cleanup: list[Callable[[], None]]
) -> None:
    """kill -9 in the instant between a step's command spawn and the commit of its
    `command.started` (simulated by deleting the row): the restart still ends the command,
    found in the command ledger, and says so on the timeline."""
    step_word = marker(tmp_path, "step")
    cleanup.append(lambda: kill_all(step_word))
    config = tmp_path / "paramedic.yaml"
    config.write_text(
        f"""
api: {{listen: 127.0.0.1:{free_port()}}}
store: {{path: var/p.db}}
recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
services:
  engine:
    process:
      argv: [{sys.executable!r}, "-c", {SLEEPER!r}]
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Reload positions, timeout: 60s, command: {{argv:
                [{sys.executable!r}, -c, 'import time; time.sleep(60)', {step_word}]}}}}
"""
    )
    first = start(config, cleanup)
    first.wait_for_line("engine: up")
    [engine] = first.child_pids()
    os.kill(engine, signal.SIGKILL)
    wait_until("the step's record", lambda: events(first, "command.started"))
    [step] = count(step_word)
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    with sqlite3.connect(tmp_path / "var" / "p.db") as db:
        db.execute("DELETE FROM timeline WHERE kind = 'command.started'")
    db.close()

    second = start(config, cleanup)
    wait_until("the step's command to end", lambda: not count(step_word), within=5)
    [ended] = events(second, "process.orphan_ended")
    assert step == ended["payload"]["pid"]
    assert "process group was killed" in ended["summary"]
    second.signal(signal.SIGTERM)
    assert 0 == second.wait(timeout=15)


def test_keep_running_on_stop_survives_a_planned_restart(
    tmp_path: Path, cleanup: list[Callable[[], None]]
) -> None:
    """SIGTERM paramedic: a worker with keep_running_on_stop is left running (and said so),
    the engine without it is stopped as before; the next start re-adopts the worker, and
    a later stop without the option stops the adopted worker like any child."""
    engine_word, worker_word = marker(tmp_path, "engine"), marker(tmp_path, "worker")
    cleanup.append(lambda: kill_all(engine_word))
    cleanup.append(lambda: kill_all(worker_word))
    port = free_port()
    config = engine_config(
        tmp_path, port, engine_word, worker_word, "      keep_running_on_stop: true"
    )
    first = start(config, cleanup)
    first.wait_for_line("engine: up")
    spawned = {e["service"]: e["payload"]["pid"] for e in events(first, "process.spawned")}
    first.signal(signal.SIGTERM)
    assert 0 == first.wait(timeout=15)
    assert [] == count(engine_word)
    assert [spawned["worker"]] == count(worker_word)
    assert any("worker: pid" in line and "left running" in line for line in first.output)

    engine_config(tmp_path, port, engine_word, worker_word)  # the option removed
    second = start(config, cleanup)
    [adopted] = events(second, "process.adopted")
    assert ("worker", spawned["worker"]) == (adopted["service"], adopted["payload"]["pid"])
    assert [spawned["worker"]] == count(worker_word)
    second.signal(signal.SIGTERM)
    assert 0 == second.wait(timeout=15)
    assert [] == count(worker_word)
    stopped = f"worker: pid {spawned['worker']} exited (status unknown: re-adopted"
    assert any(stopped in line and "(stopped by paramedic)" in line for line in second.output)


def test_a_probe_command_cut_off_by_the_crash_is_ended_by_the_restart(
    tmp_path: Path, cleanup: list[Callable[[], None]]
) -> None:
    """A command probe is running when paramedic is kill -9'd: it outlives paramedic (its
    timeout died with it), and the restart ends it and says so on the timeline."""
    probe_word = marker(tmp_path, "probe")
    cleanup.append(lambda: kill_all(probe_word))
    config = config_file(
        tmp_path,
        f"""services:
  db:
    probes:
      - {{name: slow, role: liveness, period: 30s, timeout: 30s, command: {{argv:
          [{sys.executable!r}, -c, 'import time; time.sleep(60)', {probe_word}]}}}}
""",
        operator=None,
    )
    first = start(config, cleanup)
    [probe] = wait_until("the probe's command", lambda: count(probe_word))
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert pid_alive(probe)

    second = start(config, cleanup)
    # SIGKILLed before the start was announced; the kernel may take a moment to end it.
    wait_until("the probe's command to end", lambda: not pid_alive(probe), within=5)
    [ended] = events(second, "process.orphan_ended")
    assert probe == ended["payload"]["pid"]
    assert ended["summary"].startswith(f"command {sys.executable} (pid {probe}) was still running")
    second.signal(signal.SIGTERM)
    assert 0 == second.wait(timeout=15)


def test_a_child_spawned_just_before_the_crash_is_found_without_its_record(
    tmp_path: Path, cleanup: list[Callable[[], None]]
) -> None:
    """kill -9 in the instant between a spawn and its record: the store has no
    `process.spawned` for the engine (simulated by deleting the row). The restart finds the
    engine by its environment (this store's token and its spawn id, a session leader) and
    re-adopts it rather than start a second copy."""
    engine_word, worker_word = marker(tmp_path, "engine"), marker(tmp_path, "worker")
    cleanup.append(lambda: kill_all(engine_word))
    cleanup.append(lambda: kill_all(worker_word))
    config = engine_config(tmp_path, free_port(), engine_word, worker_word)
    first = start(config, cleanup)
    first.wait_for_line("engine: up")
    [engine] = count(engine_word)
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    with sqlite3.connect(tmp_path / "var" / "p.db") as db:
        db.execute("DELETE FROM timeline WHERE kind = 'process.spawned' AND service = 'engine'")
    db.close()

    second = start(config, cleanup)
    [adopted] = [e for e in events(second, "process.adopted") if e["service"] == "engine"]
    assert engine == adopted["payload"]["pid"]
    assert "found by its environment" in adopted["summary"]
    assert [] == [e for e in events(second, "process.spawned") if e["service"] == "engine"]
    assert [engine] == count(engine_word)
    second.signal(signal.SIGTERM)
    assert 0 == second.wait(timeout=15)
    assert [] == count(engine_word)


def test_kill_9_between_a_restart_step_and_the_next_re_adopts_the_restarted_engine(
    tmp_path: Path, cleanup: list[Callable[[], None]]
) -> None:
    """kill -9 after the recovery's restart_process step started a new engine and while the
    next step's command runs: the restart re-adopts the engine that step started (one copy,
    no spawn), ends the command, and hands the run, whose last step's outcome is unknown,
    to a human."""
    engine_word, step_word = marker(tmp_path, "engine"), marker(tmp_path, "step")
    cleanup.append(lambda: kill_all(engine_word))
    cleanup.append(lambda: kill_all(step_word))
    config = tmp_path / "paramedic.yaml"
    config.write_text(
        f"""
api: {{listen: 127.0.0.1:{free_port()}}}
store: {{path: var/p.db}}
recovery:
  approval: {{require: {{market_open: [manual], market_closed: [manual]}}}}
services:
  engine:
    process:
      argv: [{sys.executable!r}, "-c", {SLEEPER!r}, {engine_word}]
    health: {{up_after: 1, evaluate_every: 50ms}}
    recovery:
      methods:
        cold:
          steps:
            - {{name: Restart engine, restart_process: {{}}, timeout: 10s}}
            - {{name: Reload positions, timeout: 60s, command: {{argv:
                [{sys.executable!r}, -c, 'import time; time.sleep(60)', {step_word}]}}}}
"""
    )
    first = start(config, cleanup)
    first.wait_for_line("engine: up")
    [engine] = first.child_pids()
    os.kill(engine, signal.SIGKILL)
    first.wait_for_line("step 2/2 started: Reload positions")
    wait_until("the step's record", lambda: events(first, "command.started"))
    [_, restarted] = first.child_pids()
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert [restarted] == count(engine_word)

    second = start(config, cleanup)
    [adopted] = events(second, "process.adopted")
    assert restarted == adopted["payload"]["pid"]
    assert 2 == len(events(second, "process.spawned"))  # the first run's two, no more
    assert [] == events(second, "failure.detected")[1:]  # the first crash's only
    wait_until("the step's command to end", lambda: not count(step_word), within=5)
    assert [restarted] == count(engine_word)
    assert "MANUAL_RECOVERY" == second.get("/recovery/status").json()["state"]
    second.signal(signal.SIGTERM)
    assert 0 == second.wait(timeout=15)
    assert [] == count(engine_word)
