"""Store trouble (issue 10): the store's disk fills up or turns read-only under a running
`paramedic run`. paramedic keeps supervising (a SIGKILLed child is restarted), says loudly
what it cannot record (/readyz names the store, the dead man's switch falls silent), pages
through `alerting.store_failure_channels` (a real loopback webhook receiver, no store write
involved), never stops itself or its children, and once the disk has room again writes its
backlog (the crash is on the timeline, marked late) and turns /readyz green.

Both need root (mounts). Disk full: a 2 MiB tmpfs holds the store, filled to ENOSPC by a file
the test then deletes. Read-only: `mount -o remount,ro` is refused by the kernel while the
store's files are open for writing (EBUSY), so the store lives on a loop-mounted ext4 with
`errors=remount-ro` and the test makes ext4 report an error (`trigger_fs_error`): the kernel
turns the file system read-only under open files, as a failing disk does. That file system
stays read-only until unmounted (fsck first), so there the test checks the degraded mode,
not the recovery. The measured times are printed (`pytest -s`) for docs/reliability.md;
`make torture` repeats the kill while degraded (`KILLS_WHILE_DEGRADED`).
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from paramedic.alerting.channels.loopback import LoopbackReceiver
from tests.conftest import free_port
from tests.integration.runner import RunningParamedic, until
from tests.torture import long_run

pytestmark = pytest.mark.integration

KILLS_WHILE_DEGRADED = 20 if long_run() else 1
TOKEN = "operator-token-0123456789"
ENV = {"HOOK_SECRET": "hook-secret-0123456789", "OPS_TOKEN": TOKEN}
# Appends its pid to a file outside the store's file system (so the test sees restarts while
# nothing can be recorded), then runs until stopped or orphaned.
CHILD = (
    "import os, time\n"
    "with open('pids', 'a') as f: f.write(f'{os.getpid()}\\n')\n"
    "parent = os.getppid()\n"
    "while os.getppid() == parent: time.sleep(0.05)\n"
)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False)


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("store trouble needs root to mount a small file system for the store")


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    need_root()
    folder.mkdir()
    done = run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the store: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        run("umount", "-l", str(folder))


@contextmanager
def ext4(folder: Path, image: Path) -> Iterator[str]:
    """An ext4 file system on a loop device, mounted with errors=remount-ro; yields the
    device's name under /sys/fs/ext4."""
    need_root()
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 (e2fsprogs) is not installed")
    folder.mkdir()
    with image.open("wb") as f:
        f.truncate(32 * 1024 * 1024)
    made = run("mkfs.ext4", "-q", "-F", str(image))
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()}")
    done = run("mount", "-o", "loop,errors=remount-ro", str(image), str(folder))
    if done.returncode != 0:
        pytest.skip(f"cannot loop-mount an ext4 image for the store: {done.stderr.strip()}")
    try:
        device = run("findmnt", "-n", "-o", "SOURCE", str(folder)).stdout.strip()
        yield os.path.basename(device)
    finally:
        run("umount", str(folder))


def fill(folder: Path) -> Path:
    """Write a file until the file system says ENOSPC."""
    path = folder / "filler"
    chunk = b"\0" * 65536
    with path.open("wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return path


def write_config(tmp_path: Path, store: Path, hook_url: str, switch_url: str) -> Path:
    path = tmp_path / "paramedic.yaml"
    path.write_text(
        f"""
api:
  listen: 127.0.0.1:{free_port()}
  tokens: [{{name: am, role: operator, token_env: OPS_TOKEN}}]
store: {{path: {store / "p.db"}}}
self_watch: {{dead_mans_switch: {{url: "{switch_url}/ping", interval: 100ms, timeout: 50ms}}}}
channels:
  pagerduty: {{webhook: {{url: "{hook_url}/page", secret_env: HOOK_SECRET}}}}
alerting:
  store_failure_channels: [pagerduty]
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, "-c", {CHILD!r}]
      cwd: {tmp_path}
      log_file: {tmp_path / "engine.log"}
      restart: {{policy: always, initial_backoff: 20ms, max_backoff: 100ms, burst: 1000,
                 window: 1s}}
    health: {{up_after: 1, evaluate_every: 50ms, flap_changes: 100, flap_window: 1s}}
"""
    )
    return path


def pids(tmp_path: Path) -> list[int]:
    path = tmp_path / "pids"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def wait_until(what: str, check: object, timeout: float = 15.0) -> float:
    """Poll another process's state (no event to wait on), bounded; the time it took."""
    start = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.02)
    return time.monotonic() - start


