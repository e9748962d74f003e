"""Redis response cache, shared by every replica: one GET per lookup, one SET with PX per store."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.limits.outage import OutageGate

__all__ = ["PREFIX", "RedisCache"]

PREFIX = "polyroute:cache:"


class RedisCache:
    """A Redis that is down or slow is a miss (and a skipped store), never an error for the caller."""

    name = "redis"

    def __init__(self, url: str, *, timeout_s: float = 0.5, cooldown_s: float = 1.0) -> None:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._client = aioredis.Redis(connection_pool=pool)
        self.gate = OutageGate("Redis (response cache)", (RedisError, OSError, TimeoutError), cooldown_s=cooldown_s)

    async def get(self, key: str) -> bytes | None:
        try:
            raw = await self.gate.run(lambda: self._client.get(PREFIX + key))
        except ConnectionError:
            return None  # the gate logged the outage once
        return raw if isinstance(raw, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self.gate.run(lambda: self._client.set(PREFIX + key, value, px=max(1, int(ttl_s * 1000))))
        except ConnectionError:
            return

    async def close(self) -> None:
        await self._client.aclose(close_connection_pool=True)
