"""In-process counters for a single node: exact because the event loop runs one hit at a time."""

from __future__ import annotations

import time
from collections.abc import Callable

from app.limits.base import Hit, Verdict, over_limit

__all__ = ["MemoryCounters"]


class MemoryCounters:
    """One process's counters; exact for a single node (one worker), nothing shared."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._values: dict[str, tuple[float, float]] = {}
        self._ops = 0

    def _live(self, key: str, now: float) -> tuple[float, float] | None:
        """The counter's (value, expiry) while it lasts; an expired one is dropped and reads None."""
        found = self._values.get(key)
        if found is not None and found[1] <= now:
            del self._values[key]
            return None
        return found

    def _current(self, key: str, now: float) -> float:
        found = self._live(key, now)
        return found[0] if found is not None else 0.0

    def _sweep(self, now: float) -> None:
        """Drop every expired counter (from `hit`, every 4,096 calls)."""
        for key in [k for k, (_, exp) in self._values.items() if exp <= now]:
            del self._values[key]

    async def hit(self, hits: list[Hit]) -> tuple[Verdict, list[float]]:
        # No await between the check and the add: atomic under asyncio. One pass to read (an expired
        # counter reads 0 and is dropped), one to check, one to add: on every admitted request.
        now = self._clock()
        store = self._values
        values: list[float] = []
        found: list[tuple[float, float] | None] = []
        for h in hits:
            entry = self._live(h.key, now)
            found.append(entry)
            values.append(entry[0] if entry is not None else 0.0)
        for index, h in enumerate(hits):
            if over_limit(h, values[index]):
                return Verdict(False, values[index], index), values
        for index, h in enumerate(hits):
            if not h.check_only:
                entry = found[index]
                values[index] += h.amount
                store[h.key] = (values[index], entry[1] if entry is not None else now + h.ttl_s)
        self._ops += 1
        if self._ops % 4096 == 0:
            self._sweep(now)
        return Verdict(True, values[0] if values else 0.0), values

    async def add(self, key: str, amount: float, ttl_s: float) -> float:
        now = self._clock()
        value = self._current(key, now) + amount
        expires = self._values.get(key, (0.0, now + ttl_s))[1]
        self._values[key] = (value, expires)
        return value

    async def get(self, key: str) -> float:
        return self._current(key, self._clock())

    async def close(self) -> None:
        self._values.clear()
