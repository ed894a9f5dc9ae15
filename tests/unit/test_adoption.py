"""Process identity (pid + start time + boot id) and what a timeline says was left running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from paramedic.config import InvalidConfig, parse_config
from paramedic.core.clock import Instant
from paramedic.core.events import Event
from paramedic.core.process_events import (
    CommandStarted,
    OrphanEnded,
    ProcessExited,
    ProcessLeftRunning,
    ProcessSpawned,
)
from paramedic.process.identity import ProcessIdentity, boot_id, identify, open_if_same
from paramedic.process.ledger import CommandLedger
from paramedic.runtime.adoption import (
    Unrecorded,
    find_leftovers,
    pick_unrecorded,
    scan_unrecorded,
    supervisor_token,
)
from paramedic.store.protocol import StoredEvent
from paramedic.store.timeline import decode

SLEEPER = "import signal; signal.pause()"


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER])
    yield proc
    proc.kill()
    proc.wait()


def test_the_start_time_is_the_kernel_s_and_fixed_for_the_process_life(
    child: subprocess.Popen[bytes],
) -> None:
    """identify() reads field 22 of /proc/<pid>/stat: the same instant psutil reports."""
    identity = identify(child.pid)
    assert identity is not None
    ticks = os.sysconf("SC_CLK_TCK")
    assert (
        abs(
            psutil.boot_time()
            + identity.start_time / ticks
            - psutil.Process(child.pid).create_time()
        )
        < 0.05
    )
    assert identity == identify(child.pid)
    assert len(boot_id()) == 36


def test_only_the_very_process_is_opened(child: subprocess.Popen[bytes]) -> None:
    """Same pid, start time and boot: a pidfd. Another start time (a recycled pid) or another
    boot: refused, saying why; a pid that is gone: refused."""
    identity = identify(child.pid)
    assert identity is not None
    pidfd, why = open_if_same(identity)
    assert pidfd is not None
    assert "" == why
    os.close(pidfd)
    recycled = ProcessIdentity(child.pid, identity.start_time + 1, identity.boot_id)
    assert (None, "now belongs to another process") == (
        open_if_same(recycled)[0],
        open_if_same(recycled)[1][:30],
    )
    other_boot = ProcessIdentity(child.pid, identity.start_time, "0" * 36)
    assert (None, "was recorded before this machine last booted") == open_if_same(other_boot)
    unrecorded = ProcessIdentity(child.pid, 0, "")
    assert open_if_same(unrecorded)[0] is None
    child.kill()
    child.wait()
    assert (None, "is no longer running") == open_if_same(identity)


AT = Instant(mono=0.0, wall=0.0)


def test_the_leftover_is_the_last_process_tracked_without_an_exit() -> None:
    """spawned -> exited -> spawned: the second is left; left_running and adopted count as
    tracking; an exit of another pid changes nothing; commands are all kept until ended."""
    first = {"pid": 10, "start_time": 5, "boot_id": "b"}
    second = {"pid": 11, "start_time": 6, "boot_id": "b"}

    def exited(pid: int) -> ProcessExited:
        return ProcessExited(
            at=AT, service="engine", pid=pid, returncode=0, signal=None, runtime_s=1.0,
            expected=False,
        )  # fmt: skip

    events: list[Event] = [
        ProcessSpawned(at=AT, service="engine", argv=(), **first),
        exited(10),
        ProcessSpawned(at=AT, service="engine", argv=(), **second),
        exited(99),
        CommandStarted(at=AT, service="engine", pid=20, start_time=7, boot_id="b", label="step a"),
        CommandStarted(at=AT, service="engine", pid=21, start_time=8, boot_id="b", label="step b"),
        OrphanEnded(at=AT, service="engine", pid=20, label="step a", sentence=""),
    ]
    found = find_leftovers(events)
    assert ProcessIdentity(11, 6, "b") == found.process
    assert {21: (ProcessIdentity(21, 8, "b"), "step b")} == found.commands
    assert find_leftovers(events[:2]).process is None
    kept = [*events[:2], ProcessLeftRunning(at=AT, service="engine", **second)]
    assert ProcessIdentity(11, 6, "b") == find_leftovers(kept).process
    # a row from before start times, read back through the store's decoder
    row = StoredEvent(
        1, "evt_1", "process.spawned", 0.0, 0.0, "engine", "", {"pid": 10, "argv": []}
    )
    old = decode([row])
    assert ProcessIdentity(10, 0, "") == find_leftovers(old).process


def test_keep_running_on_stop_is_a_boolean_named_when_wrong() -> None:
    """A value that is not a boolean is refused with the field's path."""
    text = "services:\n  e:\n    process: {argv: [x], keep_running_on_stop: sometimes}\n"
    with pytest.raises(InvalidConfig) as caught:
        parse_config(text, source="t.yaml", env={})
    [issue] = [i.render("t.yaml") for i in caught.value.issues]
    assert "services.e.process.keep_running_on_stop" in issue
    ok = parse_config(
        "services:\n  e:\n    process: {argv: [x], keep_running_on_stop: true}\n",
        source="t.yaml",
        env={},
    )
    assert ok.services["e"].process is not None
    assert ok.services["e"].process.keep_running_on_stop


