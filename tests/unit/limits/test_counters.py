"""The counter backend contract, on every backend: exact under concurrency, all-or-nothing, windows expire."""

from __future__ import annotations

import asyncio

from app.limits.base import CounterBackend, Hit


async def test_two_hundred_concurrent_hits_on_a_cap_of_fifty_admit_exactly_fifty(
    counters: CounterBackend, prefix: str
) -> None:
    hit = [Hit(f"{prefix}:day", 50, 1, 60), Hit(f"{prefix}:rpm", 1000, 1, 60)]
    verdicts = await asyncio.gather(*(counters.hit(hit) for _ in range(200)))
    admitted = [v for v, _ in verdicts if v.allowed]
    assert len(admitted) == 50
    assert sorted(values[0] for v, values in verdicts if v.allowed) == [float(n) for n in range(1, 51)]
    assert all(v.refused_index == 0 for v, _ in verdicts if not v.allowed)
    assert await counters.get(f"{prefix}:day") == 50
    assert await counters.get(f"{prefix}:rpm") == 50  # refused hits added nothing to the other window


async def test_all_or_nothing_across_windows(counters: CounterBackend, prefix: str) -> None:
    wide, narrow = Hit(f"{prefix}:a", 10, 1, 60), Hit(f"{prefix}:b", 1, 1, 60)
    first, _ = await counters.hit([wide, narrow])
    second, values = await counters.hit([wide, narrow])
    assert first.allowed and not second.allowed
    assert second.refused_index == 1
    assert values == [1.0, 1.0]  # the values as they stand, unchanged by the refusal
    assert await counters.get(f"{prefix}:a") == 1


async def test_check_only_hits_admit_below_the_limit_without_adding(counters: CounterBackend, prefix: str) -> None:
    budget = Hit(f"{prefix}:spend", 1.0, 0, 60, check_only=True)
    verdict, values = await counters.hit([budget])
    assert verdict.allowed and values == [0.0]
    assert await counters.add(f"{prefix}:spend", 0.4, 60) == 0.4
    assert await counters.add(f"{prefix}:spend", 0.6, 60) == 1.0
    verdict, values = await counters.hit([Hit(f"{prefix}:rpm", 5, 1, 60), budget])
    assert not verdict.allowed and verdict.refused_index == 1
    assert values[1] == 1.0
    assert await counters.get(f"{prefix}:rpm") == 0


async def test_fractional_amounts_keep_their_precision(counters: CounterBackend, prefix: str) -> None:
    for _ in range(3):
        await counters.add(f"{prefix}:usd", 0.000123, 60)
    assert abs(await counters.get(f"{prefix}:usd") - 0.000369) < 1e-12


async def test_counters_expire_with_their_window(counters: CounterBackend, prefix: str) -> None:
    if hasattr(counters, "_clock"):  # the in-process backend is tested with an injected clock instead
        return
    hit = Hit(f"{prefix}:short", 1, 1, 0.3)
    assert (await counters.hit([hit]))[0].allowed
    assert not (await counters.hit([hit]))[0].allowed
    await asyncio.sleep(0.45)
    assert (await counters.hit([hit]))[0].allowed