async def degrade_and_kill(
    p: RunningParamedic,
    tmp_path: Path,
    hook: LoopbackReceiver,
    switch: LoopbackReceiver,
    break_store: object,
) -> dict[str, float]:
    """Break the store, kill -9 the child; prove paramedic goes on and says so."""
    wait_until("the child started", lambda: len(pids(tmp_path)) == 1)
    assert "ok" == p.get("/readyz").text
    await asyncio.wait_for(switch.next_request(), 5)  # the switch beats while all is well
    figures: dict[str, float] = {}
    break_store()  # type: ignore[operator]
    for n in range(KILLS_WHILE_DEGRADED):
        victim = pids(tmp_path)[-1]
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        took = await asyncio.to_thread(
            wait_until, "the child restarted", lambda n=n: len(pids(tmp_path)) == n + 2
        )
        figures["restart_s"] = max(figures.get("restart_s", 0.0), took)
        if n == 0:
            await asyncio.to_thread(
                wait_until, "/readyz fails", lambda: p.get("/readyz").status_code != 200
            )
            figures["readyz_red_s"] = time.monotonic() - killed
            first = await asyncio.wait_for(hook.next_request(), 10)
            figures["first_page_s"] = time.monotonic() - killed
            pages = [first.json()]
            while len(pages) < 2:  # the store page and the crash page, in either order
                pages.append((await asyncio.wait_for(hook.next_request(), 10)).json())
            titles = " | ".join(str(page["title"]) for page in pages)
            assert "cannot record" in titles
            assert "engine" in titles
            assert "crash" in titles
    # Crashes before the service came back up are one incident: one failure, one page.
    figures["pages"] = len(hook.requests)
    assert p.proc.poll() is None, "paramedic stopped itself"
    ready = p.get("/readyz", params={"verbose": ""})
    assert 503 == ready.status_code
    assert f"store {tmp_path}" in ready.text
    assert "events not recorded since" in ready.text
    health = p.get("/health").json()
    assert health["components"]["store"] is False
    assert health["metrics"]["store_degraded"] == 1.0
    metrics = p.get("/metrics").text
    assert "paramedic_store_degraded 1.0" in metrics
    # An input that must be durable before its 2xx is refused, plainly: the sender retries.
    answer = p.post(
        "/api/v1/alertmanager",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={
            "version": "4",
            "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": "X", "service": "engine"}}],
        },
    )
    assert 503 == answer.status_code
    assert "record" in answer.json()["detail"]  # the audit trail refuses it first
    # The dead man's switch (100 ms) falls silent, so its watcher pages: at most the ping
    # already in flight arrives in 6 intervals.
    beats = len(switch.requests)
    await asyncio.sleep(0.6)
    assert len(switch.requests) <= beats + 1
    assert Path(f"/proc/{pids(tmp_path)[-1]}").exists()  # noqa: ASYNC240 (procfs, instant)
    return figures


async def test_disk_full_keeps_supervising_pages_and_writes_the_backlog_late(
    tmp_path: Path,
) -> None:
    """Fill the store's disk, kill -9 the child: restarted, /readyz red naming the store
    ("disk full"), the emergency page arrives, paramedic runs on; free the space: the crash
    is on the timeline marked late, /readyz ok."""
    with tmpfs(tmp_path / "store", "2m") as store:
        async with LoopbackReceiver() as hook, LoopbackReceiver() as switch:
            p = RunningParamedic(write_config(tmp_path, store, hook.url, switch.url), env=ENV)
            filler: list[Path] = []
            try:
                await asyncio.to_thread(p.wait_started)
                figures = await degrade_and_kill(
                    p, tmp_path, hook, switch, lambda: filler.append(fill(store))
                )
                assert "disk full (SQLITE_FULL)" in p.get("/readyz", params={"verbose": ""}).text
                backlog = float(
                    next(
                        line.split()[-1]
                        for line in p.get("/metrics").text.splitlines()
                        if line.startswith("paramedic_store_backlog_events ")
                    )
                )
                filler[0].unlink()
                figures["flush_s"] = await asyncio.to_thread(
                    wait_until, "/readyz ok again", lambda: p.get("/readyz").status_code == 200
                )
                beats = len(switch.requests)
                await asyncio.to_thread(
                    wait_until, "the switch beats again", lambda: len(switch.requests) > beats
                )
                events = p.get("/api/timeline", params={"limit": 1000}).json()["events"]
                killed = pids(tmp_path)[0]
                exits = [
                    e
                    for e in events
                    if e["kind"] == "process.exited" and e["payload"]["pid"] == killed
                ]
                assert len(exits) == 1
                assert "recorded_late" in exits[0]["payload"]
                kinds = [e["kind"] for e in events]
                assert "store.degraded" in kinds
                assert "store.recovered" in kinds
                # One emergency page for the store, one per failure detected while degraded.
                failures = [
                    e
                    for e in events
                    if e["kind"] == "failure.detected" and e["payload"].get("recorded_late")
                ]
                sent = [e for e in events if e["kind"] == "store.emergency_page"]
                assert len(failures) + 1 == len(sent) == len(hook.requests)
                assert all(e["payload"]["delivered"] for e in sent)
                print(  # for docs/reliability.md
                    f"\nstore trouble (disk full): restart {figures['restart_s'] * 1000:.0f} ms"
                    f" (slowest of {KILLS_WHILE_DEGRADED}), {figures['pages']:.0f} pages,"
                    f" /readyz red {figures['readyz_red_s'] * 1000:.0f} ms, first emergency"
                    f" page {figures['first_page_s'] * 1000:.0f} ms after the kill;"
                    f" backlog {backlog:.0f} events after {KILLS_WHILE_DEGRADED} kill(s);"
                    f" /readyz green {figures['flush_s']:.2f} s after the space was freed"
                )
                p.signal(signal.SIGTERM)
                assert 0 == await asyncio.to_thread(p.wait, 20)
            finally:
                p.ensure_dead()
                (tmp_path / "paramedic.out").write_text("".join(p.output))  # kept by pytest


