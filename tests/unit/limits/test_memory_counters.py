"""The in-process counters: a window's counter lives until its TTL, then reads 0 and is dropped."""

from __future__ import annotations

from app.limits.base import Hit
from app.limits.memory import MemoryCounters


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_counter_expires_with_its_ttl_and_keeps_its_first_expiry_while_counting() -> None:
    clock = _Clock()
    counters = MemoryCounters(clock)
    rpm = Hit("rpm:k:1", limit=3, amount=1, ttl_s=10)
    verdicts = []
    for _ in range(4):
        verdict, values = await counters.hit([rpm])
        verdicts.append((verdict.allowed, values))
        clock.now += 2  # the TTL runs from the first hit, not the last
    assert verdicts == [(True, [1.0]), (True, [2.0]), (True, [3.0]), (False, [3.0])]
    clock.now = 1_010.0  # ten seconds after the first hit: gone
    verdict, values = await counters.hit([rpm])
    assert verdict.allowed and values == [1.0]


async def test_a_refused_hit_adds_to_no_window_and_check_only_hits_never_add() -> None:
    counters = MemoryCounters(_Clock())
    day = Hit("day:k", limit=100, amount=1, ttl_s=60)
    tpm = Hit("tpm:k", limit=50, amount=0, ttl_s=60, check_only=True)
    rpm = Hit("rpm:k", limit=1, amount=1, ttl_s=60)
    assert (await counters.hit([day, tpm, rpm]))[1] == [1.0, 0.0, 1.0]
    verdict, values = await counters.hit([day, tpm, rpm])
    assert not verdict.allowed and verdict.refused_index == 2 and values == [1.0, 0.0, 1.0]
    assert await counters.get("day:k") == 1.0  # the refusal consumed nothing
    assert await counters.get("tpm:k") == 0.0


async def test_expired_counters_are_swept_out_of_memory() -> None:
    clock = _Clock()
    counters = MemoryCounters(clock)
    for n in range(100):
        await counters.hit([Hit(f"rpm:k{n}:1", limit=10, amount=1, ttl_s=5)])
    clock.now += 6
    for _ in range(4096):  # a sweep runs every 4,096 hits
        await counters.hit([Hit("rpm:live", limit=1e9, amount=1, ttl_s=600)])
    assert set(counters._values) == {"rpm:live"}
