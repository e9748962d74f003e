"""A provider's slots: first come first served, a waiter that gives up leaves no trace, a cap
changed at run time takes effect as calls finish."""

from __future__ import annotations

import asyncio

import pytest

from app.gateway.slots import ProviderSlots


async def settle() -> None:
    """Let woken waiters run (a handed-over slot resolves through a few callbacks)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_freed_slot_goes_to_the_longest_waiter() -> None:
    slots = ProviderSlots()
    await slots.take("p", 1, None)
    order: list[str] = []

    async def wait(name: str) -> None:
        await slots.take("p", 1, 5)
        order.append(name)

    first = asyncio.create_task(wait("first"))
    await settle()
    second = asyncio.create_task(wait("second"))
    await settle()
    assert slots.full("p", 1) and not order
    slots.give("p")
    await settle()
    assert order == ["first"] and slots.busy("p") == 1  # handed over: the count never dropped
    slots.give("p")
    await asyncio.gather(first, second)
    assert order == ["first", "second"]
    slots.give("p")
    assert slots.busy("p") == 0 and not slots.full("p", 1)


async def test_a_newcomer_does_not_jump_the_queue() -> None:
    slots = ProviderSlots()
    await slots.take("p", 1, None)
    waiting = asyncio.create_task(slots.take("p", 1, 5))
    await settle()
    assert slots.full("p", 2)  # room by the count, but someone is already waiting
    slots.give("p")
    await waiting
    assert slots.busy("p") == 1


async def test_a_waiter_that_times_out_or_is_cancelled_leaves_no_trace() -> None:
    slots = ProviderSlots()
    await slots.take("p", 1, None)
    with pytest.raises(TimeoutError):
        await slots.take("p", 1, 0.01)
    cancelled = asyncio.create_task(slots.take("p", 1, 5))
    await settle()
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    slots.give("p")
    assert slots.busy("p") == 0 and not slots.full("p", 1)
    await slots.take("p", 1, 0)  # free at once: nobody left in the queue
    assert slots.busy("p") == 1


async def test_a_lowered_cap_drains_and_a_raised_one_lets_the_queue_in() -> None:
    slots = ProviderSlots()
    for _ in range(3):
        await slots.take("p", 3, None)
    late = asyncio.create_task(slots.take("p", 2, 5))
    await settle()
    slots.give("p")  # 2 busy under a cap of 2: the waiter still waits
    await settle()
    assert not late.done() and slots.busy("p") == 2
    slots.give("p")
    await late
    assert slots.busy("p") == 2
    queued = [asyncio.create_task(slots.take("p", 2, 5)) for _ in range(2)]
    await settle()
    raised = asyncio.create_task(slots.take("p", 5, 5))  # the cap goes up: everyone fits
    await asyncio.gather(*queued, raised)
    assert slots.busy("p") == 5


async def test_providers_are_counted_apart_and_no_cap_is_never_full() -> None:
    slots = ProviderSlots()
    await slots.take("a", 1, None)
    assert slots.full("a", 1) and not slots.full("b", 1) and not slots.full("a", None)
