"""Slots: a FIFO bound on concurrent work that never loses or leaks a slot."""

from __future__ import annotations

import asyncio

import pytest

from paramedic.core.slots import Slots


async def test_at_most_size_run_at_once_in_arrival_order() -> None:
    slots = Slots(2)
    gate = asyncio.Event()
    running: list[int] = []
    started: list[int] = []
    peak = 0

    async def work(i: int) -> None:
        nonlocal peak
        async with slots:
            started.append(i)
            running.append(i)
            peak = max(peak, len(running))
            await gate.wait()
            running.remove(i)

    tasks = [asyncio.create_task(work(i)) for i in range(6)]
    await asyncio.sleep(0)
    assert ([0, 1], 4) == (started, slots.waiting)
    gate.set()
    await asyncio.gather(*tasks)
    assert list(range(6)) == started
    assert 2 == peak


async def test_a_cancelled_waiter_gives_up_its_place_and_no_slot_is_lost() -> None:
    slots = Slots(1)
    release = asyncio.Event()

    async def hold() -> None:
        async with slots:
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert 0 == slots.waiting
    release.set()
    await holder
    async with slots:  # the slot came back
        pass


async def test_a_waiter_cancelled_after_being_handed_the_slot_passes_it_on() -> None:
    slots = Slots(1)
    release = asyncio.Event()
    entered: list[str] = []

    async def hold(name: str) -> None:
        async with slots:
            entered.append(name)
            await release.wait()

    first = asyncio.create_task(hold("first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(hold("second"))
    third = asyncio.create_task(hold("third"))
    await asyncio.sleep(0)
    release.set()
    await asyncio.sleep(0)  # first leaves and hands its slot to second...
    second.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(first, second, third, return_exceptions=True)
    assert ["first", "third"] == entered


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Slots(0)
