"""`paramedic run` as an operator uses it: start, answer, stop on signals, survive kill -9."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.runner import RunningParamedic, pid_alive

pytestmark = pytest.mark.integration

TOKEN = "operator-token-0123456789"
SLEEPER = "import signal; signal.pause()"


def stubborn(tmp_path: Path) -> tuple[str, socket.socket]:
    """A child that ignores SIGTERM, and a socket it connects to once it does."""
    ready = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = str(tmp_path / "stubborn.sock")
    ready.bind(path)
    ready.listen(1)
    ready.settimeout(15)
    code = (
        "import signal, socket, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f" _s = socket.socket(socket.AF_UNIX); _s.connect({path!r}); time.sleep(600)"
    )
    return code, ready


def wait_ready(ready: socket.socket) -> None:
    """Block until the child says its handlers are in place (an event, not a sleep)."""
    with ready:
        conn, _ = ready.accept()
        conn.close()


def write_config(
    tmp_path: Path,
    *,
    child: str = SLEEPER,
    port: int | None = None,
    store: str = "var/p.db",
    stop_timeout: str = "5s",
    shutdown: str = "10s",
) -> Path:
    config = tmp_path / "paramedic.yaml"
    config.write_text(
        f"""
api:
  listen: 127.0.0.1:{port if port is not None else free_port()}
  tokens:
    - {{name: olga, role: operator, token_env: TEST_OPERATOR_TOKEN}}
store:
  path: {store}
shutdown_timeout: {shutdown}
services:
  worker:
    process:
      argv: [{sys.executable!r}, "-c", {child!r}]
      stop_timeout: {stop_timeout}
"""
    )
    return config


def start(running: list[RunningParamedic], config: Path) -> RunningParamedic:
    p = RunningParamedic(config, env={"TEST_OPERATOR_TOKEN": TOKEN})
    running.append(p)
    p.wait_started()
    return p


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_health_then_stops_on_signal_with_no_child_left(
    tmp_path: Path, running: list[RunningParamedic], sig: signal.Signals
) -> None:
    """Started: /health answers in the seed's shape. On SIGTERM/SIGINT: exit 0, child gone."""
    p = start(running, write_config(tmp_path))
    health = p.get("/health")
    assert 200 == health.status_code
    assert {"healthy", "timestamp", "components", "metrics"} == set(health.json())
    assert health.json()["components"] == {
        "event_loop": True,
        "started": True,
        "store": True,
    }
    [child] = p.child_pids()
    assert pid_alive(child)
    p.signal(sig)
    assert 0 == p.wait(timeout=15)
    assert not pid_alive(child)


def test_stubborn_child_is_killed_within_the_deadline(
    tmp_path: Path, running: list[RunningParamedic]
) -> None:
    """A child ignoring SIGTERM is SIGKILLed after its grace; paramedic exits 0 in time."""
    code, ready = stubborn(tmp_path)
    p = start(running, write_config(tmp_path, child=code, stop_timeout="500ms", shutdown="5s"))
    wait_ready(ready)
    [child] = p.child_pids()
    began = time.monotonic()
    p.signal(signal.SIGTERM)
    assert 0 == p.wait(timeout=10)
    assert time.monotonic() - began < 5.0
    assert not pid_alive(child)


def test_shutdown_deadline_exceeded_kills_and_exits_1(
    tmp_path: Path, running: list[RunningParamedic]
) -> None:
    """If stopping takes longer than shutdown_timeout, what is left is killed and the exit is 1."""
    code, ready = stubborn(tmp_path)
    p = start(running, write_config(tmp_path, child=code, stop_timeout="30s", shutdown="1s"))
    wait_ready(ready)
    [child] = p.child_pids()
    p.signal(signal.SIGTERM)
    assert 1 == p.wait(timeout=10)
    assert not pid_alive(child)
    assert any("longer than 1 s" in line for line in p.output)


def test_timeline_survives_kill_9(tmp_path: Path, running: list[RunningParamedic]) -> None:
    """Every event acknowledged before a kill -9 of paramedic is readable after a restart."""
    config = write_config(tmp_path)
    first = start(running, config)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    acked = []
    for i in range(25):
        response = first.post("/api/timeline/notes", json={"text": f"note {i}"}, headers=auth)
        assert 201 == response.status_code
        acked.append(response.json()["id"])
    orphans = first.child_pids()
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    for pid in orphans:  # a SIGKILLed paramedic cannot stop its children; this test does
        os.killpg(pid, signal.SIGKILL)

    second = start(running, config)
    events = second.get("/api/timeline", params={"limit": 1000}).json()["events"]
    kept = [e["id"] for e in events if e["kind"] == "note.added"]
    assert acked == kept
    assert 2 == sum(e["kind"] == "paramedic.started" for e in events)
    second.signal(signal.SIGTERM)
    assert 0 == second.wait(timeout=15)


