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

    def _current(self, key: str, now: float) -> float:
        found = self._values.get(key)
        if found is None:
            return 0.0
        value, expires = found
        if expires <= now:
            del self._values[key]
            return 0.0
        return value

    def _sweep(self, now: float) -> None:
        self._ops += 1
        if self._ops % 4096 == 0:
            for key in [k for k, (_, exp) in self._values.items() if exp <= now]:
                del self._values[key]

    async def hit(self, hits: list[Hit]) -> tuple[Verdict, list[float]]:
        # No await between the check and the add: atomic under asyncio.
        now = self._clock()
        values = [self._current(h.key, now) for h in hits]
        for index, (h, value) in enumerate(zip(hits, values, strict=True)):
            if over_limit(h, value):
                return Verdict(False, value, index), values
        for index, h in enumerate(hits):
            if not h.check_only:
                values[index] += h.amount
                expires = self._values.get(h.key, (0.0, now + h.ttl_s))[1]
                self._values[h.key] = (values[index], expires)
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
