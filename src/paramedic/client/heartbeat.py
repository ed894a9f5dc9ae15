"""The heartbeat a monitored service sends, with a stall check on its own trading loop.

A sender thread alone proves only that the process exists. The trading loop calls ``beat()``
(one attribute store) on its hot path; if it stops doing so for ``stall_after`` while the
sender still runs, the heartbeats carry the "stalled" flag and the stacks of every thread are
logged once, so the supervisor sees a hung process as hung and the post-mortem shows where.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Final

from paramedic.wire import (
    EXTRA_BEAT_AGE_MS,
    FLAG_SHUTTING_DOWN,
    FLAG_STALLED,
    WireError,
    encode,
    validate_service_id,
)

__all__ = ["ClientError", "HeartbeatSender", "ProcessStats", "read_process_stats"]

_U32_MAX: Final = 0xFFFFFFFF
_U32: Final = struct.Struct(">I")
_PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ClientError(Exception):
    """The client cannot do what it was asked: a bad setting, an unresolvable target.

    Not a ``ParamedicError``: the client ships without the supervisor's error tree.
    """


ProcessStats = tuple[int, int, int]
"""(load average in thousandths, RSS bytes, thread count)."""


def read_process_stats() -> ProcessStats:
    """Load, RSS and native thread count, from /proc when present (no psutil in clients)."""
    try:
        load_milli = min(round(os.getloadavg()[0] * 1000), _U32_MAX)
    except OSError:
        load_milli = 0
    try:
        with open("/proc/self/stat", "rb") as f:
            # Fields after the ")" that closes comm: num_threads is field 20, rss field 24.
            fields = f.read().rpartition(b")")[2].split()
        return load_milli, int(fields[21]) * _PAGE_SIZE, min(int(fields[17]), _U32_MAX)
    except (OSError, IndexError, ValueError):
        import resource

        # Peak rather than current RSS, but the best the platform offers without psutil.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        scale = 1 if sys.platform == "darwin" else 1024
        return load_milli, peak * scale, threading.active_count()


class HeartbeatSender:
    """Sends a signed heartbeat every ``interval`` seconds from a daemon thread or a task.

    Use as a context manager (thread) or ``await sender.run()`` (asyncio). ``stop()`` sends
    one last heartbeat flagged "shutting down" so the supervisor does not page on a planned
    stop. The instance id is random per sender, so every process start is distinguishable
    from a sender that merely missed a few beats.
    """

    def __init__(
        self,
        host: str,
        port: int,
        service_id: str,
        key: bytes,
        *,
        key_id: int = 0,
        interval: float = 0.1,
        stall_after: float = 1.0,
        expect_beats: bool = False,
        logger: logging.Logger | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        stats: Callable[[], ProcessStats] = read_process_stats,
    ) -> None:
        try:
            validate_service_id(service_id)
        except WireError as exc:
            raise ClientError(str(exc)) from exc
        if not key:
            msg = "heartbeat key is empty; use at least 32 random bytes shared with paramedic"
            raise ClientError(msg)
        if not 0 <= key_id <= 255:
            msg = f"heartbeat key id {key_id} is out of range 0..255"
            raise ClientError(msg)
        if not interval > 0:
            msg = f"heartbeat interval must be > 0 s, got {interval}"
            raise ClientError(msg)
        if not stall_after > 0:
            msg = f"stall_after must be > 0 s, got {stall_after}"
            raise ClientError(msg)
        if not 0 <= port <= 65535:
            msg = f"heartbeat target port {port} is out of range"
            raise ClientError(msg)
        self.service_id = service_id
        self.instance = os.urandom(16)
        self.send_errors = 0
        self._target = (host, port)
        self._address: tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes] = (
            self._target
        )
        self._key = bytes(key)
        self._key_id = key_id
        self._interval = interval
        self._stall_after = stall_after
        self._expect_beats = expect_beats
        self._log = logger if logger is not None else logging.getLogger("paramedic.client")
        self._monotonic = monotonic
        self._wall_ns = wall_ns
        self._stats = stats
        self._seq = 0
        self._last_beat: float | None = None
        self._armed_at: float | None = None
        self._stalled = False
        self._stall_reference: float | None = None
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._send_lock = threading.Lock()

    def beat(self) -> None:
        """Called by the trading loop on every iteration: proof that it still turns."""
        self._last_beat = self._monotonic()

    @property
    def stalled(self) -> bool:
        """True while heartbeats carry the "stalled" flag."""
        return self._stalled

    @property
    def seq(self) -> int:
        """Sequence number the next heartbeat will carry."""
        return self._seq

    def tick(self, *, flags: int = 0) -> bytes:
        """Evaluate the stall check, then build and send one heartbeat; returns the datagram.

        The thread and task loops call this; it is public so tests can drive a sender with a
        fake clock and no sleeping.
        """
        now = self._monotonic()
        if self._armed_at is None:
            self._armed_at = now
        reference = self._last_beat
        if reference is None and self._expect_beats:
            reference = self._armed_at
        extras: list[tuple[int, bytes]] = []
        if reference is not None:
            age = now - reference
            self._update_stall(age, reference)
            extras.append((EXTRA_BEAT_AGE_MS, _U32.pack(min(max(int(age * 1000), 0), _U32_MAX))))
        if self._stalled:
            flags |= FLAG_STALLED
        load_milli, rss, threads = self._stats()
        with self._send_lock:
            datagram = encode(
                service=self.service_id,
                key=self._key,
                key_id=self._key_id,
                instance=self.instance,
                seq=self._seq,
                sent_ns=self._wall_ns(),
                flags=flags,
                load_avg_milli=load_milli,
                rss_bytes=rss,
                threads=threads,
                extras=extras,
            )
            self._seq += 1
            self._send(datagram)
        return datagram

    def start(self) -> None:
        """Start the daemon sender thread."""
        if self._thread is not None:
            msg = f"heartbeat sender for {self.service_id} is already running"
            raise ClientError(msg)
        self._open()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._thread_main, name=f"paramedic-heartbeat-{self.service_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop sending; the thread flavour also sends the final "shutting down" heartbeat."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            self._finish()

    async def run(self) -> None:
        """Asyncio flavour: send until cancelled or ``stop()`` is called."""
        self._open()
        self._stop.clear()
        deadline = self._monotonic()
        try:
            while not self._stop.is_set():
                self._safe_tick()
                deadline = self._next_deadline(deadline)
                await asyncio.sleep(max(0.0, deadline - self._monotonic()))
        finally:
            self._finish()

    def __enter__(self) -> HeartbeatSender:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _thread_main(self) -> None:
        deadline = self._monotonic()
        while not self._stop.is_set():
            self._safe_tick()
            deadline = self._next_deadline(deadline)
            if self._stop.wait(max(0.0, deadline - self._monotonic())):
                break

    def _next_deadline(self, previous: float) -> float:
        # Fixed cadence without drift; after a long pause, skip the missed slots, do not burst.
        deadline = previous + self._interval
        now = self._monotonic()
        return deadline if deadline > now else now + self._interval

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:
            # The sender must outlive any one bad tick; a dead sender pages someone.
            self.send_errors += 1
            if self.send_errors == 1:
                self._log.exception("heartbeat tick failed for %s", self.service_id)

    def _finish(self) -> None:
        with contextlib.suppress(Exception):
            self.tick(flags=FLAG_SHUTTING_DOWN)
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _open(self) -> None:
        if self._sock is not None:
            return
        # Resolve once: a hostname left to sendto() would cost a DNS lookup per heartbeat.
        host, port = self._target
        try:
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except OSError as exc:
            msg = f"cannot resolve heartbeat target {host}:{port}: {exc}"
            raise ClientError(msg) from exc
        self._address = address
        sock = socket.socket(family, socket.SOCK_DGRAM)
        # Never block the caller (event loop or thread) on a full send buffer: drop and count.
        sock.setblocking(False)
        self._sock = sock

    def _send(self, datagram: bytes) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sock.sendto(datagram, self._address)
        except OSError:
            self.send_errors += 1

    def _update_stall(self, age: float, reference: float) -> None:
        if age > self._stall_after:
            # A beat() between two stalled ticks means the loop moved and stuck again: that
            # is a new stall with possibly different stacks, so it is dumped too.
            if not self._stalled or reference != self._stall_reference:
                self._stalled = True
                self._stall_reference = reference
                self._dump_stacks(age)
        elif self._stalled:
            self._stalled = False
            self._log.warning("%s: trading loop calls beat() again after a stall", self.service_id)

    def _dump_stacks(self, age: float) -> None:
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        parts = []
        for ident, frame in sys._current_frames().items():
            stack = "".join(traceback.format_stack(frame))
            parts.append(f'Thread "{names.get(ident, "?")}" ({ident}):\n{stack}')
        self._log.error(
            "%s: trading loop stalled: no beat() for %.3f s (bound %.3f s); stacks follow\n%s",
            self.service_id,
            age,
            self._stall_after,
            "\n".join(parts),
        )