def test_port_taken_is_a_one_line_error(tmp_path: Path, running: list[RunningParamedic]) -> None:
    """With the API port taken, paramedic exits 1 saying so in one line, and what to do
    (a second `make demo` is the usual cause), starting no child."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = RunningParamedic(write_config(tmp_path, port=port), env={"TEST_OPERATOR_TOKEN": TOKEN})
        running.append(p)
        assert 1 == p.wait(timeout=30)
    expected = (
        f"paramedic: cannot start: port 127.0.0.1:{port} is already in use (api.listen): stop"
        " what listens there (another paramedic?) or give api.listen a free address\n"
    )
    assert [expected] == p.output
    assert not (tmp_path / "var" / "p.db").exists()


def test_store_not_writable_is_a_one_line_error(
    tmp_path: Path, running: list[RunningParamedic]
) -> None:
    """With a store path that cannot be written, paramedic exits 1 naming the store."""
    (tmp_path / "blocked").mkdir()
    p = RunningParamedic(
        write_config(tmp_path, store="blocked"), env={"TEST_OPERATOR_TOKEN": TOKEN}
    )
    running.append(p)
    assert 1 == p.wait(timeout=30)
    assert 1 == len(p.output)
    assert p.output[0].startswith(
        f"paramedic: cannot start: store {tmp_path / 'blocked'} is not writable"
    )


def test_bad_config_refuses_to_start(tmp_path: Path, running: list[RunningParamedic]) -> None:
    """A config with a mistake stops `run` before anything starts, naming the mistake."""
    config = tmp_path / "bad.yaml"
    config.write_text("servics: {}\n")
    p = RunningParamedic(config)
    running.append(p)
    assert 1 == p.wait(timeout=30)
    assert f"{config}:1:1: servics: unknown key" in "".join(p.output)


def test_status_command_reads_the_api(tmp_path: Path, running: list[RunningParamedic]) -> None:
    """`paramedic status` prints health from the API; unreachable URL is a clear error, exit 2."""
    import subprocess

    p = start(running, write_config(tmp_path))
    cli = [sys.executable, "-m", "paramedic.cli", "status"]
    env = {**os.environ, "PARAMEDIC_URL": p.url, "COLUMNS": "120"}
    ok = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=30, check=False)
    assert 0 == ok.returncode, ok.stderr
    assert "healthy" in ok.stdout
    assert "store" in ok.stdout
    dead = subprocess.run(
        [*cli, "--url", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert 2 == dead.returncode
    assert "cannot reach" in dead.stderr
    p.signal(signal.SIGTERM)
    assert 0 == p.wait(timeout=15)


def test_systemd_notify_ready_watchdog_stopping(
    tmp_path: Path, running: list[RunningParamedic]
) -> None:
    """Under NOTIFY_SOCKET: READY=1 once started, WATCHDOG=1 pings, STOPPING=1 on SIGTERM;
    the supervised child does not inherit systemd's socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(15)
    env_dump = tmp_path / "child-env"
    # The child says when its environment is written (an event to wait on, not a sleep).
    written = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    written_path = str(tmp_path / "written.sock")
    written.bind(written_path)
    written.listen(1)
    written.settimeout(15)
    child = (
        f"import os, signal, socket; open({str(env_dump)!r}, 'w').write(repr(sorted(os.environ)));"
        f" _s = socket.socket(socket.AF_UNIX); _s.connect({written_path!r}); signal.pause()"
    )
    config = write_config(tmp_path, child=child)
    p = RunningParamedic(
        config,
        env={"TEST_OPERATOR_TOKEN": TOKEN, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"},
    )
    running.append(p)
    with sock:
        messages: list[str] = []
        while not any("READY=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())
        while not any(m == "WATCHDOG=1" for m in messages):
            messages.append(sock.recv(4096).decode())
        p.wait_started()
        with written:
            conn, _ = written.accept()
            conn.close()
        p.signal(signal.SIGTERM)
        while not any("STOPPING=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())
    assert 0 == p.wait(timeout=15)
    ready = next(m for m in messages if "READY=1" in m)
    assert f"MAINPID={p.proc.pid}" in ready
    assert "NOTIFY_SOCKET" not in env_dump.read_text()
