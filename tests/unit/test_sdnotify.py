"""SdNotifier: the sd_notify wire format on a real AF_UNIX socket, and the watchdog cadence."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from paramedic.runtime.sdnotify import SdNotifier
from paramedic.testing import FakeClock


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound where systemd's would be, and its NOTIFY_SOCKET value."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    yield sock, str(path)
    sock.close()


async def _recv(sock: socket.socket) -> bytes:
    """The next datagram, waited for on the loop (bounded so a bug fails instead of hanging)."""
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout=5.0)


async def test_ready_status_stopping_arrive_byte_exact(
    notify_socket: tuple[socket.socket, str],
) -> None:
    """READY=1 carries STATUS and MAINPID, status lines are flattened, STOPPING=1 is bare."""
    sock, path = notify_socket
    notifier = SdNotifier({"NOTIFY_SOCKET": path}, FakeClock(), pid=4242)

    assert True is notifier.enabled
    assert True is notifier.ready("watching 3 services")
    assert b"READY=1\nSTATUS=watching 3 services\nMAINPID=4242" == await _recv(sock)
    assert True is notifier.status("incident open:\nengine down")
    assert b"STATUS=incident open: engine down" == await _recv(sock)
    assert True is notifier.stopping()
    assert b"STOPPING=1" == await _recv(sock)
    assert (3, 0) == (notifier.sent, notifier.send_errors)
    notifier.close()


async def test_abstract_socket_address() -> None:
    """`@name` in NOTIFY_SOCKET means the abstract namespace: a leading NUL byte."""
    name = f"paramedic-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    try:
        notifier = SdNotifier({"NOTIFY_SOCKET": "@" + name}, FakeClock())
        notifier.status("abstract")
        assert b"STATUS=abstract" == await _recv(sock)
        notifier.close()
    finally:
        sock.close()


def test_watchdog_interval_is_half_of_watchdog_usec(tmp_path: Path) -> None:
    """WATCHDOG_USEC=200000 (0.2 s) gives a ping every 0.1 s, as sd_watchdog_enabled advises."""
    env = {"NOTIFY_SOCKET": str(tmp_path / "n.sock"), "WATCHDOG_USEC": "200000"}
    assert 0.1 == SdNotifier(env, FakeClock()).watchdog_interval


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"WATCHDOG_PID": str(os.getpid())}, 0.1),
        ({"WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_pid_must_be_ours(
    tmp_path: Path, extra: dict[str, str], expected: float | None
) -> None:
    """WATCHDOG_PID of another process (we inherited its env) or a bad WATCHDOG_USEC disables."""
    env = {"NOTIFY_SOCKET": str(tmp_path / "n.sock"), "WATCHDOG_USEC": "200000", **extra}
    assert expected == SdNotifier(env, FakeClock()).watchdog_interval


async def test_watchdog_pings_on_the_interval_only_while_alive(
    notify_socket: tuple[socket.socket, str],
) -> None:
    """One ping at start, one per interval; none while alive() is False; back when it recovers.

    Datagrams on a Unix socket arrive in order, so a STATUS marker received right after the
    unhealthy stretch proves no WATCHDOG=1 was sent during it.
    """
    sock, path = notify_socket
    clock = FakeClock()
    healthy = True
    notifier = SdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}, clock)
    task = asyncio.create_task(notifier.run(lambda: healthy))
    try:
        assert b"WATCHDOG=1" == await _recv(sock)
        assert 1 == clock.advance(0.1)
        assert b"WATCHDOG=1" == await _recv(sock)

        healthy = False
        for _ in range(5):  # one interval at a time: the due times then add up exactly
            assert 1 == clock.advance(0.1)
        notifier.status("marker")
        assert b"STATUS=marker" == await _recv(sock)
        assert 5 == notifier.watchdog_skipped

        healthy = True
        clock.advance(0.1)
        assert b"WATCHDOG=1" == await _recv(sock)
        assert 3 == notifier.watchdog_pings
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        notifier.close()
    assert 0 == clock.pending  # cancelling run() disarms its timer


async def test_a_raising_health_check_counts_as_unhealthy(
    notify_socket: tuple[socket.socket, str],
) -> None:
    """alive() raising is read as "not alive": no ping, no crash, the timer stays armed."""
    _sock, path = notify_socket
    clock = FakeClock()

    def broken() -> bool:
        raise RuntimeError("checker bug")

    notifier = SdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}, clock)
    task = asyncio.create_task(notifier.run(broken))
    await notifier.running.wait()
    clock.advance(0.2)
    assert (0, 3, 1) == (notifier.watchdog_pings, notifier.watchdog_skipped, clock.pending)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_unset_notify_socket_is_disabled_and_silent() -> None:
    """Outside systemd every call is a no-op returning False and run() returns at once."""
    clock = FakeClock()
    notifier = SdNotifier({"WATCHDOG_USEC": "200000"}, clock)

    assert False is notifier.enabled
    assert None is notifier.watchdog_interval
    assert (False, False, False) == (
        notifier.ready(),
        notifier.status("x"),
        notifier.stopping(),
    )
    await asyncio.wait_for(notifier.run(lambda: True), timeout=5.0)
    assert (0, 0, 0) == (notifier.sent, notifier.send_errors, clock.pending)


@pytest.mark.parametrize("value", ["", "relative/path.sock", "vsock:2:1234"])
def test_unusable_addresses_disable(value: str) -> None:
    """Only absolute paths and @abstract names are the protocol; anything else disables."""
    assert False is SdNotifier({"NOTIFY_SOCKET": value}, FakeClock()).enabled


def test_send_errors_are_counted_never_raised(tmp_path: Path) -> None:
    """A NOTIFY_SOCKET nobody listens on counts errors and keeps the last one."""
    notifier = SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}, FakeClock())

    assert False is notifier.ready()
    assert False is notifier.status("still trying")
    assert 2 == notifier.send_errors
    assert 0 == notifier.sent
    assert notifier.last_error is not None
    assert notifier.last_error.startswith("FileNotFoundError")
    notifier.close()