async def test_read_only_store_keeps_supervising_and_pages(tmp_path: Path) -> None:
    """The store's file system turns read-only under paramedic (ext4 errors=remount-ro):
    kill -9 the child: restarted, /readyz red naming the store ("read-only"), the emergency
    page arrives, paramedic runs on, and a SIGTERM still stops it cleanly."""
    with ext4(tmp_path / "store", tmp_path / "store.img") as device:
        store = tmp_path / "store"
        trigger = Path("/sys/fs/ext4") / device / "trigger_fs_error"
        if not trigger.exists():
            pytest.skip(f"{trigger} is missing: this kernel cannot make ext4 read-only on demand")
        async with LoopbackReceiver() as hook, LoopbackReceiver() as switch:
            p = RunningParamedic(write_config(tmp_path, store, hook.url, switch.url), env=ENV)
            try:
                await asyncio.to_thread(p.wait_started)
                figures = await degrade_and_kill(
                    p, tmp_path, hook, switch, lambda: trigger.write_text("1")
                )
                said = p.get("/readyz", params={"verbose": ""}).text
                assert "read-only" in said or "readonly" in said, said
                print(
                    f"\nstore trouble (read-only): restart {figures['restart_s'] * 1000:.0f} ms"
                    f" (slowest of {KILLS_WHILE_DEGRADED}), {figures['pages']:.0f} pages,"
                    f" /readyz red {figures['readyz_red_s'] * 1000:.0f} ms, first emergency"
                    f" page {figures['first_page_s'] * 1000:.0f} ms after the kill"
                )
                p.signal(signal.SIGTERM)
                await asyncio.to_thread(p.wait, 20)
            finally:
                p.ensure_dead()
                (tmp_path / "paramedic.out").write_text("".join(p.output))  # kept by pytest


def watchdog_pings(sock: socket.socket, seconds: float) -> int:
    """WATCHDOG=1 datagrams received on the notify socket during the next `seconds`."""
    sock.setblocking(False)
    while True:  # what arrived before this window does not count
        try:
            sock.recv(4096)
        except BlockingIOError:
            break
    count, deadline = 0, time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            count += b"WATCHDOG=1" in sock.recv(4096).split(b"\n")
        except TimeoutError:
            break
    return count


async def test_the_systemd_watchdog_keeps_pinging_while_the_store_is_degraded(
    tmp_path: Path,
) -> None:
    """docs/architecture.md, "Store trouble": the dead man's switch falls silent, but
    sd_notify's watchdog keeps pinging (a restart by systemd would not free the disk). A real
    `paramedic run` under a notify socket with WatchdogSec 0.2 s (a ping every 0.1 s): with
    the store's disk full and a crash unrecorded, WATCHDOG=1 still arrives for a whole
    second, and the switch does not beat."""
    with (
        tmpfs(tmp_path / "store", "2m") as store,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify,
    ):
        notify.bind(str(tmp_path / "notify"))
        env = {**ENV, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"}
        async with LoopbackReceiver() as hook, LoopbackReceiver() as switch:
            p = RunningParamedic(write_config(tmp_path, store, hook.url, switch.url), env=env)
            try:
                await asyncio.to_thread(p.wait_started)
                await until("the child started", lambda: len(pids(tmp_path)) == 1)
                fill(store)
                os.kill(pids(tmp_path)[-1], signal.SIGKILL)
                await until("/readyz fails", lambda: p.get("/readyz").status_code == 503)
                beats = len(switch.requests)
                pings = await asyncio.to_thread(watchdog_pings, notify, 1.0)
                assert 503 == p.get("/readyz").status_code  # still degraded
                assert pings >= 5, f"{pings} watchdog pings in 1 s while degraded"
                assert len(switch.requests) <= beats + 1  # at most the ping in flight
            finally:
                p.ensure_dead()
