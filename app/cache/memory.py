"""In-process response cache: least recently used out first, bounded by bytes, entries expire."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["MemoryCache"]

_OVERHEAD = 160
"""Bytes counted per entry beyond key and value (dict slot, tuple, ints): keeps tiny entries honest."""


class MemoryCache:
    """One per process (per server worker): replicas and workers do not share it; use Redis for that."""

    name = "memory"

    def __init__(self, max_bytes: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self.bytes = 0

    @staticmethod
    def _size(key: str, value: bytes) -> int:
        return len(key) + len(value) + _OVERHEAD

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        value, expires = found
        if self._clock() >= expires:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        size = self._size(key, value)
        if size > self.max_bytes:
            return  # would evict everything and still not fit
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (value, self._clock() + ttl_s)
        self.bytes += size
        while self.bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, key: str) -> None:
        value, _ = self._entries.pop(key)
        self.bytes -= self._size(key, value)

    async def close(self) -> None:
        self._entries.clear()
        self.bytes = 0
