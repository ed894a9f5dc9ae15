"""UDP heartbeat ingest: socket, decode, authenticate, then hand each beat to ``on_beat``.

Per datagram the work is decode + a few dict and attribute updates: no logging, no store
write, no awaits. Per-service state lives with the one consumer of beats (the runtime's
``HeartbeatMonitor``), so each beat is folded into state once, not twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final

from paramedic.core.errors import DetectionError
from paramedic.detect.heartbeat.replay import ReplayGuard
from paramedic.wire import (
    DEFAULT_MAX_SKEW_NS,
    REJECT_REASONS,
    Heartbeat,
    KeyLookup,
    RejectReason,
    decode,
)

__all__ = ["DEFAULT_RCVBUF_BYTES", "HeartbeatReceiver"]

DEFAULT_RCVBUF_BYTES: Final = 8 * 1024 * 1024

_log = logging.getLogger("paramedic.detect.heartbeat")


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: HeartbeatReceiver) -> None:
        self._receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._receiver.handle(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors on an unconnected UDP socket are not ours to act on.
        self._receiver.socket_errors += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._receiver._closed.set()


class HeartbeatReceiver:
    """Binds a UDP socket and hands every accepted heartbeat to ``on_beat``.

    ``rejections`` counts refused datagrams by reason in a plain dict, read at scrape time by
    a collector elsewhere. ``on_beat`` runs inline for every accepted heartbeat, so it must be
    as cheap as the rest of this path; an exception in it is counted in ``hook_errors`` and
    logged once, and ingest goes on.
    """

    def __init__(
        self,
        keys: KeyLookup,
        *,
        host: str,
        port: int,
        multicast_group: str | None = None,
        multicast_interface: str | None = None,
        rcvbuf_bytes: int = DEFAULT_RCVBUF_BYTES,
        max_skew_ns: int = DEFAULT_MAX_SKEW_NS,
        replay: ReplayGuard | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
        on_beat: Callable[[Heartbeat], None] | None = None,
    ) -> None:
        self.replay = replay if replay is not None else ReplayGuard()
        self.rejections: dict[RejectReason, int] = dict.fromkeys(REJECT_REASONS, 0)
        self.accepted = 0
        self.hook_errors = 0
        self.socket_errors = 0
        self.rcvbuf_granted = 0
        self._keys = keys
        self._host = host
        self._port = port
        self._group = multicast_group
        self._interface = multicast_interface
        self._rcvbuf = rcvbuf_bytes
        self._max_skew_ns = max_skew_ns
        self._wall_ns = wall_ns
        self._on_beat = on_beat
        self._transport: asyncio.DatagramTransport | None = None
        self._closed = asyncio.Event()
        self._address: tuple[str, int] | None = None

    def handle(self, data: bytes) -> None:
        """Decode, authenticate and hand on one datagram; public so tests and benchmarks skip
        the socket."""
        result = decode(
            data,
            self._keys,
            now_ns=self._wall_ns(),
            max_skew_ns=self._max_skew_ns,
            replay=self.replay,
        )
        if type(result) is not Heartbeat:
            self.rejections[result.reason] += 1  # type: ignore[union-attr]
            return
        self.accepted += 1
        if self._on_beat is not None:
            try:
                self._on_beat(result)
            except Exception:
                self.hook_errors += 1
                if self.hook_errors == 1:
                    _log.exception("heartbeat on_beat hook failed for %s", result.service)

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); port 0 in config becomes the real port here."""
        if self._address is None:
            msg = "heartbeat receiver is not started"
            raise DetectionError(msg)
        return self._address

    async def start(self) -> None:
        """Bind the socket and begin receiving; DetectionError if the address is unusable."""
        sock = self._make_socket()
        loop = asyncio.get_running_loop()
        self._closed.clear()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._transport = transport

    async def stop(self) -> None:
        """Close the socket and wait until the transport is gone."""
        transport, self._transport = self._transport, None
        if transport is None:
            return
        transport.close()
        await self._closed.wait()

    async def __aenter__(self) -> HeartbeatReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _make_socket(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if self._group is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._grow_rcvbuf(sock)
            sock.bind((self._host, self._port))
            if self._group is not None:
                # No interface given: INADDR_ANY, the kernel picks by routing table.
                iface = socket.inet_aton(self._interface) if self._interface else bytes(4)
                membership = socket.inet_aton(self._group) + iface
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            where = f"{self._host}:{self._port}"
            group = f" (multicast group {self._group})" if self._group else ""
            msg = f"cannot open heartbeat socket on {where}{group}: {exc}"
            raise DetectionError(msg) from exc
        bound = sock.getsockname()
        self._address = (str(bound[0]), int(bound[1]))
        return sock

    def _grow_rcvbuf(self, sock: socket.socket) -> None:
        # The default buffer holds ~256 heartbeats: a 10 ms loop pause already drops some.
        # SO_RCVBUFFORCE passes rmem_max but needs CAP_NET_ADMIN; without it we take what
        # SO_RCVBUF grants (capped by net.core.rmem_max) and report it in rcvbuf_granted.
        # CPython's socket module does not export SO_RCVBUFFORCE; on Linux it is 33.
        force = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform == "linux" else None)
        forced = False
        if force is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, force, self._rcvbuf)
                forced = True
        if not forced:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
        self.rcvbuf_granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
