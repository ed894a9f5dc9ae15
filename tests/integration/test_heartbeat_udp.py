"""Real sockets on 127.0.0.1: HeartbeatSender threads talking to a HeartbeatReceiver that
feeds a HeartbeatMonitor, as the runtime wires them."""

from __future__ import annotations

import asyncio
import hmac
import socket
import time
from collections.abc import AsyncIterator, Callable

import pytest

from paramedic.client import HeartbeatSender
from paramedic.core.clock import SystemClock
from paramedic.core.errors import DetectionError
from paramedic.detect.failure_detector import TimeoutDetector
from paramedic.detect.heartbeat import HeartbeatReceiver
from paramedic.detect.heartbeat_monitor import HeartbeatMonitor
from paramedic.detect.signals import Signal
from paramedic.wire import Heartbeat, KeyRing, encode

pytestmark = pytest.mark.integration

KEY = b"integration-key-0123456789abcdef"


class Harness:
    """A started receiver feeding a monitor (signals and restarts recorded), plus an event
    that fires on every accepted heartbeat."""

    def __init__(self) -> None:
        self.beats: list[Heartbeat] = []
        self.signals: list[Signal] = []
        self.restarts: list[tuple[str, str, str, int]] = []
        self.arrived = asyncio.Event()
        self.monitor = HeartbeatMonitor(
            SystemClock(),
            self.signals.append,
            on_restart=lambda *args: self.restarts.append(args),
        )
        self.monitor.add_service("engine", TimeoutDetector(5.0), 0.005, startup_grace=5.0)
        self.receiver = HeartbeatReceiver(
            KeyRing({"engine": {1: KEY}}), host="127.0.0.1", port=0, on_beat=self._on_beat
        )

    def _on_beat(self, beat: Heartbeat) -> None:
        self.monitor.on_beat(beat)
        self.beats.append(beat)
        self.arrived.set()

    def reasons(self) -> list[str]:
        """What the monitor said about the engine, in order."""
        return [s.reason for s in self.signals if s.source == "heartbeat"]

    @property
    def port(self) -> int:
        return self.receiver.address[1]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wake on each accepted heartbeat until predicate holds (5 s cap); no polling sleeps."""
        async with asyncio.timeout(5.0):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()

    def sender(self, **kwargs: object) -> HeartbeatSender:
        options: dict[str, object] = {"key_id": 1, "interval": 0.005}
        options.update(kwargs)
        return HeartbeatSender("127.0.0.1", self.port, "engine", KEY, **options)  # type: ignore[arg-type]


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    """A receiver bound to an ephemeral port, stopped after the test."""
    h = Harness()
    async with h.receiver:
        yield h
    h.monitor.close()


async def test_sender_thread_reaches_the_monitor(harness: Harness) -> None:
    """Heartbeats from a real sender thread reach the monitor with their fields: first
    contact, no gaps, then the planned stop."""
    with harness.sender() as sender:
        await harness.wait_for(lambda: len(harness.beats) >= 3)
    await harness.wait_for(lambda: harness.beats[-1].shutting_down)
    last = harness.beats[-1]
    assert (sender.instance, sender.seq - 1) == (last.instance, last.seq)
    assert ({"engine": 0}, 1) == (harness.monitor.gaps(), harness.monitor.heard)
    assert last.rss_bytes > 0
    assert harness.beats[0].threads >= 2  # the sender thread itself was alive then
    assert harness.receiver.accepted == len(harness.beats)
    first = f"first heartbeat: seq 0 from instance {sender.instance.hex()[:4]}"
    assert [first, "heartbeat stopped: service announced shutdown"] == harness.reasons()
    assert harness.receiver.rcvbuf_granted > 0


async def test_restart_with_same_service_id_is_an_instance_change(harness: Harness) -> None:
    """A second sender for the same service (a restart) is recorded as an instance change."""
    with harness.sender() as first:
        await harness.wait_for(lambda: len(harness.beats) >= 2)
    await harness.wait_for(lambda: harness.beats[-1].shutting_down)
    with harness.sender() as second:
        await harness.wait_for(lambda: harness.beats[-1].instance == second.instance)
    assert 1 == len(harness.restarts)
    service, old, new, _ = harness.restarts[0]
    assert ("engine", first.instance.hex(), second.instance.hex()) == (service, old, new)


async def test_two_live_senders_with_one_id_show_as_retired_instance(harness: Harness) -> None:
    """Duplicate service ids do not flap the table; the loser is counted as retired."""
    with harness.sender() as first:
        await harness.wait_for(lambda: len(harness.beats) >= 1)
        with harness.sender() as second:
            await harness.wait_for(lambda: harness.receiver.rejections["retired_instance"] >= 1)
    instances = [b.instance for b in harness.beats]
    takeover = instances.index(second.instance)
    assert {first.instance} == set(instances[:takeover])
    assert {second.instance} == set(instances[takeover:])


async def test_garbage_is_counted_by_reason_and_ingest_goes_on(harness: Harness) -> None:
    """Junk, oversize, forged and stale datagrams are counted; a valid one still gets in."""
    valid_at = time.time_ns()
    forged = encode(
        service="engine", key=b"wrong", key_id=1, instance=bytes(16), seq=0, sent_ns=valid_at
    )
    stale = encode(service="engine", key=KEY, key_id=1, instance=bytes(16), seq=0, sent_ns=0)
    good = encode(
        service="engine", key=KEY, key_id=1, instance=b"\x01" * 16, seq=0, sent_ns=valid_at
    )
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for datagram in (b"junk", bytes(1500), b"PMHB\x09" + bytes(90), forged, stale, good):
            out.sendto(datagram, ("127.0.0.1", harness.port))
        await harness.wait_for(lambda: len(harness.beats) >= 1)
        out.sendto(good, ("127.0.0.1", harness.port))
        body = good[:-32]
        again = body[:24] + (1).to_bytes(8, "big") + body[32:]
        out.sendto(again + hmac.digest(KEY, again, "sha256"), ("127.0.0.1", harness.port))
        await harness.wait_for(lambda: len(harness.beats) >= 2)
    finally:
        out.close()
    nonzero = {k: v for k, v in harness.receiver.rejections.items() if v}
    expected = {
        "malformed": 1,
        "oversized": 1,
        "bad_version": 1,
        "bad_signature": 1,
        "stale": 1,
        "replayed": 1,
    }
    assert expected == nonzero
    assert [0, 1] == [b.seq for b in harness.beats]


async def test_failing_on_beat_hook_does_not_stop_ingest() -> None:
    """An exception in a detector hook is counted; every later datagram is still accepted
    and handed to the hook."""

    failures = 0
    twice = asyncio.Event()

    def broken(beat: Heartbeat) -> None:
        nonlocal failures
        failures += 1
        if failures == 2:
            twice.set()
        raise RuntimeError("detector bug")

    receiver = HeartbeatReceiver(
        KeyRing({"engine": {1: KEY}}), host="127.0.0.1", port=0, on_beat=broken
    )
    async with receiver:
        sender = HeartbeatSender(
            "127.0.0.1", receiver.address[1], "engine", KEY, key_id=1, interval=0.005
        )
        with sender:
            async with asyncio.timeout(5):
                await twice.wait()
    assert receiver.hook_errors >= 2
    assert receiver.accepted == receiver.hook_errors


async def test_busy_port_is_a_detection_error(harness: Harness) -> None:
    """Binding a port already in use fails with a message naming the address."""
    clash = HeartbeatReceiver(KeyRing(), host="127.0.0.1", port=harness.port)
    with pytest.raises(DetectionError, match=f"127.0.0.1:{harness.port}"):
        await clash.start()


async def test_multicast_group_receives_heartbeats() -> None:
    """Joining an IPv4 multicast group on loopback delivers heartbeats sent to the group."""
    group = "239.255.77.1"
    arrived = asyncio.Event()
    receiver = HeartbeatReceiver(
        KeyRing({"engine": {1: KEY}}),
        host="0.0.0.0",
        port=0,
        multicast_group=group,
        multicast_interface="127.0.0.1",
        on_beat=lambda beat: arrived.set(),
    )
    try:
        await receiver.start()
    except DetectionError as exc:
        pytest.skip(f"no multicast on loopback here: {exc}")
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        out.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        datagram = encode(
            service="engine", key=KEY, key_id=1, instance=bytes(16), seq=0, sent_ns=time.time_ns()
        )
        out.sendto(datagram, (group, receiver.address[1]))
        async with asyncio.timeout(5):
            await arrived.wait()
    finally:
        out.close()
        await receiver.stop()
    assert 1 == receiver.accepted
