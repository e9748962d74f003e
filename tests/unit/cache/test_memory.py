"""The in-process cache: an LRU bounded in bytes, entries that expire."""

from __future__ import annotations

from app.cache.memory import MemoryCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def size(cache: MemoryCache, key: str, value: bytes) -> int:
    return cache._size(key, value)


async def test_least_recently_used_goes_first_and_bytes_stay_under_the_bound() -> None:
    probe = MemoryCache(10**9)
    one = size(probe, "a", b"x" * 1000)
    cache = MemoryCache(3 * one)
    for name in "abc":
        await cache.set(name, b"x" * 1000, 60)
    assert len(cache) == 3 and cache.bytes == 3 * one
    assert await cache.get("a") == b"x" * 1000  # a is now the most recent
    await cache.set("d", b"x" * 1000, 60)
    assert await cache.get("b") is None, "b was the least recently used"
    assert {k for k in "acd" if k in cache._entries} == {"a", "c", "d"}
    assert cache.bytes <= cache.max_bytes


async def test_a_big_entry_evicts_as_many_as_needed_and_one_larger_than_the_bound_is_not_kept() -> None:
    cache = MemoryCache(5000)
    for i in range(10):
        await cache.set(f"k{i}", b"y" * 200, 60)
    await cache.set("big", b"z" * 3000, 60)
    assert await cache.get("big") == b"z" * 3000
    assert cache.bytes <= 5000
    assert await cache.get("k0") is None and await cache.get("k9") is not None
    await cache.set("huge", b"w" * 6000, 60)
    assert await cache.get("huge") is None
    assert await cache.get("big") is not None, "a refused entry evicts nothing"


async def test_replacing_a_key_keeps_the_byte_count_right() -> None:
    cache = MemoryCache(10**6)
    await cache.set("k", b"1" * 100, 60)
    await cache.set("k", b"2" * 50, 60)
    assert len(cache) == 1 and cache.bytes == size(cache, "k", b"2" * 50)
    assert await cache.get("k") == b"2" * 50


async def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    cache = MemoryCache(10**6, clock=clock)
    await cache.set("k", b"v", 5)
    clock.now += 4.9
    assert await cache.get("k") == b"v"
    clock.now += 0.2
    assert await cache.get("k") is None
    assert cache.bytes == 0 and len(cache) == 0
