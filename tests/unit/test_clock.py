"""FakeClock: deterministic timers, in order, and wall steps that fire nothing."""

from __future__ import annotations

import asyncio

from paramedic.testing import FakeClock


def test_timers_fire_in_due_order_with_clock_at_due_time() -> None:
    """Timers set out of order fire in due order, each seeing the clock at its own due time."""
    clock = FakeClock(mono=0.0)
    fired: list[tuple[str, float]] = []
    for name, delay in [("c", 3.0), ("a", 1.0), ("b", 2.0), ("a2", 1.0)]:
        clock.call_later(delay, lambda n=name: fired.append((n, clock.monotonic())))
    assert 4 == clock.advance(10.0)
    assert [("a", 1.0), ("a2", 1.0), ("b", 2.0), ("c", 3.0)] == fired
    assert 10.0 == clock.monotonic()


def test_timers_set_by_callbacks_fire_within_the_same_advance() -> None:
    """A 2-hour ladder of chained timers runs in one advance, in order, without sleeping."""
    clock = FakeClock(mono=0.0)
    steps = [0.0, 120.0, 300.0, 600.0, 900.0, 3600.0, 7200.0]
    fired: list[float] = []

    def schedule(i: int) -> None:
        fired.append(clock.monotonic())
        if i + 1 < len(steps):
            clock.call_later(steps[i + 1] - steps[i], lambda: schedule(i + 1))

    clock.call_later(0.0, lambda: schedule(0))
    clock.advance(7199.0)
    assert steps[:-1] == fired
    clock.advance(1.0)
    assert steps == fired


def test_cancelled_timer_does_not_fire_and_not_early() -> None:
    """A cancelled timer never fires; an uncancelled one does not fire before its due time."""
    clock = FakeClock(mono=0.0)
    fired: list[str] = []
    handle = clock.call_later(1.0, lambda: fired.append("x"))
    clock.call_later(2.0, lambda: fired.append("y"))
    handle.cancel()
    clock.advance(1.999)
    assert [] == fired
    clock.advance(0.001)
    assert ["y"] == fired


def test_wall_step_fires_nothing() -> None:
    """Jumping wall time (an NTP step) neither fires nor cancels a monotonic deadline."""
    clock = FakeClock(mono=0.0, wall=1000.0)
    fired: list[str] = []
    clock.call_later(5.0, lambda: fired.append("deadline"))
    clock.step_wall(3600.0)
    assert 0 == clock.advance(0.0)
    assert 4600.0 == clock.wall()
    clock.advance(5.0)
    assert ["deadline"] == fired


async def test_sleep_wakes_on_advance() -> None:
    """An awaiting coroutine resumes only when the fake time passes its deadline."""
    clock = FakeClock(mono=0.0)
    task = asyncio.create_task(clock.sleep(60.0))
    await asyncio.sleep(0)
    clock.advance(59.0)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(1.0)
    await asyncio.wait_for(task, 1.0)
    assert task.done()