def test_the_ledger_keeps_running_commands_and_hands_back_what_a_crash_left(
    tmp_path: Path, child: subprocess.Popen[bytes]
) -> None:
    """add/remove track a running command; what is left is handed back once, with its
    identity; a torn file is dropped, never taken for a process."""
    ledger = CommandLedger(tmp_path / "p.db.commands")
    ledger.add(child.pid, "command sleeper")
    ledger.add(os.getpid(), "command finished")
    ledger.remove(os.getpid())
    (ledger.folder / "12345").write_text('{"start_time": 1')
    assert [(identify(child.pid), "command sleeper")] == ledger.take_leftovers()
    assert [] == ledger.take_leftovers()
    assert [] == list(ledger.folder.iterdir())


def test_the_unrecorded_child_is_the_first_of_the_latest_unknown_spawn() -> None:
    """Known spawns are skipped; within a spawn, the process that started first (the child,
    not a daemon of its own sharing its environment); across spawns, the latest."""

    def c(pid: int, start: int, spawn: str) -> Unrecorded:
        return Unrecorded(ProcessIdentity(pid, start, "b"), spawn)

    child, its_daemon, older = c(30, 100, "spn_b"), c(31, 105, "spn_b"), c(20, 50, "spn_a")
    assert child == pick_unrecorded([its_daemon, older, child], known=set())
    assert older == pick_unrecorded([its_daemon, older, child], known={"spn_b"})
    assert pick_unrecorded([older], known={"spn_a"}) is None


def test_the_scan_finds_a_session_leader_carrying_the_token_and_a_spawn_id(
    tmp_path: Path,
) -> None:
    """A process started in its own session with this store's token and a spawn id is found
    under its service; one with another token is not."""
    token = supervisor_token(tmp_path / "p.db")
    env = {**os.environ, "PARAMEDIC_SERVICE": "engine", "PARAMEDIC_SPAWN_ID": "spn_x"}
    ours = subprocess.Popen(
        [sys.executable, "-c", SLEEPER],
        env={**env, "PARAMEDIC_SUPERVISOR": token},
        start_new_session=True,
    )
    other = subprocess.Popen(
        [sys.executable, "-c", SLEEPER],
        env={**env, "PARAMEDIC_SUPERVISOR": "someone-else"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10  # until the child has exec'd with its environment
        while not (found := scan_unrecorded(token)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [Unrecorded(identify(ours.pid), "spn_x")] == found["engine"]  # type: ignore[arg-type]
    finally:
        for proc in (ours, other):
            proc.kill()
            proc.wait()
