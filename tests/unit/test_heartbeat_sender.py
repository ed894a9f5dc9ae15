"""HeartbeatSender: datagrams, sequence and instance, stall detection, thread and task."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from paramedic.client import ClientError, HeartbeatSender
from paramedic.client.heartbeat import read_process_stats
from paramedic.wire import Heartbeat, KeyRing, decode

KEY = b"k" * 32
RING = KeyRing({"engine": {3: KEY}})


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _sender(clock: FakeClock | None = None, **kwargs: object) -> HeartbeatSender:
    options: dict[str, object] = {"key_id": 3, "stall_after": 1.0, "stats": lambda: (5, 6, 7)}
    if clock is not None:
        options["monotonic"] = clock
    options.update(kwargs)
    return HeartbeatSender("127.0.0.1", 9, "engine", KEY, **options)  # type: ignore[arg-type]


def _decode(datagram: bytes) -> Heartbeat:
    result = decode(datagram, RING)
    assert isinstance(result, Heartbeat)
    return result


@pytest.fixture
def udp_sink() -> Iterator[socket.socket]:
    """A plain UDP socket on 127.0.0.1, port 0, to catch what a sender emits."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    yield sock
    sock.close()


def _until(sock: socket.socket, predicate: object) -> Heartbeat:
    """Read heartbeats until one satisfies predicate; the socket timeout bounds the wait."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        beat = _decode(sock.recv(2048))
        if predicate(beat):  # type: ignore[operator]
            return beat
    raise AssertionError("no matching heartbeat within 5 s")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"service_id": "bad id"},
        {"service_id": ""},
        {"key": b""},
        {"key_id": 256},
        {"interval": 0},
        {"stall_after": -1.0},
        {"port": 70000},
    ],
)
def test_misconfiguration_raises_client_error(kwargs: dict[str, object]) -> None:
    """A bad setting fails at construction with a ClientError, not later on the wire."""
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 9,
        "service_id": "engine",
        "key": KEY,
    }
    options.update(kwargs)
    with pytest.raises(ClientError):
        HeartbeatSender(**options)  # type: ignore[arg-type]


def test_tick_sends_signed_heartbeats_with_rising_sequence() -> None:
    """Sequence starts at 0 per instance and rises by one; fields come from the stats hook."""
    sender = _sender(FakeClock(), wall_ns=lambda: 123)
    beats = [_decode(sender.tick()) for _ in range(3)]
    assert [0, 1, 2] == [b.seq for b in beats]
    assert {("engine", 3, 123, 5, 6, 7, sender.instance, 0)} == {
        (
            b.service,
            b.key_id,
            b.sent_ns,
            b.load_avg_milli,
            b.rss_bytes,
            b.threads,
            b.instance,
            b.flags,
        )
        for b in beats
    }
    assert 3 == sender.seq


def test_each_sender_has_its_own_random_instance() -> None:
    """Two constructions (two process starts) never share an instance id."""
    assert _sender().instance != _sender().instance
    assert 16 == len(_sender().instance)


def test_stall_sets_flag_and_dumps_stacks_once(caplog: pytest.LogCaptureFixture) -> None:
    """No beat() for longer than stall_after: flag on, one stack dump; beats resume: flag off."""
    clock = FakeClock()
    sender = _sender(clock)
    caplog.set_level(logging.INFO, logger="paramedic.client")
    sender.beat()
    clock.now += 0.5
    before = _decode(sender.tick())
    clock.now += 1.0
    during = [_decode(sender.tick()) for _ in range(3)]
    sender.beat()
    after = _decode(sender.tick())
    assert [False, True, True, True, False] == [b.stalled for b in (before, *during, after)]
    assert [500, 1500, 1500, 1500, 0] == [b.beat_age_ms for b in (before, *during, after)]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert 1 == len(errors)
    assert "paramedic.client" == errors[0].name
    message = errors[0].getMessage()
    assert "engine: trading loop stalled" in message
    assert f'Thread "{threading.current_thread().name}"' in message
    assert "test_stall_sets_flag_and_dumps_stacks_once" in message
    assert any("beat() again" in r.getMessage() for r in caplog.records)


def test_a_second_stall_dumps_again() -> None:
    """Once per stall, not once per sender: a later stall is reported anew."""
    clock = FakeClock()
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.Logger("test.sender.second_stall")
    logger.addHandler(Collect())
    sender = _sender(clock, logger=logger)
    for _ in range(2):
        sender.beat()
        clock.now += 2.0
        sender.tick()
        sender.tick()
    assert 2 == sum(r.levelno == logging.ERROR for r in records)
    assert sender.stalled


def test_no_beats_no_stall_unless_expected() -> None:
    """A service that never calls beat() is not judged, unless expect_beats says it must."""
    clock = FakeClock()
    lenient = _sender(clock)
    strict = _sender(clock, expect_beats=True)
    first = (_decode(lenient.tick()), _decode(strict.tick()))
    clock.now += 1.5
    later = (_decode(lenient.tick()), _decode(strict.tick()))
    assert [(False, None), (False, 0), (False, None), (True, 1500)] == [
        (b.stalled, b.beat_age_ms) for b in (*first, *later)
    ]


def test_beat_is_cheap() -> None:
    """beat() is one clock read and one attribute store, fit for a trading loop."""
    sender = _sender()
    started = time.perf_counter()
    for _ in range(10_000):
        sender.beat()
    per_call = (time.perf_counter() - started) / 10_000
    assert per_call < 20e-6


def test_thread_sends_flags_stall_and_says_goodbye(
    udp_sink: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    """A real thread: heartbeats flow, a stall is flagged and dumped once, stop() says so."""
    port = udp_sink.getsockname()[1]
    sender = HeartbeatSender(
        "127.0.0.1", port, "engine", KEY, key_id=3, interval=0.005, stall_after=0.05
    )
    caplog.set_level(logging.ERROR, logger="paramedic.client")
    with sender:
        sender.beat()
        first = _until(udp_sink, lambda b: True)
        stalled = _until(udp_sink, lambda b: b.stalled)
        sender.beat()
        _until(udp_sink, lambda b: not b.stalled)
    final = _until(udp_sink, lambda b: b.shutting_down)
    assert (0, sender.instance, sender.instance) == (first.seq, stalled.instance, final.instance)
    # Exactly-once per stall is proven with a fake clock above; here a slow CI box may let a
    # second real stall happen before stop(), so only "at least one, from the right place".
    dumps = [r.getMessage() for r in caplog.records if "trading loop stalled" in r.getMessage()]
    assert 1 <= len(dumps)
    assert 'Thread "paramedic-heartbeat-engine"' in dumps[0]
    assert sender.seq - 1 == final.seq


async def test_async_flavour_sends_until_stopped(udp_sink: socket.socket) -> None:
    """run() sends from the event loop and ends with a shutting-down heartbeat on stop()."""
    port = udp_sink.getsockname()[1]
    sender = HeartbeatSender("127.0.0.1", port, "engine", KEY, key_id=3, interval=0.005)
    udp_sink.setblocking(False)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(sender.run())
    async with asyncio.timeout(5):
        seqs = [_decode(await loop.sock_recv(udp_sink, 2048)).seq for _ in range(3)]
        sender.stop()
        await task
        final = _decode(await loop.sock_recv(udp_sink, 2048))
        while not final.shutting_down:
            final = _decode(await loop.sock_recv(udp_sink, 2048))
    assert [0, 1, 2] == seqs
    assert sender.seq - 1 == final.seq


async def test_async_flavour_cancellation_still_says_goodbye(udp_sink: socket.socket) -> None:
    """Cancelling the task is a clean stop too: the last heartbeat is flagged."""
    port = udp_sink.getsockname()[1]
    sender = HeartbeatSender("127.0.0.1", port, "engine", KEY, key_id=3, interval=0.005)
    udp_sink.setblocking(False)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(sender.run())
    async with asyncio.timeout(5):
        await loop.sock_recv(udp_sink, 2048)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        beat = _decode(await loop.sock_recv(udp_sink, 2048))
        while not beat.shutting_down:
            beat = _decode(await loop.sock_recv(udp_sink, 2048))
    assert sender.seq - 1 == beat.seq


def test_double_start_is_refused() -> None:
    """Two threads for one sender would interleave sequences; the second start fails."""
    sender = _sender()
    with sender, pytest.raises(ClientError):
        sender.start()


def test_process_stats_are_plausible() -> None:
    """RSS and thread count come from /proc without psutil and make sense."""
    load_milli, rss, threads = read_process_stats()
    assert load_milli >= 0
    assert rss > 1_000_000
    assert threads >= threading.active_count()


def test_unresolvable_target_fails_at_start() -> None:
    """A target host that does not resolve is reported when the sender starts, by name."""
    sender = HeartbeatSender("no-such-host.invalid", 9, "engine", KEY)
    with pytest.raises(ClientError, match=r"no-such-host\.invalid:9"):
        sender.start()
