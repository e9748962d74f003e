"""The contract of a response-cache backend: opaque bytes under a key, with a time to live."""

from __future__ import annotations

from typing import Protocol

__all__ = ["CacheBackend"]


class CacheBackend(Protocol):
    """Memory or Redis; a backend that cannot answer behaves as a miss and never raises."""

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def close(self) -> None: ...
