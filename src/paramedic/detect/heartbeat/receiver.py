"""UDP heartbeat ingest: socket, decode, and the live table detectors read.

Per datagram the work is decode + a few dict and attribute updates: no logging, no store
write, no awaits. Anything slower (timeouts, phi accrual, alerting) reads ``HeartbeatTable``
on its own schedule or hangs off ``on_beat``/``on_observation``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Final, Literal

from paramedic.core.errors import DetectionError
from paramedic.detect.heartbeat.replay import ReplayGuard
from paramedic.wire import (
    DEFAULT_MAX_SKEW_NS,
    FLAG_SHUTTING_DOWN,
    FLAG_STALLED,
    REJECT_REASONS,
    Heartbeat,
    KeyLookup,
    RejectReason,
    decode,
)

__all__ = [
    "DEFAULT_RCVBUF_BYTES",
    "HeartbeatReceiver",
    "HeartbeatTable",
    "Observation",
    "ObservationKind",
    "ServiceState",
]

DEFAULT_RCVBUF_BYTES: Final = 8 * 1024 * 1024

_log = logging.getLogger("paramedic.detect.heartbeat")

ObservationKind = Literal["first_seen", "instance_change", "stalled", "unstalled", "shutting_down"]


@dataclass(frozen=True, slots=True)
class Observation:
    """Something a detector must not miss even if it polls the table too slowly.

    A restart faster than the heartbeat timeout leaves no gap in arrivals; only the new
    instance id reveals it, so it is recorded here rather than inferred later.
    """

    service: str
    kind: ObservationKind
    detail: str
    at: float


@dataclass(slots=True)
class ServiceState:
    """What the last accepted heartbeats of one service say; ``last_rx`` is monotonic."""

    service: str
    instance: bytes
    last: Heartbeat
    last_rx: float
    beats: int = 1
    gaps: int = 0
    reordered: int = 0
    instance_changes: int = 0

    @property
    def last_seq(self) -> int:
        """Highest sequence seen from the current instance."""
        return self.last.seq

    @property
    def flags(self) -> int:
        """Flags of the newest heartbeat."""
        return self.last.flags


class HeartbeatTable:
    """Latest state per service plus a bounded queue of observations.

    Observations are kept in a deque (drain it) and also passed to ``on_observation`` when
    given; the deque is bounded so a flapping service cannot grow memory without limit.
    """

    __slots__ = ("_observations", "_on_observation", "_states")

    def __init__(
        self,
        *,
        on_observation: Callable[[Observation], None] | None = None,
        max_observations: int = 1024,
    ) -> None:
        self._states: dict[str, ServiceState] = {}
        self._observations: deque[Observation] = deque(maxlen=max_observations)
        self._on_observation = on_observation

    def record(self, beat: Heartbeat, rx: float) -> None:
        """Fold one accepted heartbeat received at monotonic time ``rx`` into the table."""
        state = self._states.get(beat.service)
        if state is None:
            self._states[beat.service] = ServiceState(beat.service, beat.instance, beat, rx)
            self._observe(beat.service, "first_seen", _first_seen_detail(beat), rx)
            self._flags_changed(beat.service, 0, beat.flags, rx)
            return
        state.last_rx = rx
        state.beats += 1
        previous = state.last
        if beat.instance != state.instance:
            state.instance_changes += 1
            state.instance = beat.instance
            state.last = beat
            detail = (
                f"restarted: instance {previous.instance.hex()[:8]} (last seq {previous.seq}) "
                f"replaced by {beat.instance.hex()[:8]} (seq {beat.seq})"
            )
            self._observe(beat.service, "instance_change", detail, rx)
            self._flags_changed(beat.service, previous.flags, beat.flags, rx)
            return
        if beat.seq > previous.seq:
            state.gaps += beat.seq - previous.seq - 1
            state.last = beat
            if beat.flags != previous.flags:
                self._flags_changed(beat.service, previous.flags, beat.flags, rx)
        else:
            # A late datagram still proves life, but its fields are older than what we hold.
            state.reordered += 1

    def get(self, service: str) -> ServiceState | None:
        """State of one service, or None if it was never heard."""
        return self._states.get(service)

    @property
    def services(self) -> Mapping[str, ServiceState]:
        """Read-only live view of all services heard so far."""
        return MappingProxyType(self._states)

    def seconds_since(self, service: str, now: float) -> float | None:
        """Silence of a service in seconds at monotonic ``now``; None if never heard."""
        state = self._states.get(service)
        return None if state is None else now - state.last_rx

    def drain_observations(self) -> list[Observation]:
        """Take every observation not yet taken, oldest first."""
        drained = list(self._observations)
        self._observations.clear()
        return drained

    def _flags_changed(self, service: str, old: int, new: int, rx: float) -> None:
        changed = old ^ new
        if changed & FLAG_STALLED:
            if new & FLAG_STALLED:
                self._observe(
                    service, "stalled", "trading loop stopped calling beat(); process alive", rx
                )
            else:
                self._observe(service, "unstalled", "trading loop calls beat() again", rx)
        if changed & new & FLAG_SHUTTING_DOWN:
            self._observe(service, "shutting_down", "sender announced a planned stop", rx)

    def _observe(self, service: str, kind: ObservationKind, detail: str, rx: float) -> None:
        observation = Observation(service, kind, detail, rx)
        self._observations.append(observation)
        if self._on_observation is not None:
            self._on_observation(observation)


def _first_seen_detail(beat: Heartbeat) -> str:
    return f"first heartbeat: instance {beat.instance.hex()[:8]}, seq {beat.seq}"


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
    """Binds a UDP socket and feeds accepted heartbeats into a ``HeartbeatTable``.

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
        table: HeartbeatTable | None = None,
        keep_table: bool = True,
        multicast_group: str | None = None,
        multicast_interface: str | None = None,
        rcvbuf_bytes: int = DEFAULT_RCVBUF_BYTES,
        max_skew_ns: int = DEFAULT_MAX_SKEW_NS,
        replay: ReplayGuard | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        on_beat: Callable[[Heartbeat], None] | None = None,
    ) -> None:
        # The runtime's HeartbeatMonitor keeps its own per-service state; it passes
        # keep_table=False so the hot path does not fold every beat in twice.
        self.table: HeartbeatTable | None = (
            table if table is not None else HeartbeatTable() if keep_table else None
        )
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
        self._monotonic = monotonic
        self._wall_ns = wall_ns
        self._on_beat = on_beat
        self._transport: asyncio.DatagramTransport | None = None
        self._closed = asyncio.Event()
        self._address: tuple[str, int] | None = None

    def handle(self, data: bytes) -> None:
        """Decode and record one datagram; public so tests and benchmarks skip the socket."""
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
        if self.table is not None:
            self.table.record(result, self._monotonic())
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
