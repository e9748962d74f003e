"""Redis counters for several replicas: one Lua script checks and adds every window atomically.

Each counter is a plain key holding a float (INCRBYFLOAT), created with a PEXPIRE that ends
with its window, so Redis forgets finished windows by itself. Socket timeouts are short and an
`OutageGate` fails calls fast while Redis is down, so a dead Redis never hangs a request.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.limits.base import Hit, Verdict
from app.limits.outage import QUEUE_FACTOR, OutageGate

__all__ = ["CLIENT_NAME", "RedisCounters"]

PREFIX = "polyroute:limits:"
CLIENT_NAME = "polyroute-limits"

# KEYS: the counters. ARGV, four per key: limit, amount, ttl in ms, check_only (1/0).
# Returns {refused index (1-based, 0 = admitted), value per key...}, numbers as strings
# (Lua numbers would be truncated to integers on the way out).
_HIT = """
local n = #KEYS
local values = {}
for i = 1, n do
  values[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
end
for i = 1, n do
  local base = (i - 1) * 4
  local limit = tonumber(ARGV[base + 1])
  local amount = tonumber(ARGV[base + 2])
  local over
  if ARGV[base + 4] == '1' then over = values[i] >= limit else over = values[i] + amount > limit end
  if over then
    local out = {tostring(i)}
    for j = 1, n do out[j + 1] = tostring(values[j]) end
    return out
  end
end
for i = 1, n do
  local base = (i - 1) * 4
  if ARGV[base + 4] ~= '1' then
    values[i] = tonumber(redis.call('INCRBYFLOAT', KEYS[i], ARGV[base + 2]))
    if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[base + 3]) end
  end
end
local out = {'0'}
for i = 1, n do out[i + 1] = tostring(values[i]) end
return out
"""

_ADD = """
local value = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return tostring(value)
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisCounters:
    """Counters shared by every replica pointing at the same Redis (not Redis Cluster)."""

    def __init__(
        self, url: str, *, timeout_s: float = 1.0, cooldown_s: float = 1.0, client_name: str = CLIENT_NAME
    ) -> None:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=timeout_s * QUEUE_FACTOR,  # waiting for a free connection is queueing, not an outage
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            client_name=client_name,  # who holds which connection, in CLIENT LIST
        )
        self._client = aioredis.Redis(connection_pool=pool)
        self._hit = self._client.register_script(_HIT)
        self._add = self._client.register_script(_ADD)
        errors = (RedisError, OSError, TimeoutError)
        self.gate = OutageGate("Redis (rate-limit counters)", errors, cooldown_s=cooldown_s)

    async def hit(self, hits: list[Hit]) -> tuple[Verdict, list[float]]:
        if not hits:
            return Verdict(True, 0.0), []
        keys = [PREFIX + h.key for h in hits]
        args: list[Any] = []
        for h in hits:
            args += [repr(float(h.limit)), repr(float(h.amount)), _ms(h.ttl_s), 1 if h.check_only else 0]
        raw = await self.gate.run(lambda: self._hit(keys=keys, args=args))
        refused = int(raw[0])
        values = [float(v) for v in raw[1:]]
        if refused:
            return Verdict(False, values[refused - 1], refused - 1), values
        return Verdict(True, values[0]), values

    async def add(self, key: str, amount: float, ttl_s: float) -> float:
        raw = await self.gate.run(lambda: self._add(keys=[PREFIX + key], args=[repr(float(amount)), _ms(ttl_s)]))
        return float(raw)

    async def get(self, key: str) -> float:
        raw = await self.gate.run(lambda: self._client.get(PREFIX + key))
        return float(raw) if raw is not None else 0.0

    async def close(self) -> None:
        await self._client.aclose(close_connection_pool=True)
